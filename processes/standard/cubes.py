"""Cube processes whose upstream code lacks a parameter of the official spec, fetches URLs
on its own or fails without an openEO error: aggregate_spatial, aggregate_temporal_period,
filter_bands, apply_dimension."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from openeo_processes_dask.process_implementations.cubes import _filter
from openeo_processes_dask.process_implementations.cubes import aggregate as upstream
from openeo_processes_dask.process_implementations.cubes.apply import (
    apply_dimension as upstream_apply_dimension,
)

from backend.errors import ProcessParameterInvalid
from backend.safe_urls import UrlRefused, fetch
from processes.context import current


def _with_context(reducer: Callable[..., Any], context: Any) -> Callable[..., Any]:
    """The reducer with the parent's context as its `context` parameter."""
    if context is None:
        return reducer

    def reduce(*args: Any, **kwargs: Any) -> Any:
        return reducer(*args, **{**kwargs, "context": context})

    return reduce


def _geometries(geometries: Any) -> Any:
    """GeoJSON as given, or fetched from its URL under the server's URL policy."""
    if not isinstance(geometries, str):
        return geometries
    try:
        return json.loads(fetch(geometries, current.get().url_policy).content)
    except (UrlRefused, ValueError) as exc:
        reason = str(exc) if isinstance(exc, UrlRefused) else "the URL holds no GeoJSON"
        raise ProcessParameterInvalid(process="aggregate_spatial", parameter="geometries",
                                      reason=reason) from None


def aggregate_spatial(data: Any, geometries: Any, reducer: Callable[..., Any],
                      target_dimension: str | None = None, context: Any = None) -> Any:
    """Per-geometry statistics (xvec zonal stats upstream) as a vector cube."""
    cube = upstream.aggregate_spatial(data, _geometries(geometries),
                                      _with_context(reducer, context))
    if target_dimension and "geometry" in cube.dims and target_dimension != "geometry":
        cube = cube.rename({"geometry": target_dimension})
    return cube


def aggregate_temporal_period(data: Any, reducer: Callable[..., Any], period: str,
                              dimension: str | None = None, context: Any = None) -> Any:
    """Upstream's, with the context handed to the reducer."""
    return upstream.aggregate_temporal_period(data, _with_context(reducer, context), period,
                                              dimension)


def filter_bands(data: Any, bands: list[str] | None = None,
                 wavelengths: list[list[float]] | None = None) -> Any:
    """Bands by name, or by wavelength ranges (micrometres) of the collections' eo:bands."""
    names = list(bands or [])
    if wavelengths:
        present = [str(b) for b in data["bands"].values] if "bands" in data.dims else []
        known = {b["name"]: b.get("center_wavelength")
                 for coll in current.get().catalog.ids()
                 for b in current.get().catalog.get(coll).bands}
        names += [b for b in present if b not in names and known.get(b) is not None
                  and any(lo <= known[b] <= hi for lo, hi in wavelengths)]
    if not names:
        raise ProcessParameterInvalid(process="filter_bands", parameter="bands",
                                      reason="no band matches the bands and wavelengths given")
    return _filter.filter_bands(data, names)


def apply_dimension(data: Any, process: Callable[..., Any], dimension: str,
                    target_dimension: str | None = None, context: Any = None) -> Any:
    """Upstream's, with the spec's rule on an existing target dimension checked first: the
    values go into it only where it holds a single label."""
    if target_dimension and target_dimension != dimension and hasattr(data, "dims") and \
            target_dimension in data.dims and data.sizes[target_dimension] > 1:
        raise ProcessParameterInvalid(
            process="apply_dimension", parameter="target_dimension",
            reason=f"the cube already has a dimension '{target_dimension}' with "
                   f"{data.sizes[target_dimension]} labels; name a new dimension, or reduce "
                   "or filter that one to a single label first")
    return upstream_apply_dimension(data, process, dimension, target_dimension, context)


IMPLEMENTATIONS = {"aggregate_spatial": aggregate_spatial, "apply_dimension": apply_dimension,
                   "aggregate_temporal_period": aggregate_temporal_period,
                   "filter_bands": filter_bands}
