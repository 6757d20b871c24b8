"""A scene for the U-Net: the 12 monthly composites of the agricultural year laid into
channels (month by month, ten bands each) and the label raster, split into areas.

The split is by area (rows of the scene), so test pixels lie in a part of the landscape
the network never saw: rows [0, 60 %) train, [60 %, 70 %) validate, [70 %, 100 %) test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dask
import numpy as np

from core.classes import LABEL_NODATA, class_names
from udfs import monthly_composite as mc
from udfs import unet_segment as us

PARTS = {"train": (0.0, 0.6), "val": (0.6, 0.7), "test": (0.7, 1.0)}


@dataclass
class Scene:
    """Channels (c, y, x) float32 reflectance, labels (y, x) int64 (255: none), classes."""

    channels: np.ndarray
    labels: np.ndarray
    classes: list[str]
    bands: tuple = us.BANDS
    times: int = 12
    description: dict = field(default_factory=dict)
    parts: dict = field(default_factory=lambda: dict(PARTS))  # name -> share of the rows

    def rows(self, part: str) -> slice:
        lo, hi = self.parts[part]
        n = self.labels.shape[0]
        return slice(int(round(lo * n)), int(round(hi * n)))

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self.rows(name)
        return self.channels[:, rows], self.labels[rows]


def demo_scene(catalog, year: tuple[str, str] = ("2021-09-01", "2022-09-01")) -> Scene:
    """The demo collection's composites and CROP_LABELS, as the process would read them."""
    cube = catalog.load("SENTINEL2_L2A", None, list(year), list(us.BANDS) + ["SCL"])
    labels = catalog.load("CROP_LABELS", None, None, ["class"])
    with dask.config.set(scheduler="threads"):
        composites = mc.composite(cube, start_month=int(year[0][5:7])).compute()
        label_raster = np.asarray(labels.squeeze(drop=True).values)
    names = class_names()
    channels = composites.sel(bands=list(us.BANDS)).transpose("t", "bands", "y", "x").values
    channels = channels.reshape(-1, *channels.shape[2:]).astype(np.float32)
    label_raster = np.nan_to_num(label_raster, nan=LABEL_NODATA).astype(np.int64)
    label_raster[(label_raster < 0) | (label_raster >= len(names))] = 255
    return Scene(
        channels=channels,
        labels=label_raster,
        classes=[names[i] for i in range(len(names))],
        description={
            "source": "collections SENTINEL2_L2A (12 monthly composites, "
            "monthly_composite) + CROP_LABELS",
            "period": list(year),
            "split": "by area: rows 0-60 % train, 60-70 % validation, 70-100 % test",
        },
    )
