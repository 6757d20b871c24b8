"""Training the NDVI forecaster of ndvi_forecast on monthly NDVI series with gaps.

Every batch is fresh random windows of `history + 6` months from the training pixels:
forecast windows hide their last 6 months (and, with `min_history`, see only the last L of
their history months, L drawn from it to `history`, as cubes of any length give them),
gap-filling windows hide a share of their clear months (and now and then a run of 2-4
months, as a cloudy season does). Windows start in every month and may overhang the
series (the overhang is a gap), so short series and their first months are used too.
Several series (places, data sets) with their own first months share every batch equally.
The loss is the pinball loss of the 10/50/90 % quantiles on the hidden clear months only;
early stopping on the median's MAE over fixed validation windows.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from training.config import NDVIConfig
from training.early_stopping import EarlyStopping
from udfs.ndvi_forecast import MAX_HORIZON, QUANTILES, NDVIModel, NDVINet, encode


def sample_windows(
    series: np.ndarray,
    first_month: int,
    rng: np.random.Generator,
    n: int,
    history: int,
    forecast_share: float = 0.5,
    gap_fraction: float = 0.2,
    min_history: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels, months) -> inputs (n, window) with NaN gaps, targets (n, window) NaN but
    at hidden clear months, calendar months (n, window). `min_history`: forecast windows
    see the last L history months only, L uniform from it to `history`."""
    pixels, months = series.shape
    size = history + MAX_HORIZON
    pad = size
    padded = np.full((pixels, months + 2 * pad), np.nan, np.float32)
    padded[:, pad : pad + months] = series
    is_forecast = rng.random(n) < forecast_share
    # forecast: >= 3 months of history in the series and >= 1 target; gap filling: >= 3
    low = np.where(is_forecast, 3 - history, 3 - size)
    high = np.where(is_forecast, months - 1 - history, months - 3)
    start = low + (rng.random(n) * (high - low + 1)).astype(np.int64)
    cols = pad + start[:, None] + np.arange(size)
    values = padded[rng.integers(0, pixels, n)[:, None], cols]
    clear = np.isfinite(values)
    hide = rng.random(values.shape) < gap_fraction
    runs = rng.random(n) < 0.3
    run_start = rng.integers(0, size - 1, n)
    run_len = rng.integers(2, 5, n)
    position = np.arange(size)
    hide |= (
        runs[:, None]
        & (position >= run_start[:, None])
        & (position < (run_start + run_len)[:, None])
    )
    hide[is_forecast] = position >= history
    hide &= clear
    inputs = np.where(hide, np.nan, values)
    if min_history is not None:
        seen = rng.integers(min_history, history + 1, n)
        inputs[is_forecast[:, None] & (position < (history - seen)[:, None])] = np.nan
    targets = np.where(hide, values, np.nan)
    calendar = (first_month + start[:, None] + position) % 12
    return inputs, targets, calendar


def _loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    known = torch.isfinite(target)
    if not known.any():
        return pred.sum() * 0.0
    err = target[known][:, None] - pred[known]
    q = torch.tensor(QUANTILES, dtype=pred.dtype)
    return torch.maximum(q * err, (q - 1) * err).mean()


def _tensors(inputs, targets, calendar) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(encode(inputs, calendar)),
        torch.from_numpy(targets.astype(np.float32)),
    )


Series = tuple[np.ndarray, int]  # (pixels, months) monthly NDVI, calendar month of its first


def sample_parts(
    parts: list[Series], rng: np.random.Generator, n: int, **kw: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sample_windows of n windows shared equally between the series, concatenated."""
    shares = np.diff(np.linspace(0, n, len(parts) + 1).round().astype(int))
    drawn = [
        sample_windows(series, first, rng, int(k), **kw)
        for (series, first), k in zip(parts, shares, strict=True)
    ]
    return tuple(np.concatenate(a) for a in zip(*drawn, strict=True))  # type: ignore[return-value]


def fit(
    train: list[Series],
    val: list[Series],
    config: NDVIConfig,
    meta: dict | None = None,
    progress: bool = False,
) -> tuple[NDVIModel, list[dict]]:
    """Train on the series of `train` (pixels, months, each with its first calendar
    month), stop early on `val`'s."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    net = NDVINet(
        hidden=config.hidden,
        layers=config.layers,
        dropout=config.dropout,
        history=config.history,
        calendar=config.calendar,
    )
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    kw = {
        "history": config.history,
        "forecast_share": config.forecast_share,
        "gap_fraction": config.gap_fraction,
        "min_history": config.min_history or None,
    }
    xv, yv = _tensors(*sample_parts(val, np.random.default_rng(config.seed + 1), 20000, **kw))
    known = torch.isfinite(yv)
    stopper, history = EarlyStopping(config.patience, higher_is_better=False), []
    for epoch in tqdm(range(config.epochs), desc="ndvi", unit="epoch", disable=not progress):
        net.train()
        total = 0.0
        for _ in range(config.steps):
            x, y = _tensors(*sample_parts(train, rng, config.batch_size, **kw))
            optimiser.zero_grad()
            loss = _loss(net(x), y)
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
        net.eval()
        with torch.inference_mode():
            mae = float((net(xv)[..., 1][known] - yv[known]).abs().mean())
        history.append({"epoch": epoch + 1, "loss": total / config.steps, "val_mae": mae})
        if stopper.update(mae, net):
            break
    stopper.restore(net)
    info = {
        "config": asdict(config),
        "epochs_run": len(history),
        "best_val_mae": stopper.best_score,
        **(meta or {}),
    }
    return NDVIModel(net, info), history


def fit_cube(
    values: np.ndarray,
    first_month: int,
    config: NDVIConfig,
    meta: dict | None = None,
    progress: bool = False,
    block_px: int = 32,
) -> tuple[NDVIModel, list[dict]]:
    """Train on every pixel of (months, y, x) monthly NDVI with 3 or more clear months;
    blocks of block_px go to training (80 %) or validation (20 %), so neighbours of a
    training pixel do not validate it."""
    months, ny, nx = values.shape
    flat = values.reshape(months, -1).T.astype(np.float32)
    yy, xx = np.indices((ny, nx))
    blocks = ((yy // block_px) * (nx // block_px + 1) + xx // block_px).ravel()
    seen = np.isfinite(flat).sum(axis=1) >= 3
    rng = np.random.default_rng(config.seed)
    unique = np.unique(blocks)
    is_val = np.isin(blocks, unique[rng.random(len(unique)) < 0.2])
    if not (is_val & seen).any() or is_val[seen].all():  # too few blocks: split pixels
        is_val = rng.random(len(blocks)) < 0.2
    info = {
        "pixels": int(seen.sum()),
        "months": months,
        "split": f"{block_px} px blocks, 80/20 train/validation",
        **(meta or {}),
    }
    return fit(
        [(flat[seen & ~is_val], first_month)],
        [(flat[seen & is_val], first_month)],
        config,
        meta=info,
        progress=progress,
    )
