"""STAC asset metadata of result files: media type, size, checksum, projection, raster bands."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rioxarray  # noqa: F401 - the .rio accessor
import xarray as xr
from pyproj import Transformer

import formats
from formats.statistics import from_gdal_tags
from processes import model_files


def _multihash_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "1220" + digest.hexdigest()  # multihash: sha2-256, 32 bytes


def _classes(src: Any, band: int) -> list[dict[str, Any]]:
    """STAC classification:classes from the CLASS_<id> tags and the colour table (or the
    CLASS_<id>_COLOR tags) of a band."""
    tags = src.tags(band)
    found = sorted(
        (int(k[6:]), v) for k, v in tags.items() if k.startswith("CLASS_") and k[6:].isdigit()
    )
    try:
        colours = src.colormap(band)
    except ValueError:  # no colour table
        colours = {}
    hints = {
        value: "{:02X}{:02X}{:02X}".format(*colours[value][:3])
        if value in colours
        else tags.get(f"CLASS_{value}_COLOR")
        for value, _ in found
    }
    return [
        {"value": value, "name": name, **({"color_hint": hints[value]} if hints[value] else {})}
        for value, name in found
    ]


def _raster_fields(path: Path) -> tuple[dict[str, Any], list[float] | None]:
    with rasterio.open(path) as src:
        fields: dict[str, Any] = {
            "proj:shape": [src.height, src.width],
            "proj:transform": list(src.transform)[:6],
            "proj:bbox": list(src.bounds),
        }
        epsg = src.crs.to_epsg() if src.crs else None
        if epsg:
            fields["proj:epsg"] = epsg
        bands = []
        for i, desc in enumerate(src.descriptions, start=1):
            band: dict[str, Any] = {"data_type": src.dtypes[i - 1]}
            if src.nodata is not None:
                band["nodata"] = "nan" if np.isnan(src.nodata) else src.nodata
            if desc:
                band["name"] = desc
            statistics = from_gdal_tags(src.tags(i))
            if statistics:
                band["statistics"] = statistics
            classes = _classes(src, i)
            if classes:
                band["classification:classes"] = classes
            bands.append(band)
        fields["raster:bands"] = bands
        bbox = _lonlat_bbox(src.crs, tuple(src.bounds)) if src.crs else None
    return fields, bbox


def _lonlat_bbox(crs: Any, bounds: tuple[float, float, float, float]) -> list[float]:
    left, bottom, right, top = bounds
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(
        [left, right, left, right], [bottom, bottom, top, top]
    )
    return [min(lon), min(lat), max(lon), max(lat)]


def _netcdf_fields(path: Path) -> tuple[dict[str, Any], list[float] | None]:
    """The grid of a netCDF result (its CF grid mapping), read from its coordinates only."""
    with xr.open_dataset(path, decode_times=False, decode_coords="all") as ds:
        grids = [v for v in ds.data_vars.values() if {"x", "y"} <= set(v.dims)]
        if not grids or ds.rio.crs is None:
            return {}, None
        grid = grids[0].rio.write_crs(ds.rio.crs)
        fields: dict[str, Any] = {
            "proj:shape": [grid.sizes["y"], grid.sizes["x"]],
            "proj:bbox": list(grid.rio.bounds()),
        }
        epsg = grid.rio.crs.to_epsg()
        if epsg:
            fields["proj:epsg"] = epsg
        return fields, _lonlat_bbox(grid.rio.crs, grid.rio.bounds())


def media_type(path: Path) -> str:
    """The media type of a result file, the same in synchronous and batch results."""
    if path.suffix == ".pt":
        return model_files.MEDIA_TYPE
    fmt = next((f for f in formats.FORMATS if f.extension == path.suffix.lstrip(".")), None)
    return fmt.media_type if fmt else "application/octet-stream"


def describe(path: Path) -> tuple[dict[str, Any], list[float] | None]:
    """The asset's STAC fields (without href) and its lon/lat bbox when it is a raster
    (GeoTIFF or netCDF)."""
    asset: dict[str, Any] = {
        "title": path.name,
        "type": media_type(path),
        "roles": ["data"],
        "file:size": path.stat().st_size,
        "file:checksum": _multihash_sha256(path),
    }
    bbox = None
    if path.suffix == ".tif":
        fields, bbox = _raster_fields(path)
        asset.update(fields)
    if path.suffix == ".nc":
        fields, bbox = _netcdf_fields(path)
        asset.update(fields)
    if path.suffix == ".pt":
        asset.update(model_files.stac_fields(model_files.load(path)))
    return asset, bbox
