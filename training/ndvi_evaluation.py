"""Evaluate the NDVI forecaster against the baselines, on real and on demo data.

    .venv/bin/python -m training.ndvi_evaluation [--eolearn PATH] [--demo-dir DIR] [--out F]

For each data set and split, a model is trained on the training part only (its own
validation pixels inside it) and scored beside persistence, climatology and their blend
(fitted on the training part) on the same clear targets, for horizons 1-6, from the whole
series before each target; then as a user meets it, from histories of 2, 3, 6, 12 and 24
months only, beside the product's baselines, per class of field (`training.ndvi_windows`);
gap filling is scored against linear interpolation on 20 % of the test part's clear
months, hidden.
- eo-learn stack (real Sentinel-2, 2015-2017): pixel-disjoint (columns < 50 train, the
  right half tests, every month); time-disjoint (train on 2015-2016, test 2017 targets).
- demo collection (simulated, Sep 2021 - Dec 2022): pixel-disjoint (left / right half);
  time-disjoint (train to Aug 2022, test Sep-Dec 2022).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import dask
import numpy as np
import xarray as xr

from core.classes import CROP_CLASSES, OTHER_CLASSES
from core.settings import Settings
from demo.build import DemoScene, ensure_demo_data
from demo.landscape import build_landscape
from sources.catalog import Catalog
from training import ndvi_baselines as nb
from training import ndvi_windows as nw
from training.config import NDVIConfig
from training.ndvi_lstm import fit
from udfs import ndvi_forecast as nf
from udfs.ndvi_forecast import MAX_HORIZON, NDVIModel

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "eolearn-testeopatch"
# eo-learn's LULC legend (its example patch holds 0-4 and 8)
EOLEARN_CLASSES = {
    0: "no data",
    1: "cultivated land",
    2: "forest",
    3: "grassland",
    4: "shrubland",
    5: "water",
    6: "wetland",
    7: "tundra",
    8: "artificial surface",
    9: "bare land",
    10: "snow and ice",
}
DEMO_CLASSES = {**dict(enumerate(CROP_CLASSES)), **OTHER_CLASSES}
ALL = {0: "all"}  # the one class of a data set without a class map


def eolearn_classes(path: Path) -> np.ndarray:
    """(y, x) LULC classes of the eo-learn patch (EOLEARN_CLASSES)."""
    return np.load(path / "mask_timeless" / "LULC.npy")[..., 0]


def demo_classes(scene: DemoScene) -> np.ndarray:
    """(y, x) classes of a demo scene (DEMO_CLASSES): the landscape it was built from."""
    return build_landscape(scene.size, scene.size, scene.seed).labels


def load_eolearn(path: Path) -> xr.DataArray:
    """NDVI with an SCL-like band from CLM and IS_DATA (0 no data, 9 cloud, 4 clear)."""
    import pandas as pd

    ndvi = np.load(path / "data" / "NDVI.npy")[..., 0]
    clm = np.load(path / "mask" / "CLM.npy")[..., 0]
    is_data = np.load(path / "mask" / "IS_DATA.npy")[..., 0]
    times = pd.to_datetime(json.loads((path / "timestamps.json").read_text()))
    scl = np.where(is_data == 0, 0, np.where(clm == 1, 9, 4)).astype(np.float32)
    return xr.DataArray(
        np.stack([ndvi, scl], axis=1),
        dims=("t", "bands", "y", "x"),
        coords={
            "t": times.tz_localize(None).values,
            "bands": ["NDVI", "SCL"],
            "y": np.arange(ndvi.shape[1]),
            "x": np.arange(ndvi.shape[2]),
        },
    )


def demo_ndvi(data_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray, DemoScene]:
    """Monthly NDVI (months, y, x) of the demo collection, as ndvi_forecast computes it, and
    the demo scene it comes from."""
    settings = Settings.from_env(**({"data_dir": Path(data_dir).resolve()} if data_dir else {}))
    scene = ensure_demo_data(settings.data_dir, settings.demo_size, settings.demo_seed)
    cube = Catalog(settings).load("SENTINEL2_L2A", None, None, ["B04", "B08", "SCL"])
    with dask.config.set(scheduler="threads"):
        series = nf.monthly(nf.ndvi_of(cube)).compute()
    return series.values.astype(np.float64), series["t"].values, scene


def calendar_of(months: np.ndarray) -> int:
    return int(np.asarray(months, "datetime64[M]").astype(np.int64)[0] % 12)


def model_forecasts(
    model: NDVIModel, values: np.ndarray, first_month: int, targets: np.ndarray
) -> np.ndarray:
    """(horizons, months, y, x) forecasts of every target month from origin m - h."""
    n, ny, nx = values.shape
    series = values.reshape(n, -1).T.astype(np.float32)
    out = np.full((MAX_HORIZON,) + values.shape, np.nan, np.float32)
    flat = out.reshape(MAX_HORIZON, n, -1)
    wanted = targets.reshape(n, -1)
    for origin in range(n - 1):
        pixels = np.flatnonzero(wanted[origin + 1 : origin + 1 + MAX_HORIZON].any(axis=0))
        if len(pixels) == 0:
            continue
        q = model.forecast(series[pixels, : origin + 1], first_month, MAX_HORIZON)
        for h in range(1, min(MAX_HORIZON, n - 1 - origin) + 1):
            flat[h - 1, origin + h, pixels] = q[:, h - 1, 1]
    return out


def forecast_scores(
    model: NDVIModel, values: np.ndarray, months: np.ndarray, test: np.ndarray, train: np.ndarray
) -> dict[int, dict]:
    """Per horizon: the model and the baselines on clear test targets where persistence
    and climatology both exist; the blend fitted on `train` (masks over values)."""
    clim = nb.climatology(values, months)
    per_h = {}
    scorable = {}
    for h in range(1, MAX_HORIZON + 1):
        pers = nb.persistence(values, h)
        usable = np.isfinite(values) & np.isfinite(pers) & np.isfinite(clim)
        fit_on = usable & train  # empty where the training part has no earlier year
        weights = (
            nb.fit_blend(pers[fit_on], clim[fit_on], values[fit_on])
            if fit_on.sum() >= 100
            else None
        )
        scorable[h] = (usable & test, pers, weights)
    wanted = np.any([s[0] for s in scorable.values()], axis=0)
    pred = model_forecasts(model, values, calendar_of(months), wanted)
    for h, (ok, pers, weights) in scorable.items():
        truth = values[ok]
        per_h[h] = {
            "lstm": nb.scores(truth, pred[h - 1][ok]),
            "persistence": nb.scores(truth, pers[ok]),
            "climatology": nb.scores(truth, clim[ok]),
            "blend": None
            if weights is None
            else nb.scores(truth, nb.blend(pers[ok], clim[ok], weights)),
        }
    return per_h


def gapfill_scores(
    model: NDVIModel, values: np.ndarray, months: np.ndarray, test: np.ndarray, seed: int = 0
) -> dict[str, dict]:
    """20 % of the clear test months hidden: the model vs linear interpolation."""
    hidden_values, hidden = nb.hide_months(values, 0.2, seed=seed)
    hidden &= test
    hidden_values = np.where(hidden, np.nan, values)
    linear = nb.linear_gapfill(hidden_values, months)
    n = values.shape[0]
    pixels = np.flatnonzero(hidden.reshape(n, -1).any(axis=0))
    series = hidden_values.reshape(n, -1).T[pixels].astype(np.float32)
    raw = model.gapfill(series, calendar_of(months))
    sample = series[:: nf.sample_stride(len(series)) ** 2]  # as ndvi_forecast calibrates
    scale = model.gap_scale(sample, calendar_of(months))
    truth = values[hidden]
    inside, median = {}, None
    for name, filled in (("calibrated", nf.widen(raw, scale)), ("as trained", raw)):
        q = np.full((values.shape[1] * values.shape[2], n, 3), np.nan, np.float32)
        q[pixels] = filled
        low, median, high = q.transpose(2, 1, 0).reshape((3,) + values.shape)[:, hidden]
        inside[name] = float(((low <= truth) & (truth <= high)).mean())
    return {
        "lstm": nb.scores(truth, median),
        "linear": nb.scores(values[hidden], linear[hidden]),
        "coverage": inside,
    }


def _series(values: np.ndarray, months: slice, columns: np.ndarray) -> np.ndarray:
    """(pixels, months) series of the given columns, for training."""
    part = values[months][:, :, columns]
    return part.reshape(part.shape[0], -1).T.astype(np.float32)


def by_history(
    model: NDVIModel,
    values: np.ndarray,
    months: np.ndarray,
    classes: np.ndarray,
    names: dict[int, str],
    targets: np.ndarray,
) -> dict:
    """The model (`lstm`) and the product's baselines from histories of 2-24 months, per
    horizon and class, on the target months (months,) of these pixels."""
    methods = {"lstm": nw.network(model), **nw.baselines()}
    return nw.evaluate_set(values, months, classes, targets, methods, names)


def evaluate(
    values: np.ndarray,
    months: np.ndarray,
    time_split: np.datetime64,
    config: NDVIConfig,
    name: str,
    classes: np.ndarray | None = None,
    names: dict[int, str] = ALL,
) -> dict:
    """Pixel-disjoint (left half trains) and time-disjoint (months before `time_split`
    train) results of one data set; `classes` (y, x) splits the scores by class."""
    _, _, width = values.shape
    if classes is None:
        classes = np.zeros(values.shape[1:], np.int64)
    half, val_from = width // 2, int(width * 0.45)
    first = calendar_of(months)
    column = np.arange(width)
    results = {}
    left = np.zeros(values.shape, bool)
    left[:, :, :half] = True
    model, _ = fit(
        [(_series(values, slice(None), column[:val_from]), first)],
        [(_series(values, slice(None), column[val_from:half]), first)],
        config,
    )
    every = np.ones(len(months), bool)
    results["pixel-disjoint"] = {
        "forecast": forecast_scores(model, values, months, ~left, left),
        "gapfill": gapfill_scores(model, values, months, ~left),
        "by_history": by_history(
            model, values[:, :, half:], months, classes[:, half:], names, every
        ),
    }
    early = np.asarray(months) < time_split
    n_early = int(early.sum())
    model, _ = fit(
        [(_series(values, slice(0, n_early), column[: int(width * 0.9)]), first)],
        [(_series(values, slice(0, n_early), column[int(width * 0.9) :]), first)],
        config,
    )
    before = np.broadcast_to(early[:, None, None], values.shape)
    results["time-disjoint"] = {
        "forecast": forecast_scores(model, values, months, ~before, before),
        "gapfill": gapfill_scores(model, values, months, ~before),
        "by_history": by_history(model, values, months, classes, names, ~early),
    }
    _print(name, results)
    return results


def mae_text(score: dict | None) -> str:
    """MAE to 4 places; '-' for a baseline that could not be fitted."""
    return "-" if score is None else f"{score['mae']:.4f}"


def _print(name: str, results: dict) -> None:
    for split, res in results.items():
        print(f"{name} {split}: MAE per horizon (targets)")
        for h, row in res["forecast"].items():
            print(
                f"  h{h} n={row['lstm']['n']:6d} "
                + "  ".join(f"{k} {mae_text(v)}" for k, v in row.items())
            )
        g = res["gapfill"]
        print(
            f"  gapfill n={g['lstm']['n']} lstm {g['lstm']['mae']:.4f} "
            f"linear {g['linear']['mae']:.4f}"
        )
        print(nw.tables({f"{name} {split}": res["by_history"]}, "lstm"))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eolearn", type=Path, default=DEFAULT)
    parser.add_argument("--demo-dir", type=Path, default=None)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--epochs", type=int, default=NDVIConfig.epochs)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    config = NDVIConfig(epochs=args.epochs)
    results = {}
    values, months = nb.monthly_ndvi(load_eolearn(args.eolearn))
    results["eolearn"] = evaluate(
        values,
        months,
        np.datetime64("2017-01-01"),
        config,
        "eolearn",
        eolearn_classes(args.eolearn),
        EOLEARN_CLASSES,
    )
    if not args.skip_demo:
        values, months, scene = demo_ndvi(args.demo_dir)
        results["demo"] = evaluate(
            values,
            months,
            np.datetime64("2022-09-01"),
            config,
            "demo",
            demo_classes(scene),
            DEMO_CLASSES,
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
