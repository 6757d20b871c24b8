"""Independent reference values read straight from the demo COGs with rasterio and numpy.

Deliberately shares no code with the backend: items are found by walking the folders,
the processing-baseline offset comes from the date rule, not from STAC metadata.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import from_bounds


def items_between(catalog: Path, start: str, end: str) -> list[tuple[dt.datetime, Path]]:
    found = []
    for path in sorted((catalog.parent / "SENTINEL2_L2A").glob("*/*.json")):
        when = dt.datetime.fromisoformat(json.loads(path.read_text())["properties"]["datetime"]
                                         .replace("Z", "+00:00"))
        if dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC) <= when < \
                dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC):
            found.append((when, path.parent))
    return sorted(found)


def reflectance(folder: Path, band: str, when: dt.datetime, box: dict) -> np.ndarray:
    """Reflectance of a 10 m band inside a box in the file's CRS (NaN where DN is 0)."""
    with rasterio.open(folder / f"{band}.tif") as src:
        win = from_bounds(box["west"], box["south"], box["east"], box["north"], src.transform)
        dn = src.read(1, window=win.round_offsets().round_lengths()).astype(np.float64)
    offset = -1000 if when.date() >= dt.date(2022, 1, 25) else 0
    out = (dn + offset) / 10000
    out[dn == 0] = np.nan
    return out


def ndvi_stack(catalog: Path, start: str, end: str, box: dict) -> np.ndarray:
    layers = []
    for when, folder in items_between(catalog, start, end):
        red = reflectance(folder, "B04", when, box)
        nir = reflectance(folder, "B08", when, box)
        layers.append((nir - red) / (nir + red))
    return np.stack(layers)
