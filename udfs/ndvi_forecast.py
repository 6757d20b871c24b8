"""ndvi_forecast: NDVI for the coming months (forecast) or for cloudy months (gap filling).

An openEO Python UDF (`apply_datacube`) and the implementation of cropcube's
`ndvi_forecast` process. Per pixel, the monthly mean NDVI of clear observations (SCL
classes as monthly_composite masks them) goes through a bidirectional LSTM over a window
of `history` observed months plus 6 months to predict; every month of the window carries
(NDVI, clear flag, sine and cosine of the calendar month), and the network gives the
10 %, 50 % and 90 % quantiles of NDVI for every month. One network does both jobs:
forecasting is filling the 6 months after the last one, gap filling is filling the
cloudy months between clear ones; it is trained on both (training/ndvi_lstm.py). The
simple answers a forecast must beat (persistence, damped trend, seasonal naive) live here
too: a model falls back on one where it beat its network on validation (meta `fallbacks`).
The 10-90 % range is calibrated on each cell's own past, as split-conformal quantile
regression does it: its last months forecast (or clear months hidden and filled) from the
rest, and the range scaled to hold 80 % of them.
Self-contained (numpy, torch, xarray, dask), so the file also runs through the openeo
client's local UDF runner.
"""

import numpy as np
import torch
import xarray
from torch import nn

FORMAT = "cropcube-ndvi/1"
MODES = ("forecast", "gapfill")
MAX_HORIZON = 6
QUANTILES = (0.1, 0.5, 0.9)
# as monthly_composite: no data, defects, cloud shadow, clouds, cirrus, snow
MASK_CLASSES = (0, 1, 3, 8, 9, 10, 11)
RED_NAMES, NIR_NAMES = ("B04", "red"), ("B08", "nir")
BATCH = 8192  # windows per forward pass
N_INPUTS = 5  # per month: value, clear flag, linear interpolation, calendar sine and cosine
# The range is calibrated on the cube's own past: forecasts of its last months from the
# months before them, per cell of CELL x CELL px (aligned to the cube's first pixel, so
# chunking does not change it), from about SAMPLE of the cell's pixels (every k-th each way).
RANGE_LEVEL = 0.8  # share of the truths a 10-90 % range should hold
CELL, SAMPLE = 512, 4096
BACKTEST_ORIGINS = 6  # the last months forecast from, each with the months after it
MIN_SCORES = 100  # fewer backtested months: the network's own range
MIN_SCALE = 0.5  # a range narrows to half the network's at most
HIDE = 5  # gap filling is calibrated on 1 in HIDE clear months, hidden


class NDVINet(nn.Module):
    """(windows, months, 5) -> (windows, months, 3) NDVI quantiles 10/50/90 %.

    The median is a learnt correction to linear interpolation (persistence after the last
    clear month), so the network starts from the baselines rather than from nothing; the
    quantiles cannot cross: the median plus and minus a positive spread.
    """

    def __init__(
        self,
        hidden: int = 32,
        layers: int = 1,
        dropout: float = 0.1,
        history: int = 12,
        calendar: bool = True,
    ):
        super().__init__()
        self.config = {
            "hidden": hidden,
            "layers": layers,
            "dropout": dropout,
            "history": history,
            "calendar": calendar,
        }
        self.lstm = nn.LSTM(
            N_INPUTS if calendar else N_INPUTS - 2,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, 3))

    @property
    def window(self) -> int:
        return self.config["history"] + MAX_HORIZON

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x if self.config["calendar"] else x[..., : N_INPUTS - 2])
        raw = self.head(out)
        median = x[..., 2] + raw[..., 1]  # a correction to linear interpolation
        low = median - nn.functional.softplus(raw[..., 0])
        high = median + nn.functional.softplus(raw[..., 2])
        return torch.stack([low, median, high], dim=-1)


