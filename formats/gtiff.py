"""GTiff: a Cloud Optimized GeoTIFF written block by block, class names and colours kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import rasterio.shutil as rio_shutil

from core.errors import ProcessParameterInvalid
from formats.blocks import iter_blocks
from formats.cube import CLASS_NODATA, band_classes, band_label, cast, crs_of, raster_of
from formats.overviews import COG_BLOCK, Overviews
from formats.png import hex_rgb
from formats.statistics import Statistics, gdal_tags


def _write_classes(dst: Any, band: int, classes: list[dict[str, Any]]) -> None:
    """Class names and colours as band tags (CLASS_<id>=name, CLASS_<id>_COLOR=RRGGBB)
    and, for a file of one 8-bit band, a colour table: TIFF keeps a colour table for
    single-band images only, so a stack of label bands has its colours in the tags."""
    dst.update_tags(band, **{f"CLASS_{c['value']}": c["name"] for c in classes})
    dst.update_tags(
        band, **{f"CLASS_{c['value']}_COLOR": c["color_hint"] for c in classes if "color_hint" in c}
    )
    if dst.dtypes[band - 1] == "uint8" and dst.count == 1:
        dst.write_colormap(
            band, {c["value"]: hex_rgb(c.get("color_hint", "808080")) + (255,) for c in classes}
        )


# GDAL's block cache holds the tiles written until it is full; left at its default (5 % of
# RAM) it held 1.2 GB of a 2000 px composite's tiles (+1.85 GiB writing alone against
# +0.71 GiB with this cap, docs/benchmarks.md). Written tiles are never read back but by
# the COG copy, which streams.
GDAL_WRITE_OPTIONS = {"GDAL_CACHEMAX": 64 * 2**20}

# Threads compressing the scratch files: one, as the cores are busy computing the blocks,
# and GDAL's compression threads keep buffers of whole tiles per file (31 MB a tile of 120
# bands), which grew with the overview files (+0.97 against +0.70 GiB writing a 2000 px
# composite alone, docs/benchmarks.md). The COG copy compresses on every core.
SCRATCH_THREADS: int | str = 1

# Lossless horizontal differencing, then the fastest level: for 120 float32 bands of
# monthly composites at 1000 px, 8.0 s and 266 MB against 10.1 s and 321 MB with the
# default level and no predictor (docs/benchmarks.md). Every TIFF reader knows predictor 2.
_FAST_SMALL = {
    "deflate": {"predictor": "2", "level": "1"},
    "zstd": {"predictor": "2", "level": "1"},
    "lzw": {"predictor": "2"},
    "none": {},
}


def write_gtiff(data: Any, path: Path, options: dict[str, Any]) -> None:
    """A COG; every other dimension (t, bands) is laid into bands named '2022-06-01 B04'.

    Blocks are written into a tiled GTiff as they are computed, their overviews sampled
    on the way (formats.overviews), then GDAL copies both into a COG, so the raster never
    sits in memory whole and is never read back but by that copy. Band statistics are
    gathered from the same blocks and written as GDAL tags, so viewers can stretch the
    image without reading it.
    """
    da_ = cast(raster_of(data, "GTiff"), options, "GTiff")
    other = [d for d in da_.dims if d not in ("y", "x")]
    da_ = da_.transpose(*other, "y", "x")
    if other:
        index = pd.MultiIndex.from_product([da_[d].values for d in other])
        names = [
            " ".join(band_label(v) for v in (key if isinstance(key, tuple) else (key,)))
            for key in index
        ]
    else:
        names = [str(da_.name or "band")]
    layers = da_.data.reshape((len(names), da_.sizes["y"], da_.sizes["x"]))
    compress = str(options.get("compression", "deflate")).lower()
    if compress not in ("deflate", "lzw", "zstd", "none"):
        raise ProcessParameterInvalid(
            process="save_result",
            parameter="options",
            reason="compression must be deflate, lzw, zstd or none",
        )
    floating = np.issubdtype(da_.dtype, np.floating)
    table = da_.attrs.get("classification:classes")
    class_bands = {
        i: found for i, n in enumerate(names) if (found := band_classes(n, table)) is not None
    }
    nodata = np.nan if floating else (CLASS_NODATA if class_bands else None)
    profile = {
        "driver": "GTiff",
        "width": da_.sizes["x"],
        "height": da_.sizes["y"],
        "count": len(names),
        "dtype": da_.dtype.name,
        "crs": crs_of(da_),
        "transform": da_.rio.transform(recalc=True),
        "nodata": nodata,
        "tiled": True,
        "blockxsize": COG_BLOCK,
        "blockysize": COG_BLOCK,
        # The blocks land in a quickly compressed scratch file; the COG copy below
        # compresses once, properly, on every core.
        "compress": "zstd" if compress != "none" else "none",
        "zstd_level": 1,
        "num_threads": SCRATCH_THREADS,
        "BIGTIFF": "IF_SAFER",
    }
    with rasterio.Env(**GDAL_WRITE_OPTIONS):
        tmp = path.with_name(path.name + ".part.tif")
        overviews: Overviews | None = None
        try:
            with rasterio.open(tmp, "w", **profile) as dst:
                overviews = Overviews(tmp, dst, profile)
                for i, name in enumerate(names, start=1):
                    dst.set_band_description(i, name)
                dst.update_tags(PRODUCER="cropcube")
                for i, classes in class_bands.items():
                    _write_classes(dst, i + 1, classes)
                stats = Statistics(len(names), nodata)
                for (bands, rows, cols), block in iter_blocks(layers):
                    stats.add(bands.start, block)
                    overviews.add(list(range(bands.start + 1, bands.stop + 1)), rows, cols, block)
                overviews.finish()
                for i, figures in enumerate(stats.figures(), start=1):
                    if figures is not None:
                        dst.update_tags(i, **gdal_tags(figures))
            rio_shutil.copy(
                overviews.vrt(),
                path,
                driver="COG",
                compress=compress.upper(),
                **_FAST_SMALL[compress],
                blocksize=COG_BLOCK,
                num_threads="ALL_CPUS",
                BIGTIFF="IF_SAFER",
                overviews="FORCE_USE_EXISTING",
            )
        finally:
            if overviews is not None:
                overviews.close()
                for scratch in overviews.paths():
                    scratch.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
