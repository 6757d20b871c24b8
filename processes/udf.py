"""run_udf: users' Python over a cube, one block at a time, each block in a sandboxed
process (sandbox.pool); never in the server's or the job's own process.

Where users put it (as on the other openEO platforms): as the whole callback of `apply`,
`apply_dimension`, `reduce_dimension` and `apply_neighborhood`, which then hand it labelled
blocks (whole along t and bands) instead of the unlabelled arrays other callbacks get, and
on a whole cube. What the UDF may do to a block depends on the parent: keep its shape
(apply, apply_neighborhood), change the one dimension (apply_dimension), drop it
(reduce_dimension), anything but the spatial grid (a whole cube).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from openeo_processes_dask.process_implementations.exceptions import DimensionNotAvailable

from core import errors
from core.settings import UdfLimits
from processes import blocks
from processes.context import current
from processes.graph import Callback
from sandbox import launch, pool, runtime, wire
from sources.safe_urls import UrlRefused, fetch


def _invalid(parameter: str, reason: str) -> errors.ProcessParameterInvalid:
    return errors.ProcessParameterInvalid(process="run_udf", parameter=parameter, reason=reason)


def _code(udf: Any) -> str:
    """The UDF's source: the text itself, or fetched from an http(s) URL under the URL
    policy; a path names the user's workspace, which this backend does not have."""
    if not isinstance(udf, str) or not udf.strip():
        raise _invalid("udf", "give the UDF's Python code as a string")
    if "\n" in udf or "\r" in udf:
        return udf
    if udf.startswith(("http://", "https://")):
        try:
            return fetch(udf, current.get().url_policy).content.decode()
        except UrlRefused as exc:
            raise _invalid("udf", str(exc)) from None
        except UnicodeDecodeError:
            raise _invalid("udf", "the URL does not hold Python code (UTF-8 text)") from None
    raise errors.FileNotFound(
        f"There is no file '{udf}': this backend has no user workspace; send the code itself."
    )


@dataclass(frozen=True)
class Udf:
    """One run of one UDF: its code and context, and the key of the processes that serve
    this run alone. Picklable, so a Dask cluster's workers run it too."""

    code: str
    context: Any
    limits: UdfLimits
    key: str

    def __call__(self, cube: xr.DataArray) -> xr.DataArray:
        header = {"code": self.code, "context": self.context, "cube": wire.describe(cube)}
        try:
            out, values = pool.pool(self.limits).call(
                self.key, header, np.asarray(cube.values), self.limits.memory_mb * 2**20
            )
            return wire.cube_of(out, values)
        except pool.UdfFailure as exc:
            place = f" (line {exc.line} of the UDF: `{exc.source}`)" if exc.line else ""
            raise errors.UdfError(reason=f"{exc.reason}{place}") from None
        except pool.SandboxUnavailable as exc:
            raise errors.UdfUnavailable(reason=str(exc)) from None
        except wire.WireError as exc:
            raise errors.UdfError(reason=f"the UDF's answer is not a data cube: {exc}") from None


def udf_of(udf: Any, runtime_name: Any, version: Any = None, context: Any = None) -> Udf:
    """A run of the UDF after checking the runtime, the version and the sandbox."""
    found = runtime.find(runtime_name)
    if found is None:
        raise errors.InvalidRuntime(runtime=runtime_name)
    if version is not None and str(version) not in runtime.versions():
        raise errors.InvalidVersion(runtime=runtime_name, version=version)
    limits = current.get().udf_limits
    reason = launch.unavailable(limits.sandbox)
    if reason:
        raise errors.UdfUnavailable(reason=reason)
    return Udf(_code(udf), context, limits, uuid.uuid4().hex)


def _run(
    cube: Any, udf: Udf, plan: blocks.Layout, guess: xr.DataArray, check: Callable
) -> xr.DataArray:
    """The UDF over the cube's blocks; `check` says what the parent allows it to return."""
    try:
        return blocks.apply_blocks(
            cube, Checked(udf, check), plan, guess if current.get().dry_run else None
        )
    except blocks.BlockMismatch as exc:
        raise errors.UdfError(reason=str(exc)) from None


