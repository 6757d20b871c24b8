"""Array processes with the openEO rules for plain JSON arrays (strings, mixed types and
no-data included); arrays inside cubes go to upstream's code."""

from __future__ import annotations

from typing import Any

import numpy as np
from openeo_processes_dask.process_implementations import arrays as upstream
from openeo_processes_dask.process_implementations import math as upstream_math

from core.errors import OpenEOError
from processes.standard._values import is_nodata, is_number, is_plain


def _plain_list(data: Any) -> list | None:
    """A 1-d list or array of plain values as a list, else None (cubes, nested arrays)."""
    if isinstance(data, np.ndarray) and data.ndim == 1:
        data = data.tolist()
    if isinstance(data, list | tuple) and all(
        is_plain(v) and not isinstance(v, dict) for v in data
    ):
        return list(data)
    return None


def array_find(data: Any, value: Any, reverse: bool = False, axis: int | None = None) -> Any:
    """Index of the first (or last) element equal to value, null when there is none or the
    value is no-data; elements of another type never match (1 is not "1", nor true), nor
    do arrays and objects."""
    items: list[Any] | None
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
        # upstream annotates axis as str; it is the cube axis index it gets from reducers
        return upstream.first(data, ignore_nodata=ignore_nodata, axis=axis)  # type: ignore[arg-type]
    if ignore_nodata:
        items = [v for v in items if not is_nodata(v)]
    return items[0] if items else None


def last(data: Any, ignore_nodata: bool = True, axis: int | None = None) -> Any:
    """The last element (the last with data, by default); null for an empty array."""
    items = _plain_list(data)
    if items is None or axis is not None:
        return upstream.last(data, ignore_nodata=ignore_nodata, axis=axis)
    return first(items[::-1], ignore_nodata)


def quantiles(
    data: Any,
    probabilities: Any = None,
    q: Any = None,
    ignore_nodata: bool = True,
    axis: int | None = None,
    keepdims: bool = False,
) -> Any:
    """Upstream's, for plain lists too and empty arrays (null per probability); the
    quantiles replace the axis, so `keepdims` (apply_dimension's) never adds one."""
    if isinstance(data, list | tuple):
        data = np.array([np.nan if v is None else v for v in data], dtype=float)
    if np.size(data) == 0:
        if isinstance(probabilities, int):
            return [None] * (probabilities - 1)
        return [None] * (0 if probabilities is None else len(probabilities))
    return upstream_math.quantiles(
        data,
        probabilities=probabilities,
        q=q,
        ignore_nodata=ignore_nodata,
        axis=axis,
        keepdims=False,
    )


IMPLEMENTATIONS = {"array_find": array_find, "first": first, "last": last, "quantiles": quantiles}


class ArrayNotLabeled(OpenEOError):
    code = "ArrayNotLabeled"
    status = 400
    default_message = "The array is not a labeled array, but a label was given."


def _plain_or_none(data: Any) -> list | None:
    """A plain JSON array (numbers, strings, booleans, nulls) as a list, else None."""
    if isinstance(data, np.ndarray) and data.ndim == 1:
        return [None if is_nodata(v) else v for v in data.tolist()]
    return list(data) if isinstance(data, list) else None


def array_element(
    data: Any,
    index: int | None = None,
    label: Any = None,
    return_nodata: bool = False,
    axis: int | None = None,
    context: Any = None,
    dim_labels: Any = None,
) -> Any:
    """Upstream's; for a plain array an index past its end is null with return_nodata."""
    items = _plain_or_none(data)
    if items is not None and axis is None and label is None and index is not None:
        if 0 <= index < len(items):
            return items[index]
        if return_nodata:
            return None
    if isinstance(dim_labels, list):  # upstream compares labels as an array
        dim_labels = np.asarray(dim_labels)
    return upstream.array_element(
        data,
        index=index,
        label=label,
        return_nodata=return_nodata,
        axis=axis,
        context=context,
        dim_labels=dim_labels,
    )


def array_concat(array1: Any, array2: Any, axis: int | None = None) -> Any:
    """Plain arrays joined as they are (numpy would turn [1, "a"] into strings)."""
    one, two = _plain_or_none(array1), _plain_or_none(array2)
    if one is not None and two is not None and axis is None:
        return one + two
    return upstream.array_concat(array1, array2, axis=axis)


