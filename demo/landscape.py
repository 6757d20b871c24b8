"""The static landscape: fields, roads, a river, forest and a village, laid out on a 10 m grid.

Parcels are rectangles cut from the blocks between roads, each with one land-cover class and
its own timing, vigour and soil brightness, so that classes vary within themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from core.classes import BARE_SOIL, CROP_CLASSES, FOREST, ROAD, SETTLEMENT, WATER

# Relative frequency of the crops, loosely after South Tyrol's valley floor and TimeSen2Crop.
_CROP_WEIGHTS = np.array([3, 10, 10, 4, 4, 4, 6, 3, 4, 5, 4, 6, 9, 5, 10, 5], dtype=float)


@dataclass
class Landscape:
    """Parcel ids per pixel and per-parcel attributes."""

    parcel_id: np.ndarray  # (rows, cols) int32, index into the arrays below
    classes: np.ndarray  # (n,) land-cover class per parcel
    shift: np.ndarray  # (n,) days by which the parcel's phenology is late (+) or early (-)
    vigour: np.ndarray  # (n,) multiplier of green cover
    brightness: np.ndarray  # (n,) multiplier of the background (soil) spectrum
    texture: np.ndarray  # (rows, cols) float32, static within-parcel variation, ~N(0, 1)

    @property
    def labels(self) -> np.ndarray:
        """Class id per pixel."""
        return self.classes[self.parcel_id].astype(np.uint8)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Gaussian random field with correlation length `scale` pixels, zero mean, unit std."""
    noise = rng.standard_normal(shape)
    field = ndimage.gaussian_filter(noise, sigma=scale, mode="wrap")
    field -= field.mean()
    std = field.std()
    return (field / std if std > 0 else field).astype(np.float32)


def _split(rng: np.random.Generator, r0: int, c0: int, r1: int, c1: int, out: list) -> None:
    """Cut a block into fields of about 1-12 ha by recursive splits across its long side."""
    h, w = r1 - r0, c1 - c0
    if h * w <= rng.uniform(150, 1200) or max(h, w) < 16:
        out.append((r0, c0, r1, c1))
        return
    if h >= w:
        cut = r0 + int(rng.uniform(0.3, 0.7) * h)
        _split(rng, r0, c0, cut, c1, out)
        _split(rng, cut, c0, r1, c1, out)
    else:
        cut = c0 + int(rng.uniform(0.3, 0.7) * w)
        _split(rng, r0, c0, r1, cut, out)
        _split(rng, r0, cut, r1, c1, out)


def _road_lines(rng: np.random.Generator, n: int) -> list[int]:
    pos, lines = int(rng.integers(20, 60)), []
    while pos < n - 10:
        lines.append(pos)
        pos += int(rng.integers(60, 130))
    return lines


def build_landscape(rows: int, cols: int, seed: int) -> Landscape:
    """Lay out the valley: forest on both slopes, the river, a village, roads and fields."""
    rng = np.random.default_rng([seed, 1])
    r = np.arange(rows)[:, None]
    c = np.arange(cols)[None, :]
    cover = np.full((rows, cols), -1, dtype=np.int32)

    wobble = 6 * np.sin(r / 37.0) + 4 * np.sin(r / 11.0 + 1.0)
    cover[(c < 0.07 * cols + wobble) | (c > 0.92 * cols + wobble)] = FOREST
    river_x = 0.33 * cols + 0.05 * cols * np.sin(2 * np.pi * r / rows * 1.3)
    cover[np.abs(c - river_x) < max(3, rows // 80)] = WATER
    village = (r > 0.72 * rows) & (r < 0.88 * rows) & (c > 0.55 * cols) & (c < 0.72 * cols)
    cover[village & (cover < 0)] = SETTLEMENT

    road = np.zeros((rows, cols), dtype=bool)
    for y in _road_lines(rng, rows):
        road[y : y + 2, :] = True
    for x in _road_lines(rng, cols):
        road[:, x : x + 2] = True
    cover[road & (cover < 0)] = ROAD

    parcel_id = np.zeros((rows, cols), dtype=np.int32)
    classes: list[int] = []
    for fixed in (FOREST, WATER, SETTLEMENT, ROAD):
        parcel_id[cover == fixed] = len(classes)
        classes.append(fixed)

    # Fields fill the blocks between roads wherever nothing else is.
    blocks: list[tuple[int, int, int, int]] = []
    road_rows = sorted({0, rows, *np.flatnonzero(road.all(axis=1))})
    road_cols = sorted({0, cols, *np.flatnonzero(road.all(axis=0))})
    for r0, r1 in zip(road_rows[:-1], road_rows[1:], strict=True):
        for c0, c1 in zip(road_cols[:-1], road_cols[1:], strict=True):
            if r1 - r0 > 2 and c1 - c0 > 2:
                _split(rng, r0, c0, r1, c1, blocks)
    crop_p = _CROP_WEIGHTS / _CROP_WEIGHTS.sum()
    free = cover < 0
    for r0, c0, r1, c1 in blocks:
        cell = free[r0:r1, c0:c1]
        if not cell.any():
            continue
        cls = BARE_SOIL if rng.random() < 0.03 else int(rng.choice(len(CROP_CLASSES), p=crop_p))
        parcel_id[r0:r1, c0:c1][cell] = len(classes)
        classes.append(cls)

    n = len(classes)
    classes_arr = np.asarray(classes, dtype=np.int32)
    crop = classes_arr < len(CROP_CLASSES)
    return Landscape(
        parcel_id=parcel_id,
        classes=classes_arr,
        shift=np.where(crop, rng.normal(0, 6, n), 0.0),
        vigour=np.where(crop, rng.uniform(0.85, 1.05, n), 1.0),
        brightness=rng.uniform(0.8, 1.2, n),
        texture=smooth_field(rng, (rows, cols), 2.0) * 0.6
        + rng.standard_normal((rows, cols)).astype(np.float32) * 0.4,
    )
