"""Monthly NDVI series and the baselines an NDVI forecaster must beat (issue: ndvi_forecast).

Monthly NDVI is the mean of a pixel's clear observations in each calendar month (NaN
without one), made by udfs.monthly_composite so the series are those the process sees.
Baselines, each a prediction for every (month, pixel):
- persistence: the last clear monthly value at or before the forecast origin (m - horizon);
- climatology: the mean of the same calendar month in earlier years;
- blend: a least-squares mix of the two (with an intercept), fitted on a training part;
- linear gap filling: clear months hidden at random, interpolated in time from the rest.
Forecasts are scored on clear targets only, where both persistence and climatology exist.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from udfs import monthly_composite as mc


def monthly_ndvi(cube: xr.DataArray, start_month: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(t, bands [NDVI, SCL], y, x) -> monthly mean NDVI (months, y, x), month starts."""
    comp = mc.composite(cube, start_month=start_month, method="mean", fill="none")
    return comp.sel(bands="NDVI").values.astype(np.float64), comp["t"].values


def persistence(values: np.ndarray, horizon: int = 1) -> np.ndarray:
    """The last finite value at or before month m - horizon, for every month m."""
    last = np.full_like(values, np.nan)
    current = np.full(values.shape[1:], np.nan)
    for m in range(values.shape[0]):
        current = np.where(np.isfinite(values[m]), values[m], current)
        if m + horizon < values.shape[0]:
            last[m + horizon] = current
    return last


def climatology(values: np.ndarray, months: np.ndarray) -> np.ndarray:
    """The mean of the same calendar month in earlier years, for every month."""
    stamps = np.asarray(months, dtype="datetime64[M]")
    calendar = stamps.astype(np.int64) % 12
    year = stamps.astype("datetime64[Y]").astype(np.int64)
    out = np.full_like(values, np.nan)
    for m in range(values.shape[0]):
        earlier = np.flatnonzero((calendar == calendar[m]) & (year < year[m]))
        seen = np.isfinite(values[earlier]).sum(axis=0) if len(earlier) else 0
        if len(earlier):
            total = np.nansum(values[earlier], axis=0)
            out[m] = np.where(seen > 0, total / np.maximum(seen, 1), np.nan)
    return out


def fit_blend(pers: np.ndarray, clim: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Least-squares weights (persistence, climatology, intercept)."""
    design = np.stack([pers, clim, np.ones_like(pers)], axis=1)
    return np.linalg.lstsq(design, truth, rcond=None)[0]


def blend(pers: np.ndarray, clim: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return weights[0] * pers + weights[1] * clim + weights[2]


def scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R2 of predictions against clear targets."""
    err = pred - truth
    ss_tot = float(((truth - truth.mean()) ** 2).sum())
    return {
        "n": int(len(truth)),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": 1 - float((err**2).sum()) / ss_tot if ss_tot else float("nan"),
    }


def forecast_baselines(
    values: np.ndarray, months: np.ndarray, horizon: int, train: np.ndarray, test: np.ndarray
) -> dict[str, dict[str, float]]:
    """Scores of persistence, climatology and the blend (fitted on `train`) on `test`.

    `train` and `test` are boolean masks over (months, y, x), e.g. left/right half of the
    pixels, or targets up to / after a date.
    """
    pers = persistence(values, horizon)
    clim = climatology(values, months)
    usable = np.isfinite(values) & np.isfinite(pers) & np.isfinite(clim)
    fit_on, score_on = usable & train, usable & test
    weights = fit_blend(pers[fit_on], clim[fit_on], values[fit_on])
    truth = values[score_on]
    return {
        "persistence": scores(truth, pers[score_on]),
        "climatology": scores(truth, clim[score_on]),
        "blend": scores(truth, blend(pers[score_on], clim[score_on], weights)),
    }


def hide_months(
    values: np.ndarray, fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Clear monthly values hidden at random: (values with NaN there, the hidden mask)."""
    rng = np.random.default_rng(seed)
    hidden = np.isfinite(values) & (rng.random(values.shape) < fraction)
    return np.where(hidden, np.nan, values), hidden


def linear_gapfill(values: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Every month of every pixel, interpolated linearly in time (month starts) from its
    finite months; before the first and after the last the nearest value."""
    days = (np.asarray(months, "datetime64[D]") - np.asarray(months, "datetime64[D]")[0]).astype(
        np.float64
    )
    flat = values.reshape(values.shape[0], -1)
    out = np.full_like(flat, np.nan)
    for p in range(flat.shape[1]):
        known = np.isfinite(flat[:, p])
        if known.any():
            out[:, p] = np.interp(days, days[known], flat[known, p])
    return out.reshape(values.shape)