def array_append(data: Any, value: Any, label: Any = None, axis: int | None = None) -> Any:
    """Plain arrays get the value appended as it is; a label needs a labeled array."""
    items = _plain_or_none(data)
    if items is not None and axis is None:
        if label is not None:
            raise ArrayNotLabeled()
        return [*items, value]
    return upstream.array_append(data, value, label=label, axis=axis)


def array_modify(
    data: Any, values: Any, index: int, length: int = 1, axis: int | None = None
) -> Any:
    """Plain arrays: `length` elements from `index` replaced by `values`, types kept."""
    items, new = _plain_or_none(data), _plain_or_none(values)
    if items is not None and new is not None and axis is None:
        return items[:index] + new + items[index + length :]
    return upstream.array_modify(data, values, index, length=length, axis=axis)


def order(data: Any, asc: bool = True, nodata: bool | None = None, axis: int | None = None) -> Any:
    """Plain arrays: a stable order of the indices; no-data left out (null), first (false)
    or last (true)."""
    items = _plain_or_none(data)
    if items is None or axis is not None:
        return _order_along(data, asc, nodata, -1 if axis is None else axis)
    valid = [i for i, v in enumerate(items) if not is_nodata(v)]
    valid.sort(key=lambda i: items[i], reverse=not asc)  # stable either way
    missing = [i for i, v in enumerate(items) if is_nodata(v)]
    return valid if nodata is None else missing + valid if nodata is False else valid + missing


def _order_block(x: np.ndarray, asc: bool, nodata: bool | None) -> np.ndarray:
    """Stable order along the last axis; without a nodata rule each row's no-data indices
    are dropped and the row padded with no-data (NaN), so a cube stays rectangular."""
    missing = np.isnan(x) if np.issubdtype(x.dtype, np.floating) else np.zeros(x.shape, bool)
    key = np.where(missing, 0, x if asc else -x)
    idx = np.lexsort((key, missing if nodata is not False else ~missing))
    if nodata is not None:
        return idx
    out = idx.astype(np.float64)
    out[np.arange(x.shape[-1]) >= x.shape[-1] - missing.sum(axis=-1, keepdims=True)] = np.nan
    return out


def _order_along(data: Any, asc: bool, nodata: bool | None, axis: int) -> Any:
    """order over one axis of a cube's block (apply_dimension), lazily where dask."""
    data = getattr(data, "data", data)
    if isinstance(data, list):
        data = np.asarray(data, dtype=float)
    moved = np.moveaxis(data, axis, -1)
    if hasattr(moved, "map_blocks"):
        has_nan = nodata is None and np.issubdtype(moved.dtype, np.floating)
        result = moved.rechunk({moved.ndim - 1: -1}).map_blocks(
            _order_block, asc, nodata, dtype=np.float64 if has_nan else np.int64
        )
    else:
        result = _order_block(np.asarray(moved), asc, nodata)
    return np.moveaxis(result, -1, axis)


def _cumulative(name: str, op: Any):
    def cumulate(data: Any, ignore_nodata: bool = True, axis: int | None = None) -> Any:
        items = _plain_or_none(data)
        if items is None or axis is not None:
            return getattr(upstream_math, name)(data, ignore_nodata=ignore_nodata, axis=axis)
        out: list[Any] = []
        total, broken = None, False
        for v in items:
            if is_nodata(v) or broken:
                out.append(None)
                broken = broken or not ignore_nodata
                continue
            total = v if total is None else op(total, v)
            out.append(total)
        return out

    cumulate.__name__ = name
    cumulate.__doc__ = (
        f"openEO {name}: no-data stays no-data (and ends the run without ignore_nodata)."
    )
    return cumulate


cumsum = _cumulative("cumsum", lambda a, b: a + b)
cumproduct = _cumulative("cumproduct", lambda a, b: a * b)

IMPLEMENTATIONS.update(
    {
        "array_element": array_element,
        "array_concat": array_concat,
        "array_append": array_append,
        "array_modify": array_modify,
        "order": order,
        "cumsum": cumsum,
        "cumproduct": cumproduct,
    }
)
