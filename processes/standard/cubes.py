"""Cube processes whose upstream code lacks a parameter of the official spec or fails
without an openEO error: aggregate_spatial, aggregate_temporal, aggregate_temporal_period,
filter_bands, apply_dimension."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely.geometry
import xarray as xr
import xvec  # noqa: F401  (the .xvec accessor)
from openeo_processes_dask.process_implementations.cubes import _filter
from openeo_processes_dask.process_implementations.cubes import aggregate as upstream
from openeo_processes_dask.process_implementations.cubes.apply import (
    apply_dimension as upstream_apply_dimension,
)
from openeo_processes_dask.process_implementations.exceptions import (
    DimensionNotAvailable,
    TooManyDimensions,
)

from core.errors import ProcessParameterInvalid
from processes.context import current


def _with_context(reducer: Callable[..., Any], context: Any) -> Callable[..., Any]:
    """The reducer with the parent's context as its `context` parameter."""
    if context is None:
        return reducer

    def reduce(*args: Any, **kwargs: Any) -> Any:
        return reducer(*args, **{**kwargs, "context": context})

    return reduce


def _zonal_stats(data: Any, geojson: dict, reducer: Callable[..., Any]) -> Any:
    """xvec's zonal statistics over GeoJSON (WGS 84) in one process: xvec's default, a joblib
    worker process per core, takes minutes to start inside a job's process, and dask
    parallelises the reductions anyway."""
    if geojson.get("type") == "FeatureCollection":
        frame = gpd.GeoDataFrame.from_features(geojson, crs="EPSG:4326")
    elif geojson.get("type") == "Feature":
        frame = gpd.GeoDataFrame.from_features([geojson], crs="EPSG:4326")
    else:
        frame = gpd.GeoDataFrame(geometry=[shapely.geometry.shape(geojson)], crs="EPSG:4326")
    frame = frame.to_crs(data.rio.crs)
    return data.xvec.zonal_stats(
        list(frame.geometry.values),
        x_coords=data.openeo.x_dim,
        y_coords=data.openeo.y_dim,
        method="iterate",
        stats=reducer,
        n_jobs=1,
        positional_parameters={"data": 0},
    )


def aggregate_spatial(
    data: Any,
    geometries: Any,
    reducer: Callable[..., Any],
    target_dimension: str | None = None,
    context: Any = None,
) -> Any:
    """Per-geometry statistics (xvec zonal stats upstream) as a vector cube."""
    if isinstance(geometries, str):  # upstream would fetch it itself, past the URL policy
        raise ProcessParameterInvalid(
            process="aggregate_spatial",
            parameter="geometries",
            reason="give GeoJSON or a vector cube; for a URL use load_url(url, 'GeoJSON')",
        )
    reducer = _with_context(reducer, context)
    if isinstance(geometries, dict):
        cube = _zonal_stats(data, geometries, reducer)
    else:  # a vector cube
        cube = upstream.aggregate_spatial(data, geometries, reducer)
    if target_dimension and "geometry" in cube.dims and target_dimension != "geometry":
        cube = cube.rename({"geometry": target_dimension})
    return cube


def _bound(value: Any) -> np.datetime64 | None:
    value = getattr(value, "root", value)
    if value is None:
        return None
    stamp = pd.Timestamp(str(value))
    return np.datetime64(stamp.tz_convert(None) if stamp.tzinfo else stamp, "ns")


def _temporal_dim(data: Any, dimension: str | None) -> str:
    if dimension is not None:
        if dimension not in data.dims:
            raise DimensionNotAvailable(f"The cube has no dimension '{dimension}'.")
        return dimension
    found = (
        [d for d in data.dims if np.issubdtype(data[d].dtype, np.datetime64)]
        if hasattr(data, "dims")
        else []
    )
    if not found:
        raise DimensionNotAvailable("The cube has no temporal dimension.")
    if len(found) > 1:
        raise TooManyDimensions(
            f"The cube has several temporal dimensions ({', '.join(found)}); "
            "name one in `dimension`."
        )
    return found[0]


