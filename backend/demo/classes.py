"""Land-cover classes of the simulated landscape: the 16 TimeSen2Crop crops, then the rest."""

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
