"""Digital numbers to float32 cube values in one pass: each output pixel taken from its
source pixel (nearest, k output pixels per source pixel), scaled and offset per date,
no-data to NaN. Every loaded band goes through it, so it is a compiled loop (numba, no
GIL) writing straight into the cube's block, not a chain of numpy passes and copies."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _convert(raw, rows, cols, scale, offset, nodata, masked, out):  # pragma: no cover
    for t in range(out.shape[0]):
        s, o = scale[t], offset[t]
        for y in range(out.shape[1]):
            src, dst = raw[t, rows[y]], out[t, y]
            for x in range(out.shape[2]):
                v = src[cols[x]]
                dst[x] = np.nan if masked and v == nodata else np.float32(v) * s + o


def convert_into(
    out: np.ndarray,
    raw: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    nodata: float | None,
    k: int = 1,
    dy: int = 0,
    dx: int = 0,
) -> np.ndarray:
    """out[t, y, x] = raw[t, (y + dy) // k, (x + dx) // k] * scale[t] + offset[t], NaN where
    raw is `nodata` (None: nothing is masked)."""
    masked = nodata is not None
    _convert(
        raw,
        (np.arange(out.shape[1]) + dy) // k,
        (np.arange(out.shape[2]) + dx) // k,
        np.asarray(scale, np.float32),
        np.asarray(offset, np.float32),
        raw.dtype.type(nodata if masked else 0),
        masked,
        out,
    )
    return out


def to_reflectance(
    raw: np.ndarray, scale: np.ndarray, offset: np.ndarray, nodata: float | None
) -> np.ndarray:
    """A (t, y, x) block of digital numbers as a new float32 block."""
    return convert_into(np.empty(raw.shape, np.float32), raw, scale, offset, nodata)
