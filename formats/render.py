"""Pictures of raster results, drawn by rio-tiler: Web Mercator map tiles (XYZ services)
and quick looks (job thumbnails). Class maps show their class colours; continuous bands
are stretched between the minimum and maximum of their statistics (so every tile of a
layer shares one stretch); no-data is transparent. Reading goes through the COG's
overviews, or, for a cube, through dask, only for the pixels a tile covers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import numpy as np
import rasterio
import xarray as xr
from PIL import Image
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader, XarrayReader
from rio_tiler.models import ImageData

from formats.cube import band_classes
from formats.png import hex_rgb
from formats.statistics import from_gdal_tags

TILE_SIZE = 256
RGB = ("B04", "B03", "B02")


@dataclass(frozen=True)
class Style:
    """How values become colours: a class colour table, or a linear stretch."""

    colormap: dict[int, tuple[int, int, int, int]] | None = None
    rescale: tuple[float, float] | None = None

    @classmethod
    def of_classes(cls, classes: list[dict[str, Any]]) -> Style:
        return cls(
            colormap={
                int(c["value"]): (*hex_rgb(c.get("color_hint", "808080")), 255) for c in classes
            }
        )

    @classmethod
    def stretch(cls, low: float, high: float) -> Style:
        return cls(rescale=(float(low), float(high) if high > low else float(low) + 1e-6))


@dataclass(frozen=True)
class Layer:
    """What a file shows: the bands (one, or three for RGB) and their style."""

    bands: tuple[int, ...]
    style: Style


def _stretch_of(src: Any, bands: tuple[int, ...]) -> Style:
    figures = [from_gdal_tags(src.tags(b)) for b in bands]
    known = [f for f in figures if f is not None]
    if not known:
        return Style.stretch(0.0, 1.0)
    return Style.stretch(min(f["minimum"] for f in known), max(f["maximum"] for f in known))


def _rgb_bands(descriptions: tuple[str | None, ...]) -> tuple[int, ...] | None:
    """Bands 1-based of B04, B03, B02 (of the first date when there are several)."""
    names = [d or "" for d in descriptions]
    for prefix in dict.fromkeys(n.rsplit(" ", 1)[0] if " " in n else "" for n in names):
        wanted = [f"{prefix} {b}".strip() for b in RGB]
        if all(w in names for w in wanted):
            return tuple(names.index(w) + 1 for w in wanted)
    return None


def file_layer(path: Path) -> Layer:
    """The layer a result file shows: its class band in class colours, else true colour
    when it holds B04, B03 and B02, else its first band."""
    with rasterio.open(path) as src:
        for band in range(1, src.count + 1):
            try:
                table = src.colormap(band)
            except ValueError:  # no colour table on this band
                continue
            return Layer((band,), Style(colormap={int(k): tuple(v) for k, v in table.items()}))
        bands = _rgb_bands(src.descriptions) or (1,)
        return Layer(bands, _stretch_of(src, bands))


def _png(img: ImageData, style: Style) -> bytes:
    if style.colormap is not None:
        img.array = np.ma.MaskedArray(
            np.clip(img.array.filled(0), 0, 255).astype(np.uint8), mask=img.array.mask
        )
        return img.render(img_format="PNG", colormap=style.colormap)
    assert style.rescale is not None
    return img.rescale(in_range=(style.rescale,)).render(img_format="PNG")


def empty_tile(size: int = TILE_SIZE) -> bytes:
    """A fully transparent tile: what a map shows outside the data."""
    out = io.BytesIO()
    Image.new("RGBA", (size, size), (0, 0, 0, 0)).save(out, "PNG")
    return out.getvalue()


def file_tile(path: Path, layer: Layer, x: int, y: int, z: int) -> bytes:
    """Tile z/x/y of a COG; transparent outside it."""
    with Reader(str(path)) as src:
        try:
            img = src.tile(x, y, z, tilesize=TILE_SIZE, indexes=layer.bands)
        except TileOutsideBounds:
            return empty_tile()
    return _png(img, layer.style)


def file_quicklook(path: Path, max_size: int = 512, min_size: int = 256) -> bytes:
    """A PNG quick look of a COG at most max_size pixels wide or high, read from its
    overviews; a small result is enlarged (nearest, by a whole factor) to at least min_size,
    so that viewers which show it at its own size show more than a speck."""
    layer = file_layer(path)
    with Reader(str(path)) as src:
        long_side = max(src.width, src.height)
        if long_side < min_size:
            factor = -(-min_size // long_side)
            size = {"width": src.width * factor, "height": src.height * factor}
            img = src.preview(indexes=layer.bands, max_size=None, **size)
        else:
            img = src.preview(indexes=layer.bands, max_size=max_size)
    return _png(img, layer.style)


def cube_layer(cube: xr.DataArray) -> xr.DataArray:
    """The 2-D layer of a cube a map shows: its first time step, its class band or first
    band, with the cube's CRS and no-data."""
    layer = cube
    if "t" in layer.dims:
        layer = layer.isel(t=0)
    if "bands" in layer.dims:
        labels = [str(b) for b in layer["bands"].values]
        band = labels.index("class") if "class" in labels else 0
        layer = layer.isel(bands=band)
        classes = band_classes(labels[band], layer.attrs.get("classification:classes"))
        layer.attrs = {k: v for k, v in layer.attrs.items() if k != "classification:classes"}
        if classes:
            layer.attrs["classification:classes"] = classes
    layer = layer.drop_vars([c for c in layer.coords if c not in ("x", "y", "spatial_ref")])
    layer = layer.transpose("y", "x").rio.write_crs(cube.rio.crs or cube.attrs.get("crs"))
    floating = np.issubdtype(layer.dtype, np.floating)
    return layer.rio.write_nodata(np.nan if floating else 255)


def cube_style(layer: xr.DataArray) -> Style:
    """Class colours when the cube carries classes, else a stretch over the layer's range
    (computed once, when the service's first tile is drawn)."""
    classes = layer.attrs.get("classification:classes")
    if classes:
        return Style.of_classes(classes)
    low, high = (float(v) for v in dask.compute(np.nanmin(layer.data), np.nanmax(layer.data)))
    return Style.stretch(low, high) if np.isfinite(low) else Style.stretch(0.0, 1.0)


def cube_tile(layer: xr.DataArray, style: Style, x: int, y: int, z: int) -> bytes:
    """Tile z/x/y of a (lazy) 2-D layer; only the pixels under the tile are computed."""
    with XarrayReader(layer) as src:
        try:
            img = src.tile(x, y, z, tilesize=TILE_SIZE)
        except TileOutsideBounds:
            return empty_tile()
    return _png(img, style)
