"""gt, gte, lt, lte, between, is_nan: the openEO rules for scalars (no-data gives null,
anything but two numbers gives false) before upstream's numpy comparison."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from openeo_processes_dask.process_implementations import comparison as upstream

from processes.standard._values import is_nodata, is_number, is_plain


def _ordering(name: str, op: Callable[[Any, Any], bool], cube: Callable[..., Any]):
    def compare(x: Any, y: Any) -> Any:
        if not is_plain(x, y):
            return cube(x, y)
        if is_nodata(x) or is_nodata(y):
            return None
        return bool(op(x, y)) if is_number(x) and is_number(y) else False

    compare.__name__ = name
    compare.__doc__ = f"openEO {name}: null for no-data, false unless both are numbers."
    return compare


gt = _ordering("gt", operator.gt, upstream.gt)
gte = _ordering("gte", operator.ge, upstream.gte)
lt = _ordering("lt", operator.lt, upstream.lt)
lte = _ordering("lte", operator.le, upstream.lte)


def between(x: Any, min: Any, max: Any, exclude_max: bool = False) -> Any:
    """openEO between: null for no-data, false for anything but numbers."""
    if isinstance(x, list | tuple):
        return False  # a JSON array is not a number
    if not is_plain(x):
        return upstream.between(x, min, max, exclude_max)
    if is_nodata(x):
        return None
    if not (is_number(x) and is_number(min) and is_number(max)):
        return False
    return bool(min <= x < max) if exclude_max else bool(min <= x <= max)


def is_nan(x: Any) -> Any:
    """openEO is_nan: true for NaN, no-data and anything that is not a number."""
    if not is_plain(x):
        return upstream.is_nan(x)
    return is_nodata(x) or not is_number(x)


IMPLEMENTATIONS = {"gt": gt, "gte": gte, "lt": lt, "lte": lte, "between": between,
                   "is_nan": is_nan}