@dataclass(frozen=True)
class Checked:
    """The UDF, with the parent's rule on what it may return (picklable)."""

    udf: Udf
    check: Callable[[xr.DataArray, xr.DataArray], xr.DataArray]

    def __call__(self, block: xr.DataArray) -> xr.DataArray:
        try:
            return self.check(block, self.udf(block))
        except blocks.BlockMismatch as exc:
            raise errors.UdfError(reason=str(exc)) from None


def _cube(data: Any, parent: str) -> xr.DataArray:
    if not isinstance(data, xr.DataArray):
        raise errors.ProcessParameterInvalid(
            process=parent, parameter="data", reason="run_udf needs a data cube"
        )
    return data


# --- what each parent lets a UDF return ----------------------------------------------------


@dataclass(frozen=True)
class SameShape:
    parent: str

    def __call__(self, block: xr.DataArray, result: xr.DataArray) -> xr.DataArray:
        if result.dims != block.dims and set(result.dims) == set(block.dims):
            result = result.transpose(*block.dims)
        if result.dims != block.dims or result.shape != block.shape:
            raise blocks.BlockMismatch(
                f"in {self.parent}, a UDF returns a cube of the shape it is given "
                f"({_shape(block)}); it returned {_shape(result)}"
            )
        return result.assign_coords({d: block[d].values for d in block.dims if d in block.coords})


@dataclass(frozen=True)
class OneDimension:
    """apply_dimension: the dimension may change its length and labels; the rest stays."""

    dimension: str
    target: str | None

    def __call__(self, block: xr.DataArray, result: xr.DataArray) -> xr.DataArray:
        dim = self.dimension
        others = {d: n for d, n in block.sizes.items() if d != dim}
        got = {d: n for d, n in result.sizes.items() if d != dim and d != self.target}
        if got != others:
            raise blocks.BlockMismatch(
                f"in apply_dimension over '{dim}', a UDF keeps the other dimensions "
                f"({_shape(block)}); it returned {_shape(result)}"
            )
        if dim not in result.dims:
            result = result.expand_dims(dim)
        if dim not in result.coords:
            n = result.sizes[dim]
            labels = block[dim].values if n == block.sizes[dim] else np.arange(n)
            result = result.assign_coords({dim: labels})
        if self.target and self.target != dim:
            result = result.rename({dim: self.target})
        return result


@dataclass(frozen=True)
class DropDimension:
    dimension: str

    def __call__(self, block: xr.DataArray, result: xr.DataArray) -> xr.DataArray:
        dim = self.dimension
        if dim in result.dims and result.sizes[dim] == 1:
            result = result.squeeze(dim, drop=True)
        expected = {d: n for d, n in block.sizes.items() if d != dim}
        if dict(result.sizes) != expected:
            without = _shape(block.isel({dim: 0}, drop=True))
            raise blocks.BlockMismatch(
                f"in reduce_dimension over '{dim}', a UDF returns the cube without that "
                f"dimension ({without}); it returned {_shape(result)}"
            )
        return result.drop_vars(dim, errors="ignore")


@dataclass(frozen=True)
class AnyLabels:
    def __call__(self, block: xr.DataArray, result: xr.DataArray) -> xr.DataArray:
        return result


def _shape(cube: xr.DataArray) -> str:
    return " x ".join(f"{d} {n}" for d, n in cube.sizes.items()) or "a single value"


# --- the process and its parents -----------------------------------------------------------


def available(limits: UdfLimits) -> bool:
    """Whether UDFs can run here (a sandbox that works, or plain processes by choice)."""
    return not launch.unavailable(limits.sandbox)


def runtimes(limits: UdfLimits) -> dict[str, Any]:
    """GET /udf_runtimes: the Python runtime where UDFs can run here, else none."""
    return runtime.describe() if available(limits) else {}


def run_udf(
    data: Any, udf: Any, runtime: Any, version: Any = None, context: Any = None, **_: Any
) -> Any:
    """run_udf on a whole cube: blocks along x and y, each whole along every other dim."""
    if not isinstance(data, xr.DataArray):
        raise _invalid(
            "data",
            "run_udf takes a data cube: use it on a cube, or as the whole callback of apply, "
            "apply_dimension, reduce_dimension or apply_neighborhood",
        )
    run = udf_of(udf, runtime, version, context)
    return _run(data, run, blocks.layout(data), data, AnyLabels())


