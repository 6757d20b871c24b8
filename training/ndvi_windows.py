"""Training windows for NDVI forecasting from monthly series with gaps.

A window ends at a forecast origin month o: its input is the `history` months up to and
including o (value, and a 0/1 flag for whether the month was clear), its targets the
`horizons` months after o (NaN where not clear: those are left out of the loss and of the
scores). The value of a gap month in the input is 0 with flag 0, so the network sees the
gap rather than a made-up number.
"""

from __future__ import annotations

import numpy as np


def windows(values: np.ndarray, history: int = 12, horizons: int = 6
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(months, y, x) -> inputs (n, history, 2), targets (n, horizons), index (n, 2) of
    origin month and pixel.

    One window per pixel and origin with at least one clear month in its input and one
    clear target; the pixel index is in the order of (y, x) flattened, origin-major.
    """
    months = values.shape[0]
    flat = values.reshape(months, -1).T  # (pixels, months)
    clear = np.isfinite(flat)
    inputs, targets, origins, pixels = [], [], [], []
    for origin in range(history - 1, months - 1):
        past = flat[:, origin - history + 1:origin + 1]
        future = np.full((flat.shape[0], horizons), np.nan)
        ahead = flat[:, origin + 1:origin + 1 + horizons]
        future[:, :ahead.shape[1]] = ahead
        keep = clear[:, origin - history + 1:origin + 1].any(axis=1) & \
            np.isfinite(future).any(axis=1)
        x = np.stack([np.nan_to_num(past, nan=0.0), np.isfinite(past)], axis=-1)
        inputs.append(x[keep])
        targets.append(future[keep])
        origins.append(np.full(int(keep.sum()), origin))
        pixels.append(np.flatnonzero(keep))
    return (np.concatenate(inputs).astype(np.float32), np.concatenate(targets),
            np.stack([np.concatenate(origins), np.concatenate(pixels)], axis=1))
