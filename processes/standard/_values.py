"""What the overrides share: telling plain JSON values from cubes and no-data from data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def is_plain(*values: Any) -> bool:
    """True when no value is an array or cube (the scalar rules of the openEO specs apply)."""
    return all(
        not isinstance(v, list | tuple | np.ndarray)
        and not hasattr(v, "dims")
        and not hasattr(v, "compute")
        for v in values
    )


def is_nodata(value: Any) -> bool:
    """null, or the NaN that stands for it inside this backend."""
    if isinstance(value, np.generic):
        value = value.item()
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_number(value: Any) -> bool:
    if isinstance(value, np.generic):
        value = value.item()
    return isinstance(value, int | float) and not isinstance(value, bool)
