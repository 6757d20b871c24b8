"""A small dataset in exactly TimeSen2Crop's layout, made by the tests.

`<root>/<tile>/dates.csv` and `<root>/<tile>/<class id>/<n>.csv` with the nine band columns
(B2 ... B12, reflectance x 10000) and Flag (0 clear, 1 cloud, 2 shadow, 3 snow). Each
class has its own seasonal curve, so a classifier can learn them; some dates are flagged.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

COLUMNS = ["B2", "B3", "B4", "B5", "B6", "B7", "B8A", "B11", "B12", "Flag"]
TILES = ("33UWP", "33TVN", "33UVP")  # train, validation, test under the default split


def dates(n: int = 40, start: dt.date = dt.date(2017, 9, 3)) -> list[dt.date]:
    """About one acquisition every 9 days from September to August, none in one month."""
    out, day = [], start
    while len(out) < n and day < dt.date(2018, 9, 1):
        if day.month != 1:  # no acquisition in January: the composite must interpolate it
            out.append(day)
        day += dt.timedelta(days=9)
    return out


def pixel(cls: int, days: list[dt.date], rng: np.random.Generator) -> np.ndarray:
    """(dates, 9) reflectance x 10000: a class-specific green-up on a soil background."""
    doy = np.array([(d - dt.date(2017, 9, 1)).days for d in days], np.float64)
    peak = 40 + cls * 60  # days after 1 September: a month or more apart
    green = np.exp(-0.5 * ((doy - peak) / 35) ** 2)
    soil = np.array([900, 1100, 1300, 1500, 1700, 1800, 2000, 2600, 2200], np.float64)
    veg = np.array([400, 800, 350, 1000, 2800, 3500, 4000, 2000, 1000], np.float64)
    values = soil[None] * (1 - green[:, None]) + veg[None] * green[:, None]
    return values * rng.normal(1, 0.03, size=values.shape)


def make(root: Path, classes: int = 3, per_class: int = 12, seed: int = 0) -> Path:
    """Write the dataset; returns root. Every 7th date of a pixel is cloudy (Flag 1)."""
    rng = np.random.default_rng(seed)
    days = dates()
    for tile in TILES:
        tile_dir = root / tile
        tile_dir.mkdir(parents=True)
        (tile_dir / "dates.csv").write_text(
            "acquisition_date\n" + "".join(d.strftime("%Y%m%d\n") for d in days)
        )
        for cls in range(classes):
            (tile_dir / str(cls)).mkdir()
            for n in range(per_class):
                values = pixel(cls, days, rng)
                flags = np.zeros(len(days), np.int64)
                flags[(np.arange(len(days)) + n) % 7 == 0] = 1
                values[flags == 1] = 6000  # bright cloud, to be masked away
                rows = [",".join(COLUMNS)] + [
                    ",".join([*(str(int(v)) for v in row), str(f)])
                    for row, f in zip(values, flags, strict=True)
                ]
                (tile_dir / str(cls) / f"{n}.csv").write_text("\n".join(rows) + "\n")
    return root
