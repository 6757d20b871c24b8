"""Forecasts scored as a user meets them: a history of L months, a target h months on.

Every (pixel, target month) of a held-out set whose target is clear becomes one case: the
L months that end h months before the target (gaps where cloudy), as a cube of L months
would give them to ndvi_forecast. Each method forecasts every case; MAE per history
length, horizon and class of field. A case needs one clear month in its history (without
one, ndvi_forecast answers NaN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from udfs import ndvi_forecast as nf
from udfs.ndvi_forecast import HISTORY_STEPS

# A method: (windows (n, L) with NaN gaps, calendar month 0-11 of each window's first
# month (n,), horizon) -> (n,) forecasts; or the (n, 3) quantiles 10/50/90 %.
Method = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass
class Cases:
    """The cases of one history length and horizon: windows, targets and what they are."""

    windows: np.ndarray  # (n, L) float32, NaN gaps
    first: np.ndarray  # (n,) calendar month of the window's first month
    truth: np.ndarray  # (n,)
    target: np.ndarray  # (n,) index of the target month
    classes: np.ndarray  # (n,) class of the pixel


def cases(
    values: np.ndarray,
    months: np.ndarray,
    classes: np.ndarray,
    history: int,
    horizon: int,
    targets: np.ndarray,
) -> Cases | None:
    """Cases of a (months, pixels) series for the target months where `targets` (months,)
    is True; None where the series is too short for this history and horizon."""
    calendar = np.asarray(months, "datetime64[M]").astype(np.int64) % 12
    out = []
    for m in np.flatnonzero(targets):
        start = m - horizon - history + 1
        if start < 0:
            continue
        window = values[start : m - horizon + 1].T
        keep = np.isfinite(values[m]) & np.isfinite(window).any(axis=1)
        if keep.any():
            out.append((window[keep], values[m][keep], m, classes[keep], calendar[start]))
    if not out:
        return None
    return Cases(
        windows=np.concatenate([o[0] for o in out]).astype(np.float32),
        first=np.concatenate([np.full(len(o[1]), o[4]) for o in out]),
        truth=np.concatenate([o[1] for o in out]),
        target=np.concatenate([np.full(len(o[1]), o[2]) for o in out]),
        classes=np.concatenate([o[3] for o in out]),
    )


def by_first_month(method: Method) -> Method:
    """A method that takes one calendar month per call (a network's forecast) made into
    one that takes a calendar month per case."""

    def run(windows: np.ndarray, first: np.ndarray, horizon: int) -> np.ndarray:
        out: np.ndarray | None = None
        for month in np.unique(first):
            rows = first == month
            got = method(windows[rows], np.full(rows.sum(), month), horizon)
            if out is None:
                out = np.full((len(windows),) + got.shape[1:], np.nan, np.float32)
            out[rows] = got
        assert out is not None
        return out

    return run


def _baseline(base: Callable[[np.ndarray, int], np.ndarray]) -> Method:
    return lambda windows, first, horizon: base(windows, horizon)


def baselines() -> dict[str, Method]:
    """The product's baselines as methods of the scoring."""
    return {name: _baseline(base) for name, base in nf.BASELINES.items()}


def network(model: nf.NDVIModel, calibrate: bool = False) -> Method:
    """A model's (n, 3) quantiles of each case, its fallbacks applied; with `calibrate`,
    the range calibrated as ndvi_forecast does it with `uncertainty`: on the backtests of
    cases of the same calendar month (one cube), sampled as a cell of as many pixels is."""

    def run(windows: np.ndarray, first: np.ndarray, horizon: int) -> np.ndarray:
        sample = windows[:: nf.sample_stride(len(windows)) ** 2] if calibrate else None
        return model.forecast(windows, int(first[0]), horizon, sample)[:, horizon - 1]

    return by_first_month(run)


SHORT = {"persistence": "P", "damped_trend": "T", "seasonal": "S"}


def _coverage(by_h: dict, method: str) -> str:
    cover = [r["coverage"][method] for r in by_h.values()]
    return f"{min(cover):.2f}-{max(cover):.2f}"


def tables(results: dict, method: str, uncalibrated: str | None = None) -> str:
    """Markdown: per set, `method`'s MAE against the best baseline's by history length and
    horizon, and the 10-90 % range's coverage (and that of `uncalibrated`'s range)."""
    lines = []
    extra = ", calibrated, and as the network gives it" if uncalibrated else ""
    for split, rows in results.items():
        lines += [
            f"**{split}**: MAE of {method} / the best baseline (P persistence, T damped "
            f"trend, S seasonal naive); coverage of the 10-90 % range at h1-h6{extra}",
            "",
            "| history | cases (h1) | h1 | h2 | h3 | h4 | h5 | h6 | coverage |"
            + (" as trained |" if uncalibrated else ""),
            "|---|---|---|---|---|---|---|---|---|" + ("---|" if uncalibrated else ""),
        ]
        for history, by_h in rows.items():
            cells = []
            for h in range(1, nf.MAX_HORIZON + 1):
                row = by_h.get(h) or by_h.get(str(h))
                if row is None:
                    cells.append("-")
                    continue
                best = min(nf.BASELINES, key=lambda k: row["mae"][k])
                cells.append(f"{row['mae'][method]:.4f} / {row['mae'][best]:.4f} {SHORT[best]}")
            first = by_h.get(1) or by_h.get("1")
            lines.append(
                f"| {history} months | {first['n'] if first else 0:,} | "
                + " | ".join(cells)
                + f" | {_coverage(by_h, method)} |"
                + (f" {_coverage(by_h, uncalibrated)} |" if uncalibrated else "")
            )
        lines.append("")
    return "\n".join(lines)


def score(
    found: Cases, methods: dict[str, Method], horizon: int, class_names: dict[int, str]
) -> dict:
    """MAE (and the 10-90 % range's coverage, for methods giving quantiles) of every
    method on the cases, in all and per class."""
    row: dict = {"n": len(found.truth), "mae": {}, "coverage": {}, "by_class": {}}
    for name, method in methods.items():
        pred = method(found.windows, found.first, horizon)
        if pred.ndim == 2:
            row["coverage"][name] = float(
                ((pred[:, 0] <= found.truth) & (found.truth <= pred[:, 2])).mean()
            )
            pred = pred[:, 1]
        err = np.abs(pred - found.truth)
        row["mae"][name] = float(err.mean())
        for cls in np.unique(found.classes):
            rows = found.classes == cls
            entry = row["by_class"].setdefault(
                class_names.get(int(cls), str(cls)), {"n": int(rows.sum()), "mae": {}}
            )
            entry["mae"][name] = float(err[rows].mean())
    return row


def evaluate_set(
    values: np.ndarray,
    months: np.ndarray,
    classes: np.ndarray,
    targets: np.ndarray,
    methods: dict[str, Method],
    class_names: dict[int, str],
    histories: tuple[int, ...] = HISTORY_STEPS,
    horizons: tuple[int, ...] = (1, 2, 3, 4, 5, 6),
) -> dict:
    """{history: {horizon: score}} of a held-out set: (months, y, x) values, (y, x)
    classes, the target months (months,) it scores."""
    flat = values.reshape(values.shape[0], -1)
    flat_classes = classes.reshape(-1)
    result: dict = {}
    for history in histories:
        for horizon in horizons:
            found = cases(flat, months, flat_classes, history, horizon, targets)
            if found is not None:
                result.setdefault(history, {})[horizon] = score(
                    found, methods, horizon, class_names
                )
    return result
