"""Parse openEO spatial and temporal extents, as raw JSON or as the graph parser's models."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyproj
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import transform, unary_union

from core.errors import ProcessParameterInvalid

_GEOJSON_TYPES = {"Polygon", "MultiPolygon", "Feature", "FeatureCollection", "GeometryCollection"}


def plain(value: Any) -> Any:
    """Turn pydantic models from openeo-pg-parser-networkx back into JSON values."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    return value


@dataclass(frozen=True)
class Area:
    """A region in a CRS; `polygons` tells whether pixels outside the geometry are masked."""

    geometry: BaseGeometry
    crs: pyproj.CRS
    polygons: bool = False

    def to_crs(self, crs: pyproj.CRS | int | str) -> BaseGeometry:
        tr = pyproj.Transformer.from_crs(self.crs, crs, always_xy=True)
        return transform(tr.transform, self.geometry)

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.to_crs(4326).bounds)  # type: ignore[return-value]


def _invalid(process: str, parameter: str, reason: str) -> ProcessParameterInvalid:
    return ProcessParameterInvalid(process=process, parameter=parameter, reason=reason)


def _geojson_geometry(doc: dict) -> BaseGeometry:
    kind = doc.get("type")
    if kind == "FeatureCollection":
        return unary_union([_geojson_geometry(f) for f in doc.get("features", [])])
    if kind == "Feature":
        return _geojson_geometry(doc.get("geometry") or {})
    return shape(doc)


def parse_spatial_extent(
    value: Any, process: str = "load_collection", parameter: str = "spatial_extent"
) -> Area | None:
    """A bounding box (with optional crs, default EPSG:4326) or GeoJSON polygons, or None."""
    value = plain(value)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(process, parameter, "expected a bounding box or GeoJSON object")
    if value.get("type") in _GEOJSON_TYPES:
        try:
            geom = _geojson_geometry(value)
        except Exception as exc:  # noqa: BLE001 - shapely raises many kinds
            raise _invalid(process, parameter, f"invalid GeoJSON: {exc}") from None
        if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise _invalid(process, parameter, "GeoJSON must contain polygons")
        return Area(geom, pyproj.CRS.from_epsg(4326), polygons=True)
    try:
        west, east = float(value["west"]), float(value["east"])
        south, north = float(value["south"]), float(value["north"])
    except (KeyError, TypeError, ValueError):
        raise _invalid(
            process, parameter, "a bounding box needs numeric west, east, south and north"
        ) from None
    crs_value = value.get("crs", 4326)
    try:
        crs = pyproj.CRS.from_user_input(4326 if crs_value in (None, "") else crs_value)
    except pyproj.exceptions.CRSError:
        raise _invalid(process, parameter, f"unknown crs {crs_value!r}") from None
    if west >= east:
        raise _invalid(process, parameter, f"west ({west}) must be less than east ({east})")
    if south >= north:
        raise _invalid(process, parameter, f"south ({south}) must be less than north ({north})")
    if crs.is_geographic and not (
        -180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90
    ):
        raise _invalid(process, parameter, "longitude/latitude out of range for a geographic crs")
    return Area(box(west, south, east, north), crs)


def _instant(value: Any, process: str, parameter: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        raise _invalid(process, parameter, f"cannot read {value!r} as a date or time") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def parse_temporal_extent(
    value: Any, process: str = "load_collection", parameter: str = "temporal_extent"
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end) with open ends as None; the end is exclusive as in openEO."""
    value = plain(value)
    if value is None:
        return None, None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise _invalid(process, parameter, "expected a list of two dates (either may be null)")
    start = _instant(value[0], process, parameter)
    end = _instant(value[1], process, parameter)
    if start is None and end is None:
        raise _invalid(process, parameter, "start and end cannot both be null")
    if start and end and start >= end:
        raise _invalid(process, parameter, "the start must be earlier than the end")
    return start, end
