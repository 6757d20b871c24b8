"""Values at the boundary between JSON and the process code, read from each process's spec.

- A literal argument (no references inside) is checked against its parameter's JSON
  schema before the process runs: a wrong type, enum value or range is
  `ProcessParameterInvalid` naming the parameter, never a failure deep inside numpy.
- JSON `null`, openEO's no-data value, becomes NaN where the process computes with numbers
  (openeo-processes-dask's no-data value); NaN results go back to JSON as `null`.
- Values with an openEO subtype that the standard implementations expect as objects
  (bounding boxes, temporal intervals) are built here, from the spec, instead of guessed
  from their shape.
- A result the spec calls boolean or integer comes back as one (openeo-processes-dask
  computes logic with NaN as no-data, so `true` would otherwise come back as 1.0).
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

import jsonschema
import numpy as np
from openeo_pg_parser_networkx.pg_schema import BoundingBox, TemporalInterval, TemporalIntervals

from core.errors import ProcessParameterInvalid
from processes.graph import is_literal

_NUMERIC = {"number", "integer", "boolean"}


def _alternatives(schema: Any) -> list[dict]:
    """The schemas a value may match: a list of schemas means any of them."""
    found: list[dict] = []
    for item in schema if isinstance(schema, list) else [schema]:
        if isinstance(item, dict) and isinstance(item.get("anyOf") or item.get("oneOf"), list):
            found.extend(_alternatives(item.get("anyOf") or item.get("oneOf")))
        elif isinstance(item, dict):
            found.append(item)
    return found


def _types(schema: dict) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set()


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _domain_free(schema: Any) -> Any:
    """The schema without the bounds of floating-point numbers: for math processes they
    give the domain, outside which the result is NaN (openeo-processes 2.0), not an error.
    Bounds of integers (indices, counts, sizes) stay."""
    if isinstance(schema, list):
        return [_domain_free(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _domain_free(v) for k, v in schema.items()}
    if "number" in _types(schema):
        for key in _BOUNDS:
            out.pop(key, None)
    return out


@cache
def _validator(
    process: str, parameter: str, schema_json: str, strict: bool = False
) -> jsonschema.Validator:
    """strict: every bound applies (cropcube's processes), else float bounds are domains."""
    schema = json.loads(schema_json) if strict else _domain_free(json.loads(schema_json))
    if isinstance(schema, list):
        schema = {"anyOf": schema}
    return jsonschema.Draft7Validator(schema)


def _reason(error: jsonschema.ValidationError) -> str:
    value = repr(error.instance)
    value = value if len(value) <= 60 else value[:57] + "..."
    alternatives = _alternatives(error.schema)
    kinds = sorted({t for s in alternatives for t in _types(s)})
    if error.validator in ("anyOf", "oneOf", "type") and kinds:
        return f"{value} is not of type {' or '.join(kinds)}"
    return error.message if len(error.message) <= 200 else error.message[:197] + "..."


def check(process: str, name: str, schema: Any, value: Any, strict: bool = False) -> None:
    """ProcessParameterInvalid when a literal value does not match the parameter's schema.
    Values JSON cannot hold (a cube handed in by Python code) are not literals: unchecked."""
    if not _json_like(value):
        return
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):
        return
    validator = _validator(process, name, key, strict)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        raise ProcessParameterInvalid(process=process, parameter=name, reason=_reason(error))


