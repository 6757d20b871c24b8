"""The output formats: what GET /file_formats lists, each with the function that writes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formats import vector
from formats.cube import DTYPES
from formats.gtiff import write_gtiff
from formats.json_value import write_json
from formats.netcdf import write_netcdf
from formats.png import write_png


@dataclass(frozen=True)
class OutputFormat:
    """One entry of GET /file_formats with the function that writes it."""

    name: str
    title: str
    media_type: str
    extension: str
    gis_data_types: list[str]
    parameters: dict[str, Any]
    writer: Callable[[Any, Path, dict[str, Any]], None]
    aliases: tuple[str, ...] = field(default=())

    def describe(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "gis_data_types": self.gis_data_types,
            "parameters": self.parameters,
        }


FORMATS: list[OutputFormat] = [
    OutputFormat(
        "GTiff",
        "GeoTIFF (Cloud Optimized)",
        "image/tiff; application=geotiff",
        "tif",
        ["raster"],
        {
            "datatype": {
                "type": "string",
                "enum": DTYPES,
                "description": "Cast the data to this type (default: float32 for "
                "floating-point data).",
            },
            "compression": {
                "type": "string",
                "enum": ["deflate", "lzw", "zstd", "none"],
                "default": "deflate",
                "description": "Compression of the tiles.",
            },
        },
        write_gtiff,
        ("gtiff", "geotiff", "tiff", "tif", "cog"),
    ),
    OutputFormat(
        "netCDF",
        "netCDF (CF-1.8; vector cubes as discrete sampling geometries)",
        "application/x-netcdf",
        "nc",
        ["raster", "vector"],
        {
            "datatype": {
                "type": "string",
                "enum": DTYPES,
                "description": "Cast the data to this type.",
            }
        },
        write_netcdf,
        ("netcdf", "nc", "netcdf4"),
    ),
    OutputFormat(
        "PNG",
        "PNG picture (class maps with a legend)",
        "image/png",
        "png",
        ["raster"],
        {},
        write_png,
        ("png",),
    ),
    OutputFormat(
        "GeoJSON",
        "GeoJSON (vector cubes: a feature per geometry, a property per date and band)",
        "application/geo+json",
        "geojson",
        ["vector"],
        {},
        vector.write_geojson,
        ("geojson",),
    ),
    OutputFormat(
        "CSV",
        "CSV (vector cubes: a row per geometry and date, a column per band)",
        "text/csv",
        "csv",
        ["vector", "table"],
        {},
        vector.write_csv,
        ("csv",),
    ),
    OutputFormat(
        "JSON",
        "JSON",
        "application/json",
        "json",
        ["raster", "vector", "table", "other"],
        {},
        write_json,
        ("json",),
    ),
]


def lookup(name: str) -> OutputFormat | None:
    """A format by its name or an alias, case-insensitively."""
    if not isinstance(name, str):
        return None
    key = name.lower()
    return next((f for f in FORMATS if key == f.name.lower() or key in f.aliases), None)
