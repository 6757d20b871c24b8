"""Evaluate the NDVI forecaster against the baselines on the real eo-learn stack.

    .venv/bin/python -m training.ndvi_evaluation [PATH to eolearn-testeopatch]

Horizon 1, clear targets only, the same targets for every method: pixel-disjoint (left
half of the columns trains, x >= 45 of it validates; right half tests) and time-disjoint
(windows whose six targets all lie in 2015-2016 train, 2017 targets test). Work in progress
for ndvi_forecast (issue 6): horizons 2-6, gap filling and the demo collection come next.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from training import ndvi_baselines as nb
from training.ndvi_lstm import fit, predict
from training.ndvi_windows import windows

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "eolearn-testeopatch"


def load_eolearn(path: Path) -> xr.DataArray:
    """NDVI with an SCL-like band from CLM and IS_DATA (0 no data, 9 cloud, 4 clear)."""
    ndvi = np.load(path / "data" / "NDVI.npy")[..., 0]
    clm = np.load(path / "mask" / "CLM.npy")[..., 0]
    is_data = np.load(path / "mask" / "IS_DATA.npy")[..., 0]
    times = pd.to_datetime(json.loads((path / "timestamps.json").read_text()))
    scl = np.where(is_data == 0, 0, np.where(clm == 1, 9, 4)).astype(np.float32)
    return xr.DataArray(np.stack([ndvi, scl], axis=1), dims=("t", "bands", "y", "x"),
                        coords={"t": times.tz_localize(None).values, "bands": ["NDVI", "SCL"],
                                "y": np.arange(ndvi.shape[1]), "x": np.arange(ndvi.shape[2])})


def _horizon1(values, months, index, rows, pred, fit_mask) -> dict[str, dict]:
    width = values.shape[2]
    pers, clim = nb.persistence(values, 1), nb.climatology(values, months)
    month, pixel = index[rows, 0] + 1, index[rows, 1]
    yy, xx = pixel // width, pixel % width
    truth, p, c = values[month, yy, xx], pers[month, yy, xx], clim[month, yy, xx]
    ok = np.isfinite(truth) & np.isfinite(p) & np.isfinite(c)
    usable = np.isfinite(values) & np.isfinite(pers) & np.isfinite(clim) & fit_mask
    weights = nb.fit_blend(pers[usable], clim[usable], values[usable])
    return {"lstm": nb.scores(truth[ok], pred[ok, 0]),
            "persistence": nb.scores(truth[ok], p[ok]),
            "climatology": nb.scores(truth[ok], c[ok]),
            "blend": nb.scores(truth[ok], nb.blend(p[ok], c[ok], weights))}


def main(path: Path = DEFAULT) -> dict:
    values, months = nb.monthly_ndvi(load_eolearn(path))
    n_months, _, width = values.shape
    x, y, index = windows(values, history=12, horizons=6)
    column = index[:, 1] % width
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    results = {}
    train, test = column < 50, column >= 50
    net = fit(x[train & (column < 45)], y[train & (column < 45)],
              x[train & (column >= 45)], y[train & (column >= 45)])
    left = np.zeros(values.shape, bool)
    left[:, :, :50] = True
    results["pixel-disjoint"] = _horizon1(values, months, index, np.flatnonzero(test),
                                          predict(net, x[test]), left)
    last_target = year[np.minimum(index[:, 0] + 6, n_months - 1)]
    train = (index[:, 0] + 6 < n_months) & (last_target <= 2016)
    test = year[np.minimum(index[:, 0] + 1, n_months - 1)] == 2017
    net = fit(x[train & (column < 90)], y[train & (column < 90)],
              x[train & (column >= 90)], y[train & (column >= 90)])
    upto = np.broadcast_to((year <= 2016)[:, None, None], values.shape)
    results["time-disjoint"] = _horizon1(values, months, index, np.flatnonzero(test),
                                         predict(net, x[test]), upto)
    for split, res in results.items():
        print(split, {k: round(r["mae"], 4) for k, r in res.items()},
              "targets", res["lstm"]["n"])
    return results


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
