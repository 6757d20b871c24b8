"""PNG output for people who would rather look than read: class maps with a legend, or a
stretched greyscale (one band) or RGB (three bands) picture. Pillow draws it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from PIL import Image, ImageDraw, ImageFont

from core.errors import FormatUnsupported

MAX_PIXELS = 8192 * 8192  # a PNG is computed whole: bigger rasters go to GTiff
LEGEND_ROW = 18


def _single_time(da: xr.DataArray) -> xr.DataArray:
    if "t" in da.dims:
        if da.sizes["t"] != 1:
            raise FormatUnsupported(
                "PNG shows one picture: reduce or filter the time "
                f"dimension ({da.sizes['t']} steps) first, or use GTiff."
            )
        da = da.isel(t=0)
    return da


def _stretch(values: np.ndarray) -> np.ndarray:
    """2-98 % percentile stretch per band to 0-255; no-data transparent."""
    finite = np.isfinite(values)
    out = np.zeros(values.shape, np.uint8)
    if finite.any():
        lo, hi = np.percentile(values[finite], [2, 98])
        scaled = (values - lo) / max(hi - lo, 1e-12) * 255
        out[finite] = np.clip(scaled[finite], 0, 255).astype(np.uint8)
    return out


def hex_rgb(hint: str) -> tuple[int, int, int]:
    """'F5C518' -> (245, 197, 24): STAC color_hint to RGB."""
    return int(hint[0:2], 16), int(hint[2:4], 16), int(hint[4:6], 16)


def _class_image(classes: np.ndarray, table: list[dict[str, Any]]) -> Image.Image:
    """A palette image of the class ids with a legend of the classes that occur."""
    rgba = np.zeros(classes.shape + (4,), np.uint8)
    present = [c for c in table if (classes == c["value"]).any()]
    for c in present:
        rgba[classes == c["value"]] = (*hex_rgb(c.get("color_hint", "808080")), 255)
    font = ImageFont.load_default()
    labels = [f"{c['value']} {c['name']}" for c in present]
    width = 24 + max((int(font.getlength(text)) for text in labels), default=0) + 12
    height = max(classes.shape[0], LEGEND_ROW * len(present) + 8)
    canvas = Image.new("RGBA", (classes.shape[1] + width, height), (255, 255, 255, 255))
    canvas.paste(Image.fromarray(rgba, "RGBA"), (0, 0))
    draw = ImageDraw.Draw(canvas)
    x0 = classes.shape[1] + 6
    for row, (c, text) in enumerate(zip(present, labels, strict=True)):
        y0 = 4 + row * LEGEND_ROW
        draw.rectangle(
            (x0, y0, x0 + 12, y0 + 12),
            fill=hex_rgb(c.get("color_hint", "808080")),
            outline=(0, 0, 0),
        )
        draw.text((x0 + 18, y0), text, fill=(0, 0, 0), font=font)
    return canvas


def _top_labels(bands: xr.DataArray, table: list[dict[str, Any]]) -> np.ndarray:
    """One class id per pixel from 0/1 label bands: where several labels hold, the later
    in the model's order shows (the sky's labels come after the ground's), so clouds lie
    over the land cover they hide; no label: none."""
    ids = {c["name"]: c["value"] for c in table}
    top = np.full((bands.sizes["y"], bands.sizes["x"]), -1, np.int64)
    for name in bands["bands"].values:
        top = np.where(bands.sel(bands=name).values == 1, ids[str(name)[6:]], top)
    return top


def write_png(data: Any, path: Path, options: dict[str, Any]) -> None:
    """Class map + legend, or a stretched picture of one (grey) or three (RGB) bands."""
    if not isinstance(data, xr.DataArray) or not {"x", "y"} <= set(data.dims):
        raise FormatUnsupported("PNG needs a raster data cube with x and y dimensions.")
    da = _single_time(data)
    if da.sizes["y"] * da.sizes["x"] > MAX_PIXELS:
        raise FormatUnsupported(
            f"PNG is for pictures up to {MAX_PIXELS:,} pixels; this raster is larger: use GTiff."
        )
    table = da.attrs.get("classification:classes")
    names = [str(b) for b in da["bands"].values] if "bands" in da.dims else []
    if table and "class" in names:
        values = da.sel(bands="class").values
        _class_image(values.astype(np.int64), table).save(path, "PNG")
        return
    labels = [n for n in names if n.startswith("label:")]
    if table and labels:
        _class_image(_top_labels(da.sel(bands=labels), table), table).save(path, "PNG")
        return
    if "bands" in da.dims and da.sizes["bands"] not in (1, 3):
        raise FormatUnsupported(
            f"PNG shows one band (grey) or three (RGB); the cube has "
            f"{da.sizes['bands']}: filter_bands first, or use GTiff."
        )
    values = da.transpose(..., "y", "x").values.astype(np.float64)
    values = values.reshape((-1,) + values.shape[-2:])
    alpha = np.where(np.isfinite(values).all(axis=0), 255, 0).astype(np.uint8)
    bands = [_stretch(v) for v in values]
    if len(bands) == 1:
        bands = bands * 3
    Image.fromarray(np.stack([*bands, alpha], axis=-1), "RGBA").save(path, "PNG")
