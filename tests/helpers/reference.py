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
        when = dt.datetime.fromisoformat(
            json.loads(path.read_text())["properties"]["datetime"].replace("Z", "+00:00")
        )
        if (
            dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)
            <= when
            < dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC)
        ):
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


def monthly_median(
    values: np.ndarray, clear: np.ndarray, times: list, start: str, months: int, fill: bool
) -> np.ndarray:
    """(t, y, x) values -> (months, y, x) medians of clear values per calendar month from
    `start` (YYYY-MM), gaps interpolated on month-start dates with np.interp when `fill`."""
    first = np.datetime64(start, "M")
    index = np.array(
        [
            (
                np.datetime64(getattr(t, "tzinfo", None) and t.replace(tzinfo=None) or t, "M")
                - first
            ).astype(int)
            for t in times
        ]
    )
    masked = np.where(clear, values, np.nan).astype(np.float64)
    out = np.full((months, *values.shape[1:]), np.nan)
    for m in range(months):
        if (index == m).any():
            with np.errstate(all="ignore"):
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    out[m] = np.nanmedian(masked[index == m], axis=0)
    if not fill:
        return out
    days = (
        (first + np.arange(months)).astype("datetime64[D]") - first.astype("datetime64[D]")
    ).astype(float)
    filled = out.copy()
    for yy, xx in np.ndindex(*values.shape[1:]):
        series = out[:, yy, xx]
        ok = np.isfinite(series)
        if ok.any():
            filled[:, yy, xx] = np.interp(days, days[ok], series[ok])
    return filled


def read_stack(
    catalog: Path, start: str, end: str, box: dict, bands: list[str]
) -> tuple[list, dict[str, np.ndarray]]:
    """Reflectance (10 m bands) and SCL (20 m, repeated to 10 m) inside a box, per date."""
    found = items_between(catalog, start, end)
    out: dict[str, list[np.ndarray]] = {b: [] for b in bands}
    for when, folder in found:
        for band in bands:
            if band == "SCL":
                with rasterio.open(folder / "SCL.tif") as src:
                    win = from_bounds(
                        box["west"], box["south"], box["east"], box["north"], src.transform
                    )
                    scl = src.read(1, window=win.round_offsets().round_lengths())
                out[band].append(np.repeat(np.repeat(scl, 2, 0), 2, 1).astype(np.float64))
            else:
                out[band].append(reflectance(folder, band, when, box))
    return [w for w, _ in found], {b: np.stack(v) for b, v in out.items()}
