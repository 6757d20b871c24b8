"""Land-cover classes: the 16 TimeSen2Crop crops, then the rest, each with its map colour.

The bottom layer: the simulator, the models, the writers and the STAC metadata all take
class names and colours from here.
"""

from __future__ import annotations

import numpy as np

CROP_CLASSES: list[str] = [
    "Legumes",
    "Grassland",
    "Maize",
    "Potato",
    "Sunflower",
    "Soy",
    "Winter barley",
    "Winter caraway",
    "Rye",
    "Rapeseed",
    "Beet",
    "Spring cereals",
    "Winter wheat",
    "Winter triticale",
    "Permanent plantation",
    "Other crops",
]

# Non-crop cover, numbered after the crops so that ids 0-15 match TimeSen2Crop's folders.
FOREST, WATER, SETTLEMENT, ROAD, BARE_SOIL = 16, 17, 18, 19, 20
OTHER_CLASSES: dict[int, str] = {
    FOREST: "Forest",
    WATER: "Water",
    SETTLEMENT: "Settlement",
    ROAD: "Road",
    BARE_SOIL: "Bare soil",
}
LABEL_NODATA = 255


def class_names() -> dict[int, str]:
    """Every label id with its name."""
    names = dict(enumerate(CROP_CLASSES))
    names.update(OTHER_CLASSES)
    return names


# One fixed colour per class, chosen to tell crops apart on a map (crops in TimeSen2Crop order).
COLOURS: dict[str, str] = dict(
    zip(
        [*CROP_CLASSES, *OTHER_CLASSES.values()],
        (
            "9C6ADE",
            "7FC97F",
            "F5C518",
            "A0522D",
            "FFA500",
            "C2B280",
            "87CEEB",
            "DA70D6",
            "8B4513",
            "FFFF66",
            "E9967A",
            "D2B48C",
            "1F78B4",
            "4682B4",
            "228B22",
            "808080",
            "0B4F1C",
            "0000CD",
            "D62728",
            "3A3A3A",
            "E8D8B0",
        ),
        strict=True,
    )
)
# What one date can tell apart: the crops differ in their season, so they are one class here;
# settlements and roads are both built-up. The single-scene models of unet_segment map these.
COVER_GROUPS: dict[str, tuple[int, ...]] = {
    "Cropland": (0, *range(2, 14), 15),
    "Grassland": (1,),
    "Permanent plantation": (14,),
    "Forest": (FOREST,),
    "Water": (WATER,),
    "Built-up": (SETTLEMENT, ROAD),
    "Bare soil": (BARE_SOIL,),
}
# What a scene shows above the ground, by Sentinel-2 scene classification (SCL) code.
SKY_LABELS: dict[str, tuple[int, ...]] = {
    "Cloud": (8, 9),
    "Thin cirrus": (10,),
    "Cloud shadow": (3,),
    "Snow": (11,),
}
COLOURS.update(  # the other groups keep their class's colour
    {
        "Cropland": "E6AB02",
        "Built-up": "D62728",
        "Cloud": "BDBDBD",
        "Thin cirrus": "9ECAE1",
        "Cloud shadow": "4D4D4D",
        "Snow": "80DEEA",
    }
)

# For classes of users' own models that are not in the table above, by class id.
_FALLBACK = ("E41A1C", "377EB8", "4DAF4A", "984EA3", "FF7F00", "FFFF33", "A65628", "F781BF")


def group_ids(labels: np.ndarray) -> np.ndarray:
    """Label ids (CROP_LABELS) -> the index of their COVER_GROUPS entry; LABEL_NODATA else."""
    lookup = np.full(256, LABEL_NODATA, np.uint8)
    for index, ids in enumerate(COVER_GROUPS.values()):
        lookup[list(ids)] = index
    known = (labels >= 0) & (labels < 256)
    return np.where(known, lookup[np.where(known, labels, 0).astype(np.int64)], LABEL_NODATA)


def class_table(classes: list[str]) -> list[dict]:
    """STAC classification:classes entries of a model's classes: value, name, colour hint."""
    return [
        {"value": i, "name": name, "color_hint": COLOURS.get(name, _FALLBACK[i % len(_FALLBACK)])}
        for i, name in enumerate(classes)
    ]