def interpolate(values: np.ndarray) -> np.ndarray:
    """(windows, months) with NaN gaps -> linear interpolation between the clear months of
    each window, the nearest clear month beyond them (persistence after the last), 0 in a
    window without any."""
    n, size = values.shape
    clear = np.isfinite(values)
    step = np.arange(size)
    prev = np.maximum.accumulate(np.where(clear, step, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(clear, step, size)[:, ::-1], axis=1)[:, ::-1]
    vp = np.take_along_axis(values, np.clip(prev, 0, size - 1), axis=1)
    vn = np.take_along_axis(values, np.clip(nxt, 0, size - 1), axis=1)
    has_p, has_n = prev >= 0, nxt < size
    with np.errstate(invalid="ignore", divide="ignore"):
        between = vp + (step - prev) / (nxt - prev) * (vn - vp)
    out = np.where(has_p & has_n, between, np.where(has_p, vp, np.where(has_n, vn, 0.0)))
    return np.where(clear, values, out)


def last_clear(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, months) with NaN gaps -> the last clear value of each window and its index
    (NaN and -1 in a window without any)."""
    size = windows.shape[1]
    idx = np.maximum.accumulate(np.where(np.isfinite(windows), np.arange(size), -1), axis=1)
    last = idx[:, -1]
    value = np.take_along_axis(windows, np.clip(last, 0, None)[:, None], axis=1)[:, 0]
    return np.where(last >= 0, value, np.nan), last


def persistence(windows: np.ndarray) -> np.ndarray:
    """The last clear month of each window, for every month ahead."""
    return last_clear(windows)[0]


def damped_trend(windows: np.ndarray, horizon: int, phi: float) -> np.ndarray:
    """The last clear month plus the slope from the clear month before it, damped by phi
    each month after the last clear one (Gardner's damped trend); persistence where the
    window has one clear month."""
    value, last = last_clear(windows)
    before = np.where(np.arange(windows.shape[1]) < last[:, None], windows, np.nan)
    prev, first = last_clear(before)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(first >= 0, (value - prev) / (last - first), 0.0)
    steps = windows.shape[1] - 1 - last + horizon
    damping = phi * (1 - phi**steps) / (1 - phi) if phi < 1 else steps.astype(float)
    return np.clip(value + slope * damping, -1.0, 1.0)


def seasonal(windows: np.ndarray, horizon: int) -> np.ndarray:
    """The mean of the window's clear months in the target's calendar month (12, 24, ...
    months before it); persistence where the window holds none (seasonal naive)."""
    size = windows.shape[1]
    same = windows[:, (size - 1 - np.arange(size) + horizon) % 12 == 0]
    count = np.isfinite(same).sum(axis=1)
    found = np.nansum(same, axis=1) / np.maximum(count, 1)
    return np.where(count > 0, found, persistence(windows))


# The simple answers a forecast must beat, by the names a model's fallbacks use.
TREND_DAMPING = 0.3
BASELINES = {
    "persistence": lambda windows, horizon: persistence(windows),
    "damped_trend": lambda windows, horizon: damped_trend(windows, horizon, TREND_DAMPING),
    "seasonal": seasonal,
}
HISTORY_STEPS = (2, 3, 6, 12, 24)  # history lengths (months) fallbacks are chosen for


def history_step(months: int) -> int:
    """The history length, of HISTORY_STEPS, that a cube of `months` months counts as."""
    return max([s for s in HISTORY_STEPS if s <= months] or [HISTORY_STEPS[0]])


def encode(values: np.ndarray, calendar: np.ndarray) -> np.ndarray:
    """(windows, months) NDVI with NaN gaps, (windows, months) or (months,) calendar month
    0-11 -> (windows, months, 5) float32 network input: value (0 in gaps), clear flag,
    linear interpolation, sine and cosine of the calendar month."""
    clear = np.isfinite(values)
    angle = 2 * np.pi * np.broadcast_to(calendar, values.shape) / 12.0
    return np.stack(
        [np.where(clear, values, 0.0), clear, interpolate(values), np.sin(angle), np.cos(angle)],
        axis=-1,
    ).astype(np.float32)


def range_scores(q: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(n, 3) quantiles, (n,) truths -> how far each truth lies from the median in units of
    the range's half on its side: at most 1 inside the 10-90 % range, 2 at twice its
    width (the conformity score of conformalised quantile regression, scaled)."""
    below = (q[:, 1] - truth) / np.maximum(q[:, 1] - q[:, 0], 1e-6)
    above = (truth - q[:, 1]) / np.maximum(q[:, 2] - q[:, 1], 1e-6)
    return np.maximum(below, above)


def range_scale(scores: np.ndarray, level: float = RANGE_LEVEL) -> float:
    """The factor that makes a range hold `level` of the backtested truths (the split
    conformal quantile); 1 with fewer than MIN_SCORES of them."""
    n = len(scores)
    if n < MIN_SCORES:
        return 1.0
    return max(float(np.quantile(scores, min(1.0, level * (n + 1) / n))), MIN_SCALE)


def widen(q: np.ndarray, scale: float) -> np.ndarray:
    """(..., 3) quantiles with both halves of the range times `scale` about the median."""
    out = q.copy()
    out[..., 0] = q[..., 1] - scale * (q[..., 1] - q[..., 0])
    out[..., 2] = q[..., 1] + scale * (q[..., 2] - q[..., 1])
    return out


class NDVIModel:
    """A trained NDVINet with what it was trained on (meta)."""

    def __init__(self, network: NDVINet, meta: dict | None = None):
        self.network = network.eval()
        self.meta = dict(meta or {})

    @property
    def history(self) -> int:
        return self.network.config["history"]

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "config": self.network.config,
            "meta": self.meta,
            "state_dict": self.network.state_dict(),
        }

    def stac_mlm(self) -> dict:
        """This model's STAC MLM fields: name, architecture, task, inputs and outputs."""
        window = self.network.window
        return {
            "mlm:name": "cropcube NDVI forecaster",
            "mlm:architecture": "bidirectional LSTM",
            "mlm:tasks": ["regression"],
            "mlm:input": [
                {
                    "name": "monthly NDVI",
                    "bands": ["NDVI"],
                    "input": {
                        "shape": [-1, window, 5],
                        "dim_order": ["batch", "time", "channel"],
                        "data_type": "float32",
                    },
                    "description": f"{window} months of (NDVI, clear flag, linear interpolation, "
                    "calendar sine, cosine); gaps have flag 0",
                }
            ],
            "mlm:output": [
                {
                    "name": "NDVI quantiles",
                    "tasks": ["regression"],
                    "result": {
                        "shape": [-1, window, 3],
                        "dim_order": ["batch", "time", "quantile"],
                        "data_type": "float32",
                    },
                    "description": "10, 50 and 90 % quantiles of NDVI in every month of the window",
                }
            ],
        }

    def save(self, path) -> None:
        torch.save(self.to_dict(), path)

    @classmethod
    def from_dict(cls, blob: dict) -> "NDVIModel":
        if blob.get("format") != FORMAT:
            raise ValueError(f"not a cropcube NDVI model (format {blob.get('format')!r})")
        network = NDVINet(**blob["config"])
        network.load_state_dict(blob["state_dict"])
        return cls(network, blob.get("meta"))

    @classmethod
    def load(cls, path) -> "NDVIModel":
        return cls.from_dict(torch.load(path, map_location="cpu", weights_only=True))

    def quantiles(self, windows: np.ndarray, calendar: np.ndarray) -> np.ndarray:
        """(n, window) NDVI with NaN gaps and their calendar months -> (n, window, 3)."""
        out = np.empty(windows.shape + (3,), np.float32)
        with torch.inference_mode():
            for i in range(0, len(windows), BATCH):
                x = encode(
                    windows[i : i + BATCH],
                    calendar if calendar.ndim == 1 else calendar[i : i + BATCH],
                )
                out[i : i + BATCH] = self.network(torch.from_numpy(x)).numpy()
        return out

    def forecast(
        self,
        series: np.ndarray,
        first_month: int,
        horizon: int,
        calibration: "np.ndarray | None" = None,
    ) -> np.ndarray:
        """(pixels, months) monthly NDVI, the calendar month (0-11) of its first month ->
        (pixels, horizon, 3) quantiles of the `horizon` months after the last one.

        Where the model's meta names a fallback for this history length and horizon (a
        baseline that beat the network on validation), the range is centred on it. With
        `calibration` (pixels of the same months, the cube's or a sample of it), the range
        is scaled to hold RANGE_LEVEL of their backtested months; where too few months can
        be backtested (a 2-month cube), by the model's meta `range_scales` (chosen on its
        validation data) for this history length and horizon, if any."""
        n, months = series.shape
        hist = self.history
        window = np.full((n, self.network.window), np.nan, np.float32)
        take = min(hist, months)
        window[:, hist - take : hist] = series[:, months - take :]
        calendar = (first_month + months - hist + np.arange(self.network.window)) % 12
        out = self.quantiles(window, calendar)[:, hist : hist + horizon]
        fallbacks = self.meta.get("fallbacks", {}).get(str(history_step(months)), {})
        for h in range(1, horizon + 1):
            name = fallbacks.get(str(h))
            if name:  # a baseline beat the network here on validation: centre on it
                base = BASELINES[name](series[:, months - take :], h)
                out[:, h - 1] += (base - out[:, h - 1, 1])[:, None]
        if calibration is not None:
            scores = self.backtest(calibration, first_month)
            prior = self.meta.get("range_scales", {}).get(str(history_step(months)), {})
            for h in range(1, horizon + 1):  # the nearest horizon backtested often enough
                near = [s for s in scores[:h] if len(s) >= MIN_SCORES]
                scale = range_scale(near[-1]) if near else float(prior.get(str(h), 1.0))
                out[:, h - 1] = widen(out[:, h - 1], scale)
        return out

    def backtest(self, series: np.ndarray, first_month: int) -> list[np.ndarray]:
        """Range scores (range_scores) of the series' own clear months forecast from the
        months before them, per horizon 1-6: from each of the last BACKTEST_ORIGINS months
        that leave a month after it (and 2 or more before)."""
        months = series.shape[1]
        scores: list[list[np.ndarray]] = [[np.empty(0, np.float32)] for _ in range(MAX_HORIZON)]
        for origin in range(months - 2, 0, -1)[:BACKTEST_ORIGINS]:
            past = series[:, : origin + 1]
            seen = np.isfinite(past).any(axis=1)
            ahead = min(MAX_HORIZON, months - 1 - origin)
            truth = series[seen, origin + 1 : origin + 1 + ahead]
            if not np.isfinite(truth).any():
                continue
            q = self.forecast(past[seen], first_month, ahead)
            for h in range(ahead):
                clear = np.isfinite(truth[:, h])
                scores[h].append(range_scores(q[clear, h], truth[clear, h]))
        return [np.concatenate(s) for s in scores]

    def gapfill(
        self, series: np.ndarray, first_month: int, calibration: "np.ndarray | None" = None
    ) -> np.ndarray:
        """(pixels, months) -> (pixels, months, 3) quantiles of every month, each from the
        window that holds it nearest its centre. With `calibration` (pixels of the same
        months), the range is scaled to hold RANGE_LEVEL of their clear months hidden."""
        out = self._gapfill(series, first_month)
        if calibration is not None:
            out = widen(out, self.gap_scale(calibration, first_month))
        return out

    def gap_scale(self, series: np.ndarray, first_month: int) -> float:
        """The factor for gap filling's range: from the range scores of 1 in HIDE of the
        series' clear months, hidden and filled (those whose pixel and month indices sum to
        a multiple of HIDE)."""
        clear = np.isfinite(series)
        hide = clear & ((np.arange(len(series))[:, None] + np.arange(series.shape[1])) % HIDE == 0)
        rows = hide.any(axis=1) & (clear & ~hide).any(axis=1)
        if not rows.any():
            return 1.0
        q = self._gapfill(np.where(hide, np.nan, series)[rows], first_month)
        return range_scale(range_scores(q[hide[rows]], series[rows][hide[rows]]))

    def _gapfill(self, series: np.ndarray, first_month: int) -> np.ndarray:
        n, months = series.shape
        size = self.network.window
        starts = sorted(
            set(range(0, max(months - size, 0) + 1, MAX_HORIZON)) | {max(months - size, 0)}
        )
        centre = np.array(starts) + size / 2
        nearest = np.abs(np.arange(months)[:, None] - centre[None]).argmin(axis=1)
        out = np.empty((n, months, 3), np.float32)
        for k, start in enumerate(starts):
            window = np.full((n, size), np.nan, np.float32)
            stop = min(start + size, months)
            window[:, : stop - start] = series[:, start:stop]
            calendar = (first_month + start + np.arange(size)) % 12
            q = self.quantiles(window, calendar)
            for m in np.flatnonzero(nearest == k):
                out[:, m] = q[:, m - start]
        return out


def bundled(name: str) -> NDVIModel:
    """A model shipped in udfs/models/ndvi_<name>/ (e.g. 'eolearn'), loaded once per process.

    Bundled models live in the installed package (udfs/models), so this needs it.
    """
    from udfs import bundles

    return bundles.load("ndvi", name, NDVIModel.load)


def _band(cube: xarray.DataArray, names: tuple) -> "xarray.DataArray | None":
    have = [str(b) for b in cube["bands"].values]
    for name in names:
        if name in have:
            return cube.sel(bands=name, drop=True)
    return None


def ndvi_of(cube: xarray.DataArray) -> xarray.DataArray:
    """(t, bands, y, x) -> (t, y, x) NDVI: the NDVI band, or from red and near infrared;
    NaN where an SCL band (if any) marks the observation as not clear."""
    missing = [d for d in ("t", "bands", "y", "x") if d not in cube.dims]
    if missing:
        raise ValueError(
            f"the cube lacks the dimension(s) {missing}; ndvi_forecast needs t, bands, y and x"
        )
    cube = cube.transpose("t", "bands", "y", "x")
    ndvi = _band(cube, ("NDVI", "ndvi"))
    if ndvi is None:
        red, nir = _band(cube, RED_NAMES), _band(cube, NIR_NAMES)
        if red is None or nir is None:
            raise ValueError(
                "the cube needs an NDVI band, or red (B04) and near-infrared "
                f"(B08) bands; it has {[str(b) for b in cube['bands'].values]}"
            )
        ndvi = (nir - red) / (nir + red)
    scl = _band(cube, ("SCL",))
    if scl is not None:
        ndvi = ndvi.where(~scl.isin(MASK_CLASSES))
    return ndvi.astype(np.float32)


def monthly(ndvi: xarray.DataArray) -> xarray.DataArray:
    """Monthly mean of the clear (finite) observations, every month from the first date's
    to the last date's (NaN without one); month-start t labels."""
    out = ndvi.resample(t="MS").mean()
    return out.chunk({"t": -1}) if out.chunks else out


def sample_stride(pixels: int) -> int:
    """Every how many pixels, each way, a cell of `pixels` is backtested: about SAMPLE."""
    return max(1, int(np.sqrt(pixels / SAMPLE)))


def _pixels(block: np.ndarray) -> np.ndarray:
    """(months, y, x) -> (pixels, months) float32."""
    return np.ascontiguousarray(block.reshape(block.shape[0], -1).T, np.float32)


def _quantiles(
    block: np.ndarray, model: NDVIModel, mode: str, horizon: int, first_month: int, calibrate: bool
) -> np.ndarray:
    """(months, y, x) -> (out months, 3, y, x) quantiles; calibrated on the block's own
    past (about SAMPLE pixels of it) if asked."""
    months, ny, nx = block.shape
    series = _pixels(block)
    seen = np.isfinite(series).any(axis=1)
    steps = horizon if mode == "forecast" else months
    q = np.full((len(series), steps, 3), np.nan, np.float32)
    if seen.any():
        k = sample_stride(ny * nx)
        sample = _pixels(block[:, ::k, ::k]) if calibrate else None
        if mode == "forecast":
            q[seen] = model.forecast(series[seen], first_month, horizon, sample)
        else:
            q[seen] = model.gapfill(series[seen], first_month, sample)
            clear = np.isfinite(series)  # observed months keep their value
            q[clear] = series[clear][:, None]
    return q.transpose(1, 2, 0).reshape(steps, 3, ny, nx)


def predict_block(
    block: np.ndarray,
    model: NDVIModel,
    mode: str,
    horizon: int,
    first_month: int,
    uncertainty: bool,
) -> np.ndarray:
    """(months, y, x) monthly NDVI -> (out months, bands, y, x): NDVI, then q10 and q90.

    The range is calibrated per CELL x CELL cell; the block must start on a cell's corner
    (forecast() chunks the cube so)."""
    torch.set_num_threads(1)  # blocks run in parallel
    size = CELL if uncertainty else max(*block.shape[1:], 1)  # without a range: one piece
    steps = horizon if mode == "forecast" else block.shape[0]
    q = np.empty((steps, 3) + block.shape[1:], np.float32)
    for y in range(0, block.shape[1], size):
        for x in range(0, block.shape[2], size):
            q[..., y : y + size, x : x + size] = _quantiles(
                block[:, y : y + size, x : x + size], model, mode, horizon, first_month, uncertainty
            )
    return q[:, [1, 0, 2] if uncertainty else [1]]


def forecast(
    cube: xarray.DataArray,
    model: "NDVIModel | str" = "mixed",
    horizon: int = 6,
    mode: str = "forecast",
    uncertainty: bool = False,
) -> xarray.DataArray:
    """NDVI of the `horizon` months after the cube's last month, or of every month of its
    range; lazy and chunked along x and y when the cube is dask-backed."""
    import dask.array as da
    import pandas as pd

    if isinstance(model, str):
        model = bundled(model)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}")
    if not isinstance(horizon, int) or not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be an integer from 1 to {MAX_HORIZON}")
    series = monthly(ndvi_of(cube))
    starts = pd.DatetimeIndex(series["t"].values)
    first_month = starts[0].month - 1
    if mode == "forecast":
        labels = pd.date_range(starts[-1] + pd.offsets.MonthBegin(1), periods=horizon, freq="MS")
    else:
        labels = starts
    bands = ["NDVI", "NDVI_q10", "NDVI_q90"] if uncertainty else ["NDVI"]
    args = (model, mode, horizon, first_month, bool(uncertainty))
    data = series.data
    if isinstance(data, da.Array) and uncertainty:
        # blocks of whole calibration cells, aligned to the first pixel
        data = data.rechunk({1: _cells(data.chunks[1]), 2: _cells(data.chunks[2])})
    if isinstance(data, da.Array):
        result = da.map_blocks(
            predict_block,
            data,
            *args,
            dtype=np.float32,
            new_axis=1,
            chunks=((len(labels),), (len(bands),), data.chunks[1], data.chunks[2]),
        )
    else:
        result = predict_block(np.asarray(data, np.float32), *args)
    coords = {k: v for k, v in series.coords.items() if k != "t" and "t" not in v.dims}
    coords.update({"t": labels.values, "bands": bands})
    return xarray.DataArray(
        result,
        dims=("t", "bands", "y", "x"),
        coords=coords,
        attrs=dict(cube.attrs),
        name="ndvi_forecast",
    )


def _cells(chunks: tuple[int, ...]) -> int:
    """A chunk size of whole calibration cells near the largest of `chunks`."""
    return CELL * max(1, round(max(chunks) / CELL))


def apply_datacube(cube: xarray.DataArray, context: dict) -> xarray.DataArray:
    """openEO UDF entry point; context: model (bundled name or path to a model.pt),
    horizon, mode, uncertainty (see the process spec)."""
    context = dict(context or {})
    model = context.pop("model", "mixed")
    if isinstance(model, str) and model.endswith(".pt"):
        model = NDVIModel.load(model)
    return forecast(cube, model, **context)
