"""Vector cubes (aggregate_spatial's per-geometry values, xvec) as JSON, GeoJSON, CSV and
netCDF (CF discrete sampling geometries, xvec's `encode_cf`).

Geometries always leave in WGS 84 longitude/latitude, as GeoJSON requires; the values are
the cube's (no-data as null or empty cells).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely
import xarray as xr
import xvec  # noqa: F401  (registers the .xvec accessor)

from core.errors import FormatUnsupported


def geometry_dim(data: Any) -> str | None:
    """The name of the geometry dimension of a vector cube, or None for anything else."""
    if not isinstance(data, xr.DataArray):
        return None
    dims = [d for d in data.xvec.geom_coords if d in data.dims]
    return dims[0] if dims else None


def _lonlat(data: xr.DataArray, dim: str) -> xr.DataArray:
    """The cube with its geometries in EPSG:4326 (their CRS set from the cube's if unset)."""
    crs = getattr(data.xindexes[dim], "crs", None) or data.attrs.get("crs")
    if crs is None:
        return data
    data = data.xvec.set_crs({dim: pyproj.CRS.from_user_input(crs)}, allow_override=True)
    return data.xvec.to_crs({dim: 4326})


def vector(data: Any, fmt: str) -> tuple[xr.DataArray, str]:
    dim = geometry_dim(data)
    if dim is None:
        raise FormatUnsupported(
            f"{fmt} holds vector cubes (from aggregate_spatial); save "
            "raster cubes as GTiff or netCDF, other values as JSON."
        )
    cube = data.compute()
    cube = cube.drop_vars([c for c in cube.coords if c not in cube.dims])
    return _lonlat(cube, dim), dim


def _label(value: Any) -> str:
    if isinstance(value, np.datetime64 | pd.Timestamp):
        return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _plain(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _columns(cube: xr.DataArray, dim: str) -> tuple[list[str], np.ndarray]:
    """Per geometry, one value per combination of the other labels ('2022-06-03T10:10:55Z B04')."""
    others = [d for d in cube.dims if d != dim]
    cube = cube.transpose(dim, *others)
    if not others:
        return [str(cube.name or "value")], cube.values.reshape(cube.sizes[dim], 1)
    index = pd.MultiIndex.from_product([cube[d].values for d in others])
    names = [" ".join(_label(v) for v in (k if isinstance(k, tuple) else (k,))) for k in index]
    return names, cube.values.reshape(cube.sizes[dim], len(names))


def write_geojson(data: Any, path: Path, options: dict[str, Any]) -> None:
    """A FeatureCollection: one feature per geometry, one property per date and band."""
    cube, dim = vector(data, "GeoJSON")
    names, values = _columns(cube, dim)
    features = [
        {
            "type": "Feature",
            "id": i,
            "geometry": shapely.geometry.mapping(geom),
            "properties": {n: _plain(v) for n, v in zip(names, row, strict=True)},
        }
        for i, (geom, row) in enumerate(zip(cube[dim].values, values, strict=True))
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def write_csv(data: Any, path: Path, options: dict[str, Any]) -> None:
    """One row per geometry and date: feature_index, date, then a column per band."""
    cube, dim = vector(data, "CSV")
    times = [d for d in cube.dims if d != dim and np.issubdtype(cube[d].dtype, np.datetime64)]
    keys = [dim, *times]
    rest = [d for d in cube.dims if d not in keys]
    cube = cube.transpose(*keys, *rest)
    frame = cube.to_dataframe(name="value").reset_index()
    if rest:
        frame["column"] = frame[rest].astype(str).agg(" ".join, axis=1)
        frame = frame.pivot_table(
            index=keys, columns="column", values="value", sort=False, dropna=False
        ).reset_index()
        frame.columns.name = None
    order = {g: i for i, g in enumerate(cube[dim].values)}
    frame.insert(0, "feature_index", frame.pop(dim).map(order))
    for t in times:
        frame[t] = pd.to_datetime(frame[t]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)


def write_vector_netcdf(data: xr.DataArray, path: Path) -> None:
    """CF-1.8 discrete sampling geometries: the geometries encoded by xvec."""
    cube, dim = vector(data, "netCDF")
    ds = (
        cube.to_dataset(dim="bands")
        if "bands" in cube.dims
        else cube.to_dataset(name=str(cube.name or "data"))
    )
    ds = ds.assign_coords(
        {d: [str(b) for b in ds[d].values] for d in ds.dims if d != dim and ds[d].dtype == object}
    )
    encoded = ds.xvec.encode_cf()
    for var in encoded.data_vars:
        encoded[var].attrs.pop("crs", None)
    encoded.attrs = {
        "Conventions": "CF-1.8",
        "institution": "cropcube openEO backend",
        "source": "cropcube",
    }
    encoded.to_netcdf(path, engine="netcdf4")


def json_value(cube: xr.DataArray, plain: Any) -> dict[str, Any]:
    """The JSON form of a vector cube: dims, coords (geometries as GeoJSON), data."""
    cube, _ = vector(cube, "JSON")
    return {
        "dims": list(cube.dims),
        "crs": "EPSG:4326",
        "coords": {d: plain(cube[d].values) for d in cube.dims},
        "data": plain(cube.values),
    }
