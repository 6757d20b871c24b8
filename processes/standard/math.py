"""Reducers on empty arrays (null, not numpy's error), power and mod with no-data and a
zero divisor as the openEO specs define them, `if` with a no-data condition."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from openeo_processes_dask.process_implementations import logic as upstream_logic
from openeo_processes_dask.process_implementations import math as upstream

from core.errors import OpenEOError
from processes.standard._values import is_nodata, is_plain


class DivisionByZero(OpenEOError):
    code = "DivisionByZero"
    status = 400
    default_message = "Division by zero is not supported."


def _empty(data: Any) -> bool:
    return isinstance(data, list | tuple | np.ndarray) and np.size(data) == 0


def _reducer(name: str, upstream_func: Callable[..., Any], empty: Any = None):
    def reduce(
        data: Any, ignore_nodata: bool = True, axis: int | None = None, keepdims: bool = False
    ) -> Any:
        if _empty(data):
            return empty
        return upstream_func(data, ignore_nodata=ignore_nodata, axis=axis, keepdims=keepdims)

    reduce.__name__ = name
    reduce.__doc__ = f"openEO {name}: upstream's, null for an empty array."
    return reduce


sum = _reducer("sum", upstream._sum)  # noqa: A001 - the process is called sum
product = _reducer("product", upstream.product)
max = _reducer("max", upstream._max)  # noqa: A001
min = _reducer("min", upstream._min)  # noqa: A001


def extrema(
    data: Any, ignore_nodata: bool = True, axis: int | None = None, keepdims: bool = False
) -> Any:
    """Minimum and maximum; over an axis of a cube (apply_dimension) both in that axis'
    place, where upstream returns one array of two whatever the axis."""
    if _empty(data):
        return [None, None]
    if axis is None:
        return [
            upstream._min(data, ignore_nodata=ignore_nodata),
            upstream._max(data, ignore_nodata=ignore_nodata),
        ]
    low = upstream._min(data, ignore_nodata=ignore_nodata, axis=axis, keepdims=True)
    high = upstream._max(data, ignore_nodata=ignore_nodata, axis=axis, keepdims=True)
    return np.concatenate([low, high], axis=axis)


def power(base: Any, p: Any) -> Any:
    """base ** p; null in either is null (NaN computes as IEEE 754 says)."""
    if is_plain(base, p) and (base is None or p is None):
        return None
    return upstream.power(base, p)


def mod(x: Any, y: Any) -> Any:
    """Remainder with the sign of the divisor; a zero divisor is DivisionByZero."""
    if is_plain(x, y):
        if x is None or y is None:
            return None
        if y == 0:
            raise DivisionByZero()
    return upstream.mod(x, y)


def if_(value: Any, accept: Any, reject: Any = None) -> Any:
    """accept where value is true; reject where it is false or no-data."""
    if is_plain(value):
        return accept if value is True or (not is_nodata(value) and bool(value)) else reject
    return upstream_logic._if(value, accept, np.nan if reject is None else reject)


def all_(data: Any, ignore_nodata: bool = True, axis: int | None = None) -> Any:
    """openEO all: null for an empty array."""
    return None if _empty(data) else upstream_logic._all(data, ignore_nodata, axis)


def any_(data: Any, ignore_nodata: bool = True, axis: int | None = None) -> Any:
    """openEO any: null for an empty array."""
    return None if _empty(data) else upstream_logic._any(data, ignore_nodata, axis)


IMPLEMENTATIONS = {
    "sum": sum,
    "product": product,
    "max": max,
    "min": min,
    "extrema": extrema,
    "power": power,
    "mod": mod,
    "if": if_,
    "all": all_,
    "any": any_,
}
