"""load_collection, load_stac, load_url and save_result: the input and output processes
that openeo-processes-dask leaves to backends."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

import formats
from core.errors import FormatUnsupported, NoDataAvailable, ProcessParameterInvalid
from processes.context import JOB_RESULTS_URL, NotYours, SaveRequest, current
from sources.catalog import Collection
from sources.extents import parse_spatial_extent, parse_temporal_extent
from sources.result_reader import RASTER_SUFFIXES, open_result
from sources.safe_urls import UrlRefused, fetch
from sources.stac_urls import NotStac, remote_items


def _property_filter(props: dict[str, Any]) -> Callable[[dict], bool]:
    """A predicate on STAC item properties from load_collection's `properties` callbacks."""

    def keep(item_props: dict[str, Any]) -> bool:
        return all(
            name in item_props and bool(cond(named_parameters={"value": item_props[name]}))
            for name, cond in props.items()
        )

    return keep


def load_collection(
    id: str,
    spatial_extent: Any = None,
    temporal_extent: Any = None,
    bands: list[str] | None = None,
    properties: Any = None,
    **_: Any,
):
    """Lazy Sentinel-2 (or label) cube from the catalog; see sources.catalog.Catalog.load."""
    ctx = current.get()
    keep = _property_filter(properties) if isinstance(properties, dict) and properties else None
    found: list[str] = []
    cube = ctx.catalog.load(
        id, spatial_extent, temporal_extent, bands, keep, ctx.max_values, found.append
    )
    if "t" in cube.dims:
        ctx.loaded_times.append(cube["t"].values)
    ctx.log("info", f"load_collection {id}: {'; '.join([*found, describe_cube(cube)])}.")
    return cube


def describe_cube(cube: Any) -> str:
    """Its dates, bands, size, chunks and weight, as a job's log tells them."""
    sizes = dict(cube.sizes)
    parts = [f"{sizes.pop('t')} dates"] if "t" in sizes else []
    if "bands" in sizes:
        parts.append(f"{sizes.pop('bands')} bands")
    if "y" in sizes and "x" in sizes:
        parts.append(f"{sizes.pop('y')} x {sizes.pop('x')} px")
    parts += [f"{n} {dim}" for dim, n in sizes.items()]
    chunks = getattr(cube.data, "chunksize", None)
    if chunks is not None:
        parts.append("chunks " + " x ".join(str(c) for c in chunks))
    parts.append(f"{cube.nbytes / 1e6:,.0f} MB")
    return ", ".join(parts)


def load_stac(
    url: str,
    spatial_extent: Any = None,
    temporal_extent: Any = None,
    bands: list[str] | None = None,
    properties: Any = None,
    **_: Any,
):
    """A cube from a STAC item, catalog or API collection at url, read as load_collection
    reads (odc-stac, scale and offset, no-data as NaN); our own job results read locally."""
    ctx = current.get()
    own = JOB_RESULTS_URL.search(url)
    if own:
        return _own_results(own.group(1), spatial_extent, temporal_extent, bands)
    start, end = (
        parse_temporal_extent(temporal_extent, "load_stac") if temporal_extent else (None, None)
    )
    area = parse_spatial_extent(spatial_extent, "load_stac")
    bbox = area.lonlat_bounds() if area else (-180.0, -90.0, 180.0, 90.0)
    try:
        items = remote_items(url, ctx.url_policy, bbox, start, end)
    except (UrlRefused, NotStac) as exc:
        raise ProcessParameterInvalid(
            process="load_stac", parameter="url", reason=str(exc)
        ) from None
    keep = _property_filter(properties) if isinstance(properties, dict) and properties else None
    if keep is not None:
        items = [i for i in items if keep(i.properties)]
    items = Collection.matching_items(items, bands)
    if not items:
        raise NoDataAvailable(
            f"No STAC items at {url} for the requested extent, bands and filters."
        )
    coll = Collection.from_items(items, "load_stac")
    found: list[str] = []
    cube = ctx.catalog.load_items(coll, items, area, bands, None, ctx.max_values, found.append)
    ctx.loaded_times.append(cube["t"].values)
    ctx.log("info", f"load_stac {url}: {'; '.join([*found, describe_cube(cube)])}.")
    return cube


