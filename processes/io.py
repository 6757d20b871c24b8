"""load_collection, load_url and save_result: the input and output processes that
openeo-processes-dask leaves to backends."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from backend import formats
from backend.errors import FormatUnsupported, ProcessParameterInvalid
from backend.safe_urls import UrlRefused, fetch
from processes.context import SaveRequest, current


def _property_filter(props: dict[str, Any]) -> Callable[[dict], bool]:
    """A predicate on STAC item properties from load_collection's `properties` callbacks."""

    def keep(item_props: dict[str, Any]) -> bool:
        return all(name in item_props and bool(cond(named_parameters={"value": item_props[name]}))
                   for name, cond in props.items())

    return keep


def load_collection(id: str, spatial_extent: Any = None, temporal_extent: Any = None,
                    bands: list[str] | None = None, properties: Any = None, **_: Any):
    """Lazy Sentinel-2 (or label) cube from the catalog; see backend.catalog.Catalog.load."""
    ctx = current.get()
    keep = _property_filter(properties) if isinstance(properties, dict) and properties else None
    cube = ctx.catalog.load(id, spatial_extent, temporal_extent, bands, keep,
                            max_values=ctx.max_values)
    if "t" in cube.dims:
        ctx.loaded_times.append(cube["t"].values)
    return cube


GEOJSON_TYPES = {"FeatureCollection", "Feature", "Polygon", "MultiPolygon", "GeometryCollection",
                 "Point", "MultiPoint", "LineString", "MultiLineString"}


def load_url(url: str, format: str, options: dict[str, Any] | None = None, **_: Any) -> Any:
    """GeoJSON from a URL (for aggregate_spatial, mask_polygon, filter_spatial), fetched
    under the server's URL policy."""
    if str(format).lower() != "geojson":
        raise FormatUnsupported(f"load_url reads GeoJSON; '{format}' is not offered.")
    try:
        doc = json.loads(fetch(url, current.get().url_policy).content)
    except (UrlRefused, ValueError) as exc:
        reason = str(exc) if isinstance(exc, UrlRefused) else "the URL holds no JSON"
        raise ProcessParameterInvalid(process="load_url", parameter="url",
                                      reason=reason) from None
    if not isinstance(doc, dict) or doc.get("type") not in GEOJSON_TYPES:
        raise ProcessParameterInvalid(process="load_url", parameter="url",
                                      reason="the document is not GeoJSON")
    return doc


def save_result(data: Any, format: str, options: dict[str, Any] | None = None, **_: Any) -> bool:
    """Record the data to write in `format`; the executor writes it once the graph has run."""
    fmt = formats.lookup(format)
    if fmt is None:
        raise FormatUnsupported(format=format)
    current.get().saved.append(SaveRequest(data, fmt.name, dict(options or {})))
    return True
