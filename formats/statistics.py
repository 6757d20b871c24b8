"""Band statistics gathered block by block as a raster streams to disk, so a writer never
reads its file a second time: min, max, mean, standard deviation and valid percent per
band, as GDAL's STATISTICS_* tags and STAC `raster:bands` statistics name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

GDAL_TAGS = {
    "minimum": "STATISTICS_MINIMUM",
    "maximum": "STATISTICS_MAXIMUM",
    "mean": "STATISTICS_MEAN",
    "stddev": "STATISTICS_STDDEV",
    "valid_percent": "STATISTICS_VALID_PERCENT",
}


@dataclass
class _Band:
    """Running figures of one band; mean and squared deviations merged as Chan et al. do,
    in float64, so large rasters lose no precision to a sum of squares."""

    total: int = 0
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float = np.inf
    maximum: float = -np.inf

    def add(self, values: np.ndarray, total: int) -> None:
        self.total += total
        n = values.size
        if n == 0:
            return
        values = values.astype(np.float64, copy=False)
        mean = float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        delta = mean - self.mean
        count = self.count + n
        self.mean += delta * n / count
        self.m2 += m2 + delta * delta * self.count * n / count
        self.count = count
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))

    def figures(self) -> dict[str, float] | None:
        """The band's statistics, or None when it has no valid value."""
        if self.count == 0:
            return None
        return {
            "minimum": self.minimum,
            "maximum": self.maximum,
            "mean": self.mean,
            "stddev": float(np.sqrt(self.m2 / self.count)),
            "valid_percent": 100.0 * self.count / self.total,
        }


class Statistics:
    """Statistics of `bands` bands, fed (bands, rows, cols) blocks; `nodata` values and
    non-finite values do not count as valid."""

    def __init__(self, bands: int, nodata: float | None = None):
        self.bands = [_Band() for _ in range(bands)]
        self.nodata = nodata

    def add(self, first_band: int, block: np.ndarray) -> None:
        for offset, layer in enumerate(block):
            valid = np.isfinite(layer) if np.issubdtype(layer.dtype, np.floating) else None
            if self.nodata is not None and not np.isnan(self.nodata):
                nodata_mask = layer != self.nodata
                valid = nodata_mask if valid is None else valid & nodata_mask
            values = layer.ravel() if valid is None else layer[valid]
            self.bands[first_band + offset].add(values, layer.size)

    def figures(self) -> list[dict[str, float] | None]:
        return [band.figures() for band in self.bands]


def gdal_tags(figures: dict[str, float]) -> dict[str, str]:
    """GDAL's band tags for one band's statistics (what QGIS and the Web Editor read)."""
    return {tag: repr(figures[key]) for key, tag in GDAL_TAGS.items()}


def from_gdal_tags(tags: dict[str, Any]) -> dict[str, float] | None:
    """STAC statistics from a band's GDAL tags, or None when the band has none."""
    if not all(tag in tags for tag in GDAL_TAGS.values()):
        return None
    return {key: float(tags[tag]) for key, tag in GDAL_TAGS.items()}
