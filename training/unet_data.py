"""Scenes for the U-Net: images (bands, or months of bands, laid into channels), their
labels, split into areas.

A scene holds one or more images of one place: the 12 monthly composites of the
agricultural year as one image of 120 channels (the 12-month models), or every date and
every monthly composite as images of 10 channels each (the single-scene models: one
date is all they see). Labels are class ids per pixel, or for a multi-label model 0/1 per
label and pixel; 255 is unknown. The split is by area (rows of the scene), so test pixels
lie in a part of the landscape the network never saw: rows [0, 60 %) train, [60 %, 70 %)
validate, [70 %, 100 %) test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dask
import numpy as np

from core.classes import COVER_GROUPS, LABEL_NODATA, SKY_LABELS, class_names, group_ids
from udfs import monthly_composite as mc
from udfs import unet_segment as us

PARTS = {"train": (0.0, 0.6), "val": (0.6, 0.7), "test": (0.7, 1.0)}
YEAR = ("2021-09-01", "2022-09-01")
PERIOD = ("2021-09-01", "2023-01-01")  # every date of the demo collection
# SCL codes under which the ground cannot be seen (cloud of medium and high probability)
HIDDEN = (8, 9)


@dataclass
class Scene:
    """Images (n, c, y, x) float32 reflectance (a (c, y, x) array is one image); labels
    (y, x) or (n, y, x) class ids, or for a multi-label scene (n, labels, y, x) 0/1; 255
    is unknown."""

    channels: np.ndarray
    labels: np.ndarray
    classes: list[str]
    bands: tuple = us.BANDS
    times: int = 12
    description: dict = field(default_factory=dict)
    parts: dict = field(default_factory=lambda: dict(PARTS))  # name -> share of the rows
    multilabel: bool = False
    names: list[str] = field(default_factory=list)  # what each image is (a date, a month)

    def __post_init__(self) -> None:
        if self.channels.ndim == 3:
            self.channels = self.channels[None]
        per_image = 4 if self.multilabel else 3
        if self.labels.ndim == per_image - 1:  # one label raster for every image
            self.labels = np.broadcast_to(self.labels, (len(self.channels), *self.labels.shape))
        self.names = self.names or [f"image {i}" for i in range(len(self.channels))]

    @property
    def height(self) -> int:
        return self.channels.shape[-2]

    def rows(self, part: str) -> slice:
        lo, hi = self.parts[part]
        return slice(int(round(lo * self.height)), int(round(hi * self.height)))

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The images (n, c, rows, x) and labels of one area."""
        rows = self.rows(name)
        return self.channels[..., rows, :], self.labels[..., rows, :]


def _read(catalog, period: tuple[str, str]):
    cube = catalog.load("SENTINEL2_L2A", None, list(period), [*us.BANDS, "SCL"])
    labels = catalog.load("CROP_LABELS", None, None, ["class"])
    with dask.config.set(scheduler="threads"):
        raster = np.asarray(labels.squeeze(drop=True).values)
    raster = np.nan_to_num(raster, nan=LABEL_NODATA).astype(np.int64)
    raster[(raster < 0) | (raster >= len(class_names()))] = 255
    return cube, raster


def demo_scene(catalog, year: tuple[str, str] = YEAR) -> Scene:
    """The demo collection's 12 monthly composites as one image, with CROP_LABELS, as the
    process would read them."""
    cube, label_raster = _read(catalog, year)
    with dask.config.set(scheduler="threads"):
        composites = mc.composite(cube, start_month=int(year[0][5:7])).compute()
    names = class_names()
    channels = composites.sel(bands=list(us.BANDS)).transpose("t", "bands", "y", "x").values
    channels = channels.reshape(-1, *channels.shape[2:]).astype(np.float32)
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


def single_scenes(catalog, period: tuple[str, str], multilabel: bool = False) -> Scene:
    """Every date of the period and every month's composite (median of the clear
    observations, no gap filling) as images of the 10 bands.

    Class labels are COVER_GROUPS, unknown where the ground is not clear (SCL) on a date.
    Multi-label: the groups, one label each (unknown under clouds of SCL 8 and 9), then
    SKY_LABELS from the date's SCL (none on a composite)."""
    cube, raster = _read(catalog, period)
    bands = list(us.BANDS)
    with dask.config.set(scheduler="threads"):
        dates = cube.sel(bands=bands).transpose("t", "bands", "y", "x").values
        scl = np.nan_to_num(cube.sel(bands="SCL").values, nan=0).astype(np.uint8)
        months = mc.composite(cube, start_month=int(period[0][5:7]), fill="none")
        months = months.sel(bands=bands).transpose("t", "bands", "y", "x").compute()
    months = months.isel(t=np.isfinite(months.values).any(axis=(1, 2, 3)))  # months with data
    images = np.concatenate([dates, months.values]).astype(np.float32)
    del dates
    seen = np.isfinite(images).all(axis=1)  # (n, y, x)
    cover = group_ids(raster)  # (y, x)
    clear_date = ~np.isin(scl, mc.DEFAULT_MASK)  # 0 (no data) among them
    n_dates, n_months = len(scl), len(months["t"])
    names = [str(t)[:10] for t in cube["t"].values] + [
        f"composite {str(t)[:7]}" for t in months["t"].values
    ]
    groups = list(COVER_GROUPS)
    if not multilabel:
        clear = np.concatenate([clear_date, np.ones((n_months, *raster.shape), bool)])
        labels = np.where(seen & clear, cover[None], 255).astype(np.uint8)
        classes = groups
        kind = "land cover (COVER_GROUPS), where the ground is clear on the date (SCL)"
    else:
        sky = np.zeros((n_dates + n_months, len(SKY_LABELS), *raster.shape), np.uint8)
        for i, codes in enumerate(SKY_LABELS.values()):
            sky[:n_dates, i] = np.isin(scl, codes)
        ground = (cover[None] == np.arange(len(groups))[:, None, None]).astype(np.uint8)
        ground = np.where(cover[None] == 255, 255, ground)
        hidden = np.concatenate([np.isin(scl, HIDDEN), np.zeros((n_months, *raster.shape), bool)])
        ground = np.where(hidden[:, None], 255, ground[None])
        labels = np.where(seen[:, None], np.concatenate([ground, sky], axis=1), 255).astype(
            np.uint8
        )
        classes = groups + list(SKY_LABELS)
        kind = (
            "multi-label: land cover (COVER_GROUPS, unknown under SCL 8 and 9) and "
            "cloud, thin cirrus, cloud shadow, snow from the date's SCL (3, 8-9, 10, 11)"
        )
    return Scene(
        channels=images,
        labels=labels,
        classes=classes,
        bands=us.BANDS,
        times=1,
        multilabel=multilabel,
        names=names,
        description={
            "source": "collections SENTINEL2_L2A (every date, and every month's composite "
            "of the clear observations, monthly_composite without gap filling) + "
            "CROP_LABELS",
            "period": list(period),
            "images": f"{n_dates} dates + {n_months} monthly composites, 10 bands each",
            "labels": kind,
            "split": "by area: rows 0-60 % train, 60-70 % validation, 70-100 % test",
        },
    )