def _own_results(
    job_id: str, spatial_extent: Any, temporal_extent: Any, bands: list[str] | None
) -> Any:
    """The raster result of one of the user's finished jobs, filtered like load_collection."""
    ctx = current.get()
    try:
        if ctx.job_folder is None:
            raise NotYours(f"no job '{job_id}' of yours")
        folder = ctx.job_folder(job_id)
    except NotYours as exc:
        raise ProcessParameterInvalid(
            process="load_stac", parameter="url", reason=str(exc)
        ) from None
    files = sorted(p for p in folder.glob("result*") if p.suffix in RASTER_SUFFIXES)
    if not files:
        raise ProcessParameterInvalid(
            process="load_stac",
            parameter="url",
            reason=f"the results of job {job_id} hold no GeoTIFF or netCDF raster",
        )
    cube = open_result(files[0])
    if bands is not None:
        missing = [b for b in bands if b not in cube["bands"].values]
        if missing:
            raise ProcessParameterInvalid(
                process="load_stac",
                parameter="bands",
                reason=f"no band {missing[0]!r} in the results of job {job_id}; bands are "
                f"{', '.join(map(str, cube['bands'].values))}",
            )
        cube = cube.sel(bands=list(bands))
    if temporal_extent and "t" in cube.dims:
        start, end = parse_temporal_extent(temporal_extent, "load_stac")
        t = cube["t"].values
        keep = np.ones(len(t), bool)
        if start is not None:
            keep &= t >= np.datetime64(start.replace(tzinfo=None), "ns")
        if end is not None:
            keep &= t < np.datetime64(end.replace(tzinfo=None), "ns")
        cube = cube.isel(t=np.flatnonzero(keep))
    area = parse_spatial_extent(spatial_extent, "load_stac")
    if area is not None:
        west, south, east, north = area.to_crs(cube.attrs["crs"]).bounds
        cube = cube.sel(x=slice(west, east), y=slice(north, south))
    if 0 in cube.shape:
        raise NoDataAvailable(f"No data in the results of job {job_id} for the requested extent.")
    if "t" in cube.dims:
        ctx.loaded_times.append(cube["t"].values)
    return cube


GEOJSON_TYPES = {
    "FeatureCollection",
    "Feature",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
}


def load_url(url: str, format: str, options: dict[str, Any] | None = None, **_: Any) -> Any:
    """GeoJSON from a URL (for aggregate_spatial, mask_polygon, filter_spatial), fetched
    under the server's URL policy."""
    if str(format).lower() != "geojson":
        raise FormatUnsupported(f"load_url reads GeoJSON; '{format}' is not offered.")
    try:
        doc = json.loads(fetch(url, current.get().url_policy).content)
    except (UrlRefused, ValueError) as exc:
        reason = str(exc) if isinstance(exc, UrlRefused) else "the URL holds no JSON"
        raise ProcessParameterInvalid(process="load_url", parameter="url", reason=reason) from None
    if not isinstance(doc, dict) or doc.get("type") not in GEOJSON_TYPES:
        raise ProcessParameterInvalid(
            process="load_url", parameter="url", reason="the document is not GeoJSON"
        )
    return doc


def save_result(data: Any, format: str, options: dict[str, Any] | None = None, **_: Any) -> bool:
    """Record the data to write in `format`; the executor writes it once the graph has run."""
    fmt = formats.lookup(format)
    if fmt is None:
        raise FormatUnsupported(format=format)
    current.get().saved.append(SaveRequest(data, fmt.name, dict(options or {})))
    return True