def _sole_udf(process: Any, context: Any) -> Udf | None:
    """The UDF when the callback is nothing but run_udf on its data."""
    if not isinstance(process, Callback):
        return None
    args = process.sole_call("run_udf", context)
    if args is None:
        return None
    return udf_of(args.get("udf"), args.get("runtime"), args.get("version"), args.get("context"))


def with_udf(parent: str, fallback: Callable[..., Any]) -> Callable[..., Any]:
    """The parent's implementation, which hands a callback that is only run_udf labelled
    blocks of the cube; other callbacks go to `fallback` as before."""

    @functools.wraps(fallback)
    def implementation(data: Any, *args: Any, **kwargs: Any) -> Any:
        bound = dict(zip(_PARAMETERS[parent], args, strict=False), **kwargs)
        run = _sole_udf(bound.get("process") or bound.get("reducer"), bound.get("context"))
        if run is None:
            return fallback(data, *args, **kwargs)
        cube = _cube(data, parent)
        if parent == "apply":
            return _run(cube, run, blocks.layout(cube), cube, SameShape("apply"))
        dim = str(bound.get("dimension"))
        if dim not in cube.dims:
            raise DimensionNotAvailable(f"The cube has no dimension '{dim}'.")
        if parent == "apply_dimension":
            check = OneDimension(dim, bound.get("target_dimension"))
            return _run(cube, run, blocks.layout(cube), cube, check)
        return _run(
            cube, run, blocks.layout(cube), cube.isel({dim: 0}, drop=True), DropDimension(dim)
        )

    return implementation


def _extent(spec: Any, cube: xr.DataArray, parameter: str) -> dict[str, int]:
    """apply_neighborhood's size or overlap as pixels along x and y; other dimensions must
    be whole (size null or their length, overlap null or 0)."""
    out: dict[str, int] = {}
    for item in spec or []:
        dim, value, unit = item.get("dimension"), item.get("value"), item.get("unit")
        if dim not in cube.dims:
            raise errors.ProcessParameterInvalid(
                process="apply_neighborhood",
                parameter=parameter,
                reason=f"the cube has no dimension '{dim}'",
            )
        if dim in blocks.SPATIAL:
            if value is None:
                continue
            if unit == "m":
                coords = cube[dim].values
                step = abs(float(coords[1] - coords[0])) if len(coords) > 1 else 1.0
                value = int(round(float(value) / step))
            out[dim] = int(value)
        elif value not in (None, 0) and not (parameter == "size" and value == cube.sizes[dim]):
            raise errors.ProcessParameterInvalid(
                process="apply_neighborhood",
                parameter=parameter,
                reason=f"neighbourhoods are whole along '{dim}' (value null); only x and y are cut",
            )
    return out


def apply_neighborhood(
    data: Any, process: Any, size: list, overlap: list | None = None, context: Any = None
) -> xr.DataArray:
    """The callback over blocks of `size` px along x and y with `overlap` px of neighbours
    on each side (no-data beyond the cube), its result's overlap cut off again."""
    cube = _cube(data, "apply_neighborhood")
    plan = blocks.layout(cube, _extent(size, cube, "size"), _extent(overlap, cube, "overlap"))
    run = _sole_udf(process, context)
    if run is not None:
        return _run(cube, run, plan, cube, SameShape("apply_neighborhood"))
    try:
        return blocks.apply_blocks(cube, _InProcess(process, context), plan)
    except blocks.BlockMismatch as exc:
        raise errors.ProcessParameterInvalid(
            process="apply_neighborhood", parameter="process", reason=str(exc)
        ) from None


@dataclass(frozen=True)
class _InProcess:
    """A process-graph callback (no UDF) over one neighbourhood, as a labelled cube."""

    process: Any
    context: Any

    def __call__(self, block: xr.DataArray) -> xr.DataArray:
        result = self.process(
            block, positional_parameters={"data": 0}, named_parameters={"context": self.context}
        )
        return SameShape("apply_neighborhood")(block, result)


_PARAMETERS = {
    "apply": ("process", "context"),
    "apply_dimension": ("process", "dimension", "target_dimension", "context"),
    "reduce_dimension": ("reducer", "dimension", "context"),
}