def aggregate_temporal(
    data: Any,
    intervals: Any,
    reducer: Callable[..., Any],
    labels: list | None = None,
    dimension: str | None = None,
    context: Any = None,
) -> Any:
    """One reduction per interval [start, end), in the order given: intervals may overlap or
    be unsorted, and one without data is no-data (upstream bins the time axis, so neither
    works there)."""
    t = _temporal_dim(data, dimension)
    spans = [(_bound(i[0]), _bound(i[1])) for i in intervals]
    if labels and len(labels) != len(spans):
        raise ProcessParameterInvalid(
            process="aggregate_temporal",
            parameter="labels",
            reason=f"{len(labels)} labels for {len(spans)} intervals",
        )
    stamps = data[t].values
    reduce = _with_context(reducer, context)
    template = xr.full_like(data.isel({t: 0}, drop=True), np.nan, dtype=np.float64)
    layers = []
    for start, end in spans:
        inside = np.ones(len(stamps), bool)
        if start is not None:
            inside &= stamps >= start
        if end is not None:
            inside &= stamps < end
        if inside.any():
            part = data.isel({t: np.flatnonzero(inside)})
            layers.append(
                part.reduce(reduce, dim=t, keep_attrs=True, positional_parameters={"data": 0})
            )
        else:
            layers.append(template)
    names = list(labels) if labels else [s if s is not None else e for s, e in spans]
    out = xr.concat(layers, dim=t, coords="minimal", compat="override", join="override")
    out = out.assign_coords({t: names}).transpose(*data.dims)
    out.attrs = data.attrs
    return out


def aggregate_temporal_period(
    data: Any,
    reducer: Callable[..., Any],
    period: str,
    dimension: str | None = None,
    context: Any = None,
) -> Any:
    """Upstream's, with the context handed to the reducer."""
    return upstream.aggregate_temporal_period(
        data, _with_context(reducer, context), period, dimension
    )


def filter_bands(
    data: Any, bands: list[str] | None = None, wavelengths: list[list[float]] | None = None
) -> Any:
    """Bands by name, or by wavelength ranges (micrometres) of the collections' eo:bands."""
    names = list(bands or [])
    if wavelengths:
        present = [str(b) for b in data["bands"].values] if "bands" in data.dims else []
        known = {
            b["name"]: b.get("center_wavelength")
            for coll in current.get().catalog.ids()
            for b in current.get().catalog.get(coll).bands
        }
        names += [
            b
            for b in present
            if b not in names
            and (wavelength := known.get(b)) is not None
            and any(lo <= wavelength <= hi for lo, hi in wavelengths)
        ]
    if not names:
        raise ProcessParameterInvalid(
            process="filter_bands",
            parameter="bands",
            reason="no band matches the bands and wavelengths given",
        )
    return _filter.filter_bands(data, names)


def apply_dimension(
    data: Any,
    process: Callable[..., Any],
    dimension: str,
    target_dimension: str | None = None,
    context: Any = None,
) -> Any:
    """Upstream's, with the spec's rule on an existing target dimension checked first (the
    values go into it only where it holds a single label), and the source labels kept where
    the values stay in that dimension and are as many (upstream compares, not assigns); the
    callback gets the labels, so `array_element(label=...)` works in it."""
    if (
        target_dimension
        and target_dimension != dimension
        and hasattr(data, "dims")
        and target_dimension in data.dims
        and data.sizes[target_dimension] > 1
    ):
        raise ProcessParameterInvalid(
            process="apply_dimension",
            parameter="target_dimension",
            reason=f"the cube already has a dimension '{target_dimension}' with "
            f"{data.sizes[target_dimension]} labels; name a new dimension, or reduce "
            "or filter that one to a single label first",
        )
    # a list, as upstream's array processes test `if dim_labels:` (dates as numbers)
    labels = data[dimension].values.tolist() if dimension in getattr(data, "dims", ()) else None

    def with_labels(*args: Any, **keywords: Any) -> Any:  # as reduce_dimension passes them
        return process(*args, dim_labels=labels, **keywords)

    result = upstream_apply_dimension(data, with_labels, dimension, target_dimension, context)
    if (
        target_dimension in (None, dimension)
        and dimension in getattr(result, "dims", ())
        and result.sizes[dimension] == data.sizes[dimension]
    ):
        result = result.assign_coords({dimension: data[dimension].values})
    return result


IMPLEMENTATIONS = {
    "aggregate_spatial": aggregate_spatial,
    "apply_dimension": apply_dimension,
    "aggregate_temporal": aggregate_temporal,
    "aggregate_temporal_period": aggregate_temporal_period,
    "filter_bands": filter_bands,
}
