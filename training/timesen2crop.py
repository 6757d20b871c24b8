"""The TimeSen2Crop dataset (Weikmann et al. 2021) as monthly-composite samples.

Layout (Zenodo record 4715631): `<root>/<tile>/dates.csv` (acquisition dates YYYYMMDD, one
per row) and `<root>/<tile>/<class id 0-15>/<n>.csv`, one pixel per file: a header, then
one row per date with the nine bands (B2 B3 B4 B5 B6 B7 B8A B11 B12, reflectance x 10000)
and a Flag column (0 clear, 1 cloud, 2 shadow, 3 snow). Each tile's series become 12
monthly composites (September to August) with udfs.monthly_composite, the flags standing
in for SCL, so the features are those lstm_classify sees in production.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from core.classes import CROP_CLASSES
from training.samples import Samples
from udfs import lstm_classify as lc
from udfs import monthly_composite as mc

# Flag -> an SCL class with the same meaning, so the composite masks them as SCL.
FLAG_TO_SCL = {0: 4, 1: 9, 2: 3, 3: 11}
DEFAULT_SPLIT = {"val": ("33TVN",), "test": ("33UVP", "2019_33UVP")}


def _band_name(column: str) -> str | None:
    """'B2', 'b02', 'B8A' -> 'B02', 'B02', 'B8A'; None for anything else."""
    m = re.fullmatch(r"[bB]0?(\d{1,2}|8[aA])", column.strip())
    if not m:
        return None
    number = m.group(1).upper()
    return "B8A" if number == "8A" else f"B{int(number):02d}"


def read_dates(tile_dir: Path) -> pd.DatetimeIndex:
    raw = pd.read_csv(tile_dir / "dates.csv", header=None, dtype=str).iloc[:, 0].str.strip()
    raw = raw[raw.str.fullmatch(r"\d{8}")]  # drops a header row if there is one
    return pd.DatetimeIndex(pd.to_datetime(raw, format="%Y%m%d"))


def read_pixel(path: Path, n_dates: int) -> np.ndarray:
    """One pixel CSV -> (dates, 9 bands + SCL) float32, bands in lstm_classify's order."""
    frame = pd.read_csv(path)
    columns = {c: _band_name(c) for c in frame.columns}
    bands = {name: c for c, name in columns.items() if name}
    flag = next((c for c in frame.columns if c.strip().lower() == "flag"), None)
    missing = [b for b in lc.BANDS if b not in bands]
    if missing or flag is None:
        raise ValueError(
            f"{path}: expected columns {list(lc.BANDS)} and Flag, found {list(frame.columns)}"
        )
    if len(frame) != n_dates:
        raise ValueError(f"{path}: {len(frame)} rows, but dates.csv lists {n_dates} dates")
    values = frame[[bands[b] for b in lc.BANDS]].to_numpy(np.float32) / lc.SCALE
    scl = frame[flag].map(FLAG_TO_SCL).fillna(0).to_numpy(np.float32)
    return np.concatenate([values, scl[:, None]], axis=1)


def tile_samples(tile_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features (pixels, 12, 9) and class ids of one tile."""
    dates = read_dates(tile_dir)
    pixels, labels = [], []
    for class_dir in sorted(p for p in tile_dir.iterdir() if p.is_dir() and p.name.isdigit()):
        for csv in sorted(class_dir.glob("*.csv"), key=lambda p: (len(p.stem), p.stem)):
            pixels.append(read_pixel(csv, len(dates)))
            labels.append(int(class_dir.name))
    if not pixels:
        return np.zeros((0, lc.N_MONTHS, len(lc.BANDS)), np.float32), np.zeros(0, np.int64)
    # (dates, bands, pixels, 1): the pixels stand in for y, one column for x.
    data = np.stack(pixels, axis=2)[..., None]
    cube = xr.DataArray(
        data, dims=("t", "bands", "y", "x"), coords={"t": dates.values, "bands": [*lc.BANDS, "SCL"]}
    )
    composites = mc.composite(cube, start_month=9).values
    if composites.shape[0] != lc.N_MONTHS:
        raise ValueError(
            f"{tile_dir.name}: dates span {composites.shape[0] // 12} "
            "agricultural years; a tile holds one (September to August)"
        )
    x, valid = lc.features(composites)
    return x[valid], np.asarray(labels, np.int64)[valid]


def load(root: Path | str, split: dict[str, tuple[str, ...]] | None = None) -> Samples:
    """Every tile under root; tiles are kept apart: `split` names the val and test tiles."""
    root = Path(root)
    split = split or DEFAULT_SPLIT
    tiles = sorted(p for p in root.iterdir() if (p / "dates.csv").is_file())
    if not tiles:
        raise ValueError(f"{root}: no TimeSen2Crop tiles (folders with dates.csv)")
    feats, labels, groups, parts = [], [], [], []
    for tile in tiles:
        x, y = tile_samples(tile)
        part = next((name for name, names in split.items() if tile.name in names), "train")
        feats.append(x)
        labels.append(y)
        groups += [tile.name] * len(y)
        parts += [part] * len(y)
    return Samples(
        features=np.concatenate(feats),
        labels=np.concatenate(labels),
        groups=np.asarray(groups, dtype=object),
        split=np.asarray(parts, dtype=object),
        classes=list(CROP_CLASSES),
        description={
            "source": f"TimeSen2Crop at {root}",
            "tiles": [t.name for t in tiles],
            "split": {k: list(v) for k, v in split.items()},
        },
    )
