"""gt, gte, lt, lte, eq, neq, between, is_nan: the openEO rules for scalars (null gives
null, NaN compares as IEEE 754 says, values of other types give false) before upstream's
numpy comparison of cubes."""

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
        if x is None or y is None:
            return None
        return bool(op(x, y)) if is_number(x) and is_number(y) else False

    compare.__name__ = name
    compare.__doc__ = (
        f"openEO {name}: null for null, false unless both are numbers (NaN "
        "compares false, as IEEE 754 says)."
    )
    return compare


gt = _ordering("gt", operator.gt, upstream.gt)
gte = _ordering("gte", operator.ge, upstream.gte)
lt = _ordering("lt", operator.lt, upstream.lt)
lte = _ordering("lte", operator.le, upstream.lte)


def eq(x: Any, y: Any, delta: float | None = None, case_sensitive: bool = True) -> Any:
    """openEO eq for scalars: null for null, NaN equal to nothing (IEEE 754), false for
    values of different types; cubes go to upstream's code."""
    if not is_plain(x, y):
        return upstream.eq(x, y, delta=delta, case_sensitive=case_sensitive)
    if x is None or y is None:
        return None
    if is_number(x) and is_number(y):
        return bool(abs(x - y) <= delta) if delta is not None else bool(x == y)
    if isinstance(x, str) and isinstance(y, str):
        return x == y if case_sensitive else x.lower() == y.lower()
    if isinstance(x, bool) and isinstance(y, bool):
        return x == y
    return False


def neq(x: Any, y: Any, delta: float | None = None, case_sensitive: bool = True) -> Any:
    """openEO neq: the negation of eq, null staying null."""
    if not is_plain(x, y):
        return upstream.neq(x, y, delta=delta, case_sensitive=case_sensitive)
    same = eq(x, y, delta, case_sensitive)
    return None if same is None else not same


def between(x: Any, min: Any, max: Any, exclude_max: bool = False) -> Any:
    """openEO between: null for no-data, false for anything but numbers."""
    if isinstance(x, list | tuple):
        return False  # a JSON array is not a number
    if not is_plain(x):
        return upstream.between(x, min, max, exclude_max)
    if x is None:
        return None
    if not (is_number(x) and is_number(min) and is_number(max)):
        return False
    return bool(min <= x < max) if exclude_max else bool(min <= x <= max)


def is_nan(x: Any) -> Any:
    """openEO is_nan: true for NaN, no-data and anything that is not a number."""
    if not is_plain(x):
        return upstream.is_nan(x)
    return is_nodata(x) or not is_number(x)


IMPLEMENTATIONS = {
    "gt": gt,
    "gte": gte,
    "lt": lt,
    "lte": lte,
    "eq": eq,
    "neq": neq,
    "between": between,
    "is_nan": is_nan,
}
