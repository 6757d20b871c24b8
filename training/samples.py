"""Labelled pixel samples: monthly-composite features, class ids and the group to split by.

Samples of every source come out alike: `features` (pixels, 12 months, 9 bands) in
reflectance x 10000, `labels` (pixels,) class ids, `groups` (pixels,) the unit that must
not straddle train and test (a parcel, or a tile), `split` (pixels,) "train", "val" or
"test". Features are built by udfs.monthly_composite, the code the process runs, so
training and inference see the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.classes import CROP_CLASSES
from udfs import lstm_classify as lc


@dataclass
class Samples:
    """Features, labels, split groups and split of labelled pixel time series."""

    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    split: np.ndarray
    classes: list[str]
    description: dict = field(default_factory=dict)

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        keep = self.split == name
        return self.features[keep], self.labels[keep]

    def counts(self) -> dict[str, dict[str, int]]:
        """Pixels and groups per split: what the model card reports."""
        return {
            name: {
                "pixels": int((self.split == name).sum()),
                "groups": int(len(np.unique(self.groups[self.split == name]))),
            }
            for name in ("train", "val", "test")
        }


def split_groups(groups: np.ndarray, seed: int, fractions=(0.6, 0.2, 0.2)) -> np.ndarray:
    """'train'/'val'/'test' per sample, whole groups at a time, in the given fractions."""
    unique = np.unique(groups)
    order = np.random.default_rng(seed).permutation(unique)
    n_train = int(round(fractions[0] * len(order)))
    n_val = int(round(fractions[1] * len(order)))
    names = np.empty(len(order), dtype=object)
    names[:n_train], names[n_train : n_train + n_val], names[n_train + n_val :] = (
        "train",
        "val",
        "test",
    )
    lookup = dict(zip(order.tolist(), names.tolist(), strict=True))
    return np.array([lookup[g] for g in groups.tolist()], dtype=object)


def demo_samples(
    catalog,
    seed: int = 0,
    year: tuple[str, str] = ("2021-09-01", "2022-09-01"),
    collection: str = "SENTINEL2_L2A",
    labels: str = "CROP_LABELS",
    n_classes: int = 16,
) -> Samples:
    """Every labelled crop pixel of a collection and its label collection, split by parcel.

    The labels collection carries a class raster (band "class") and parcels as GeoJSON
    (asset "parcels", property parcel_id); parcels, not pixels, are split, so test pixels
    come from fields the model never saw.
    """
    import dask
    import geopandas as gpd
    import rioxarray  # noqa: F401  (the .rio accessor)
    from rasterio.features import rasterize

    from udfs import monthly_composite as mc

    cube = catalog.load(collection, None, list(year), list(lc.BANDS) + ["SCL"])
    label_cube = catalog.load(labels, None, None, ["class"])
    with dask.config.set(scheduler="threads"):
        composites = mc.composite(cube, start_month=int(year[0][5:7])).compute()
        label_raster = np.asarray(label_cube.squeeze(drop=True).values)
    transform = composites.rio.transform(recalc=True)
    item = catalog.items(labels)[0]
    parcels = gpd.read_file(item.assets["parcels"].get_absolute_href())
    parcels = parcels.to_crs(composites.attrs["crs"])
    parcel_raster = rasterize(
        zip(parcels.geometry, parcels["parcel_id"], strict=True),
        out_shape=label_raster.shape,
        transform=transform,
        fill=-1,
        dtype="int32",
    )
    keep = (parcel_raster >= 0) & (label_raster < n_classes)
    x, valid = lc.features(composites.values)
    keep = keep.ravel() & valid
    groups = parcel_raster.ravel()[keep]
    return Samples(
        features=x[keep],
        labels=label_raster.ravel()[keep].astype(np.int64),
        groups=groups,
        split=split_groups(groups, seed),
        classes=CROP_CLASSES[:n_classes],
        description={
            "source": f"collections {collection} + {labels}",
            "period": list(year),
            "split": "by parcel, 60/20/20",
            "seed": seed,
        },
    )
