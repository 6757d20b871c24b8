"""A COG's scratch pyramid: the raster and its overviews, written in whole tiles as the
blocks stream, so GDAL never builds the overviews nor rewrites a tile.

GDAL's COG driver builds missing overviews by reading the whole raster back and writing
them to a temporary file before the copy; for the 120-band composite of a 1000 px year
that doubled the copy (14.2 s against 7.6 s from a source that has them, docs/
benchmarks.md). Nearest overviews are samples of the full-resolution pixels, so each block
gives its share of every level as it passes: level f takes every f-th pixel from the
first, as the COG driver's nearest overviews do, and has its side // f pixels (where the
side is no multiple of f, GDAL spreads its picks over the last pixels; we take the first
of each f). The levels go into small GTiffs beside the scratch file and a VRT of the
scratch file names them as its overviews, which the COG driver then copies as they are.

A block gives a level only part of a tile (a quarter of one at factor 2), and blocks need
not fall on the tiles; a compressed tile written in parts can be compressed and stored once
per part if GDAL's block cache, busy with the readers' tiles, lets it go in between. So
parts are gathered here and each tile is written once, whole; the writer's Z order keeps
few tiles open at a time.
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


class _Level:
    """One raster of the pyramid (f = 1: the scratch file itself), written tile by tile."""

    def __init__(self, f: int, dst: Any) -> None:
        self.f, self.dst = f, dst
        self._open: dict[tuple[int, int], list] = {}  # tile -> [values, values still due]

    def add(self, indexes: list[int], rows: slice, cols: slice, block: np.ndarray) -> None:
        """The samples of this level that a (bands, rows, cols) block holds."""
        r0, ys = _picks(rows.start, rows.stop, self.dst.height, self.f)
        c0, xs = _picks(cols.start, cols.stop, self.dst.width, self.f)
        if not ys.size or not xs.size:
            return
        part = block if self.f == 1 else block[:, ys[:, None], xs[None, :]]
        t = COG_BLOCK
        bands = np.asarray(indexes) - 1
        for ty in range(r0 // t, (r0 + ys.size - 1) // t + 1):
            for tx in range(c0 // t, (c0 + xs.size - 1) // t + 1):
                y0, x0 = ty * t, tx * t
                y1, x1 = min(y0 + t, self.dst.height), min(x0 + t, self.dst.width)
                a0, a1 = max(y0, r0), min(y1, r0 + ys.size)
                b0, b1 = max(x0, c0), min(x1, c0 + xs.size)
                piece = part[:, a0 - r0 : a1 - r0, b0 - c0 : b1 - c0]
                if len(bands) == self.dst.count and (a0, a1, b0, b1) == (y0, y1, x0, x1):
                    self.dst.write(piece, window=Window(x0, y0, x1 - x0, y1 - y0))
                    continue
                if (ty, tx) not in self._open:  # blocks never overlap: count what is due
                    tile = np.empty((self.dst.count, y1 - y0, x1 - x0), piece.dtype)
                    self._open[(ty, tx)] = [tile, tile.size]
                entry = self._open[(ty, tx)]
                entry[0][bands, a0 - y0 : a1 - y0, b0 - x0 : b1 - x0] = piece
                entry[1] -= piece.size
                if entry[1] == 0:
                    del self._open[(ty, tx)]
                    self.dst.write(entry[0], window=Window(x0, y0, x1 - x0, y1 - y0))

    def unfilled(self) -> int:
        """Tiles still waiting for parts: none once every block has passed."""
        return len(self._open)

    def close(self) -> None:
        """Close the level's file (not the scratch file's, whose writer closes it)."""
        if self.f > 1:
            self.dst.close()


class Overviews:
    """The scratch file and one GTiff per overview level beside it, filled block by block."""

    def __init__(self, scratch: Path, dst: Any, profile: dict[str, Any]) -> None:
        self.scratch = scratch
        self.levels = [_Level(1, dst)]
        self._paths: list[Path] = []
        width, height = profile["width"], profile["height"]
        for f in factors(width, height):
            path = scratch.with_name(f"{scratch.name}.ovr{f}.tif")
            level = {
                **profile,
                "width": width // f,
                "height": height // f,
                "transform": profile["transform"] * rasterio.Affine.scale(f),
            }
            self._paths.append(path)
            self.levels.append(_Level(f, rasterio.open(path, "w", **level)))

    def add(self, indexes: list[int], rows: slice, cols: slice, block: np.ndarray) -> None:
        """A (bands, rows, cols) block into the raster and its share into every level."""
        for level in self.levels:
            level.add(indexes, rows, cols, block)

    def finish(self) -> None:
        """Close the levels once every block has passed, each tile written."""
        unfilled = {level.f: level.unfilled() for level in self.levels if level.unfilled()}
        if unfilled:
            raise RuntimeError(f"tiles left unfilled at factors {unfilled}")
        self.close()

    def close(self) -> None:
        for level in self.levels:
            level.close()

    def vrt(self) -> Path:
        """A VRT of the scratch file (all its metadata) whose bands list the levels as
        their overviews: the source for the COG copy."""
        path = self.scratch.with_name(self.scratch.name + ".vrt")
        rio_shutil.copy(self.scratch, path, driver="VRT")
        tree = ET.parse(path)
        for band in tree.getroot().iter("VRTRasterBand"):
            for level_path in self._paths:
                overview = ET.SubElement(band, "Overview")
                source = ET.SubElement(overview, "SourceFilename", relativeToVRT="1")
                source.text = level_path.name
                ET.SubElement(overview, "SourceBand").text = band.get("band")
        tree.write(path)
        return path

    def paths(self) -> list[Path]:
        """Every file beside the scratch file that these overviews wrote."""
        return [self.scratch.with_name(self.scratch.name + ".vrt"), *self._paths]
