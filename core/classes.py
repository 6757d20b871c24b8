"""Land-cover classes: the 16 TimeSen2Crop crops, then the rest, each with its map colour.

The bottom layer: the simulator, the models, the writers and the STAC metadata all take
class names and colours from here.
"""

from __future__ import annotations

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
# For classes of users' own models that are not in the table above, by class id.
_FALLBACK = ("E41A1C", "377EB8", "4DAF4A", "984EA3", "FF7F00", "FFFF33", "A65628", "F781BF")


def class_table(classes: list[str]) -> list[dict]:
    """STAC classification:classes entries of a model's classes: value, name, colour hint."""
    return [
        {"value": i, "name": name, "color_hint": COLOURS.get(name, _FALLBACK[i % len(_FALLBACK)])}
        for i, name in enumerate(classes)
    ]
