"""COG overviews sampled from the blocks as they stream, so GDAL never builds them.

GDAL's COG driver builds missing overviews by reading the whole raster back and writing
them to a temporary file before the copy; for the 120-band composite of a 1000 px year
that doubled the copy (14.2 s against 7.6 s from a source that has them, docs/
benchmarks.md). Nearest overviews are samples of the full-resolution pixels, so each block
gives its share of every level as it passes: level f takes every f-th pixel from the
first, as the COG driver's nearest overviews do, and has its side // f pixels (where the
side is no multiple of f, GDAL spreads its picks over the last pixels; we take the first
of each f). The levels go into
small GTiffs beside the scratch file and a VRT of the scratch file names them as its
overviews, which the COG driver then copies as they are.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil as rio_shutil
from rasterio.windows import Window

# The COG's tile side, which also ends its overview levels. Not the driver's 512: a tile
# of a 120-band pixel-interleaved composite is then 126 MB decoded, and the copy held
# +1.25 GB against +0.56 GB with 256 (docs/benchmarks.md); readers decode less per window.
COG_BLOCK = 256


def factors(width: int, height: int, block: int = COG_BLOCK) -> list[int]:
    """The overview factors the COG driver would make: halve (rounding down, as it does)
    while a level is larger than a tile."""
    found, f = [], 1
    while width // f > block or height // f > block:
        f *= 2
        found.append(f)
    return found


def _picks(start: int, stop: int, size: int, f: int) -> tuple[int, np.ndarray]:
    """The first pixel of level f (of `size` pixels) that [start, stop) holds and the
    offsets in it of the pixels that level samples there (every f-th from the first)."""
    first = -(-start // f)
    return first, np.arange(first * f, min(stop, size * f), f) - start


class Overviews:
    """One GTiff per overview level, filled block by block beside the scratch file."""

    def __init__(self, scratch: Path, profile: dict[str, Any]) -> None:
        self.scratch = scratch
        self.width, self.height = profile["width"], profile["height"]
        self.levels: list[tuple[int, Path, Any]] = []
        for f in factors(self.width, self.height):
            path = scratch.with_name(f"{scratch.name}.ovr{f}.tif")
            level = {
                **profile,
                "width": self.width // f,
                "height": self.height // f,
                "transform": profile["transform"] * rasterio.Affine.scale(f),
            }
            self.levels.append((f, path, rasterio.open(path, "w", **level)))

    def add(self, indexes: list[int], rows: slice, cols: slice, block: np.ndarray) -> None:
        """The samples of every level that a (bands, rows, cols) block holds."""
        for f, _, dst in self.levels:
            r0, ys = _picks(rows.start, rows.stop, dst.height, f)
            c0, xs = _picks(cols.start, cols.stop, dst.width, f)
            if ys.size and xs.size:
                part = block[:, ys[:, None], xs[None, :]]
                dst.write(part, indexes=indexes, window=Window(c0, r0, xs.size, ys.size))

    def close(self) -> None:
        for _, _, dst in self.levels:
            dst.close()

    def vrt(self) -> Path:
        """A VRT of the scratch file (all its metadata) whose bands list the levels as
        their overviews: the source for the COG copy."""
        path = self.scratch.with_name(self.scratch.name + ".vrt")
        rio_shutil.copy(self.scratch, path, driver="VRT")
        tree = ET.parse(path)
        for band in tree.getroot().iter("VRTRasterBand"):
            for _, level_path, _ in self.levels:
                overview = ET.SubElement(band, "Overview")
                source = ET.SubElement(overview, "SourceFilename", relativeToVRT="1")
                source.text = level_path.name
                ET.SubElement(overview, "SourceBand").text = band.get("band")
        tree.write(path)
        return path

    def paths(self) -> list[Path]:
        """Every file these overviews wrote (to delete with the scratch file)."""
        vrt = self.scratch.with_name(self.scratch.name + ".vrt")
        return [vrt, *(p for _, p, _ in self.levels)]