def _json_like(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_json_like(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_json_like(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


def _subtypes(schema: Any) -> set[str]:
    return {str(s["subtype"]) for s in _alternatives(schema) if s.get("subtype")}


def _number_array(value: list) -> Any:
    """A list of numbers (and nulls) as a numpy array, null as NaN, as openeo-processes-dask
    expects arrays; lists of anything else (strings, mixed, nested) as they are."""
    if not value:
        return value
    if all(isinstance(v, bool) for v in value):
        return np.array(value, dtype=bool)
    if all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in value):
        if None in value or any(isinstance(v, float) for v in value):
            return np.array([np.nan if v is None else v for v in value], dtype=float)
        return np.array(value)
    return value


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and getattr(value, "ndim", 0) > 0


def _stack(items: list) -> Any:
    """Elements of a list that hold arrays (`sum([x, y])` in a callback that sees whole
    chunks) as one array along a new last axis, scalars and nulls broadcast: the list is
    an array dimension, last as apply_dimension and reduce_dimension put theirs (so
    `array_create([x, y])` there makes that dimension anew)."""
    import dask.array as da

    items = [np.nan if v is None else getattr(v, "data", v) for v in items]
    if any(isinstance(v, da.Array) for v in items):
        return da.stack(da.broadcast_arrays(*[da.asarray(v) for v in items]), axis=-1)
    return np.stack(np.broadcast_arrays(*[np.asarray(v) for v in items]), axis=-1)


class Stacked:
    """Marks an argument `_stack` built: its last axis is the list's."""

    def __init__(self, value: Any):
        self.value = value


def _convert(process: str, name: str, param: dict, value: Any, numpy: bool) -> Any:
    schema = param.get("schema", {})
    alternatives = _alternatives(schema)
    types = set().union(*(_types(s) for s in alternatives)) if alternatives else set()
    subtypes = _subtypes(schema)
    try:
        if "bounding-box" in subtypes and isinstance(value, dict) and "west" in value:
            return BoundingBox(**value)
        if "temporal-intervals" in subtypes and isinstance(value, list):
            return TemporalIntervals.model_validate(value)
        if "temporal-interval" in subtypes and isinstance(value, list):
            return TemporalInterval.model_validate(value)
    except ValueError as exc:
        raise ProcessParameterInvalid(
            process=process, parameter=name, reason=str(exc).splitlines()[-1]
        ) from None
    required = not param.get("optional") and "default" not in param
    if value is None and required and types & _NUMERIC:
        return np.nan
    if isinstance(value, list) and "array" in types:
        if len(value) == 1 and _is_array(value[0]):
            return value[0]  # [{"from_parameter": "data"}], as the R client writes max(data)
        if len(value) > 1 and any(_is_array(v) for v in value):
            return Stacked(_stack(value))
        return _number_array(value) if numpy else value
    return value


def prepare(
    process: str, spec: dict | None, args: dict[str, Any], raw: dict[str, Any], own: bool = False
) -> dict[str, Any]:
    """The arguments as the implementation takes them, the spec's defaults filled in; `raw`
    holds them as the graph did. Standard processes: literal arguments are checked, numeric
    JSON arrays become numpy arrays, as openeo-processes-dask expects. cropcube's own
    processes (`own`): every JSON value is checked, computed ones too, with every bound of
    the schema, and lists stay lists. A `Stacked` value's last axis is the list's."""
    numpy = not own
    if not spec:
        return args
    params = {p["name"]: p for p in spec.get("parameters", [])}
    out = {}
    for name, value in args.items():
        param = params.get(name)
        if param is None:
            out[name] = value
            continue
        if own:
            check(process, name, param.get("schema", {}), value, strict=True)
        elif is_literal(raw.get(name)):
            check(process, name, param.get("schema", {}), raw.get(name))
        out[name] = _convert(process, name, param, value, numpy)
    for name, param in params.items():  # the spec's defaults, not the code's, apply
        if name not in out and "default" in param:
            out[name] = _convert(process, name, param, copy.deepcopy(param["default"]), numpy)
    if (
        numpy
        and "ignore_nodata" in params
        and _numbers_or_null(args.get("data"))
        and not any(
            "array" in _types(a) for a in _alternatives(spec.get("returns", {}).get("schema", {}))
        )
    ):
        _nodata_first(args["data"], out)  # reducers to one value, not cumsum or quantiles
    return out


class NullResult(Exception):  # noqa: N818 - a result, not an error
    """The call's result is null, known before the code runs."""


def _numbers_or_null(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in value
        )
    )


def _nodata_first(values: list, out: dict[str, Any]) -> None:
    """A plain list for a reducer: null is no-data (left out with ignore_nodata, else the
    result is null) and NaN is a number that propagates, so the code sees no null and is
    told not to skip NaN."""
    if None in values and not out.get("ignore_nodata", True) or all(v is None for v in values):
        raise NullResult()
    out["data"] = _number_array([v for v in values if v is not None])
    out["ignore_nodata"] = False


def _scalar(value: Any) -> Any:
    """A plain number for Python and numpy scalars and 0-d arrays, else None."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, int | float) else None


_PASSES_NODATA = re.compile(
    r"no-data values? (?:are|is) passed through|no-data value is "
    r"returned if any|is a no-data value, the result will be the "
    r"no-data value(?! whenever)",
    re.IGNORECASE,
)  # not and/or


def passes_nodata(spec: dict | None) -> bool:
    """Whether the spec says a null argument makes the result null (most math and
    comparisons); such a call returns null without running, so NaN stays NaN."""
    return bool(_PASSES_NODATA.search((spec or {}).get("description", "")))


def result(spec: dict | None, value: Any) -> Any:
    """The result as the spec's return schema types it: booleans and integers as such, a NaN
    where the spec returns no number (boolean or integer or null) as null."""
    returns = (spec or {}).get("returns", {}).get("schema", {})
    types = set().union(*(_types(s) for s in _alternatives(returns))) - {"null"}
    if not types or not types <= {"boolean", "integer"}:
        return value
    if isinstance(value, list | np.ndarray) and np.ndim(value) == 1:
        return [result(spec, v) for v in value]
    number = _scalar(value)
    if number is None:
        return value
    if isinstance(number, float) and np.isnan(number):
        return None
    if types == {"boolean"}:
        return bool(number)
    if types == {"integer"} and float(number).is_integer():
        return int(number)
    return value
