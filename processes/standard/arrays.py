"""array_find, first, last: the openEO rules for plain arrays (strings and no-data included)."""

from __future__ import annotations

from typing import Any

import numpy as np
from openeo_processes_dask.process_implementations import arrays as upstream
from openeo_processes_dask.process_implementations import math as upstream_math

from processes.standard._values import is_nodata, is_number, is_plain


def _plain_list(data: Any) -> list | None:
    """A 1-d list or array of plain values as a list, else None (cubes, nested arrays)."""
    if isinstance(data, np.ndarray) and data.ndim == 1:
        data = data.tolist()
    if isinstance(data, list | tuple) and all(is_plain(v) and not isinstance(v, dict)
                                              for v in data):
        return list(data)
    return None


def array_find(data: Any, value: Any, reverse: bool = False, axis: int | None = None) -> Any:
    """Index of the first (or last) element equal to value, null when there is none or the
    value is no-data; elements of another type never match (1 is not "1", nor true), nor
    do arrays and objects."""
    if isinstance(data, list) and axis is None:
        items = data
    else:
        items = _plain_list(data)
    if items is None or axis is not None:
        return upstream.array_find(data, value, reverse=reverse, axis=axis)
    if is_nodata(value) or not is_plain(value):
        return None
    order = range(len(items) - 1, -1, -1) if reverse else range(len(items))
    return next((i for i in order if _same_kind(items[i], value) and items[i] == value), None)


def _same_kind(a: Any, b: Any) -> bool:
    """Both numbers, or both of one type: 1 never equals "1" or true here."""
    return type(a) is type(b) or (is_number(a) and is_number(b))


def first(data: Any, ignore_nodata: bool = True, axis: int | None = None) -> Any:
    """The first element (the first with data, by default); null for an empty array."""
    items = _plain_list(data)
    if items is None or axis is not None:
        return upstream.first(data, ignore_nodata=ignore_nodata, axis=axis)
    if ignore_nodata:
        items = [v for v in items if not is_nodata(v)]
    return items[0] if items else None


def last(data: Any, ignore_nodata: bool = True, axis: int | None = None) -> Any:
    """The last element (the last with data, by default); null for an empty array."""
    items = _plain_list(data)
    if items is None or axis is not None:
        return upstream.last(data, ignore_nodata=ignore_nodata, axis=axis)
    return first(items[::-1], ignore_nodata)


def quantiles(data: Any, probabilities: Any = None, q: Any = None, ignore_nodata: bool = True,
              axis: int | None = None, keepdims: bool = False) -> Any:
    """Upstream's, for plain lists too and empty arrays (null per probability); the
    quantiles replace the axis, so `keepdims` (apply_dimension's) never adds one."""
    if isinstance(data, list | tuple):
        data = np.array([np.nan if v is None else v for v in data], dtype=float)
    if np.size(data) == 0:
        if isinstance(probabilities, int):
            return [None] * (probabilities - 1)
        return [None] * (0 if probabilities is None else len(probabilities))
    return upstream_math.quantiles(data, probabilities=probabilities, q=q,
                              ignore_nodata=ignore_nodata, axis=axis, keepdims=False)


IMPLEMENTATIONS = {"array_find": array_find, "first": first, "last": last,
                   "quantiles": quantiles}
