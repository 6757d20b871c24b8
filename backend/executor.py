"""A process graph in, a result out: validation, evaluation (processes.graph), writing outputs."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import xarray as xr

import formats
from backend.model_store import MODEL_FILE
from backend.validation import graph_errors
from core import errors
from core.settings import GraphLimits
from processes import model_files, registry
from processes.context import ExecutionContext, current
from processes.graph import check_complexity, run
from processes.ml_models import MODEL_FORMAT
from sources.catalog import Catalog

log = logging.getLogger(__name__)


def spec_lookup(user_processes: dict[str, dict]):
    """Find a spec: predefined (namespace null or 'backend') or the user's (null or 'user')."""

    def lookup(process_id: str, namespace: str | None = None) -> dict | None:
        if namespace in (None, "backend"):
            found = registry.spec(process_id)
            if found is not None or namespace == "backend":
                return found
        if namespace in (None, "user"):
            return user_processes.get(process_id)
        return None

    return lookup


def validate(
    graph: Any,
    catalog: Catalog,
    user_processes: dict[str, dict] | None = None,
    limits: GraphLimits | None = None,
) -> list[errors.OpenEOError]:
    """Every problem of a graph; one that is too large or deep is refused before all else."""
    try:
        check_complexity(graph, limits or GraphLimits())
    except errors.ProcessGraphComplexity as exc:
        return [exc]
    return graph_errors(graph, spec_lookup(user_processes or {}), catalog)


def _translate(exc: Exception) -> errors.OpenEOError:
    """Map exceptions from processes to openEO errors, without leaking stack traces."""
    if isinstance(exc, errors.OpenEOError):
        return exc
    name = type(exc).__name__
    upstream = "openeo_processes_dask" in type(exc).__module__
    if upstream:
        cls = type(name, (errors.OpenEOError,), {"code": name, "status": 400})
        return cls(str(exc) or name)
    log.exception("process graph failed")
    return errors.Internal(reason=f"{name}: {exc}")


def evaluate(graph: dict, ctx: ExecutionContext) -> Any:
    """Run a flat process graph; save_result calls are collected in ctx.saved."""
    first = next(iter(validate(graph, ctx.catalog, ctx.user_processes, ctx.limits)), None)
    if first is not None:
        raise first
    token = current.set(ctx)
    try:
        return run(graph, registry.caller(ctx.user_processes))
    except Exception as exc:  # noqa: BLE001 - every failure becomes an openEO error
        raise _translate(exc) from None
    finally:
        current.reset(token)


@dataclass
class Output:
    """A written result file and its media type."""

    path: Path
    media_type: str


def write_outputs(
    value: Any, ctx: ExecutionContext, out_dir: Path, scheduler: str | None = "threads"
) -> list[Output]:
    """Write every save_result (or the graph's value: cubes as GTiff, the rest as JSON).

    `scheduler` None computes on the current dask.distributed client (batch jobs).
    """
    requests = [(r.format, r.data, r.options) for r in ctx.saved]
    if not requests:
        is_raster = isinstance(value, xr.DataArray) and {"x", "y"} <= set(value.dims)
        is_model = model_files.is_model(value)
        requests = [(MODEL_FORMAT if is_model else "GTiff" if is_raster else "JSON", value, {})]
    outputs = []
    for i, (name, data, options) in enumerate(requests):
        if name == MODEL_FORMAT:
            data.save(out_dir / MODEL_FILE)
            outputs.append(Output(out_dir / MODEL_FILE, model_files.MEDIA_TYPE))
            continue
        fmt = formats.lookup(name)
        assert fmt is not None
        path = out_dir / f"result{'' if i == 0 else f'-{i}'}.{fmt.extension}"
        try:
            with dask.config.set(scheduler=scheduler) if scheduler else contextlib.nullcontext():
                fmt.writer(data, path, options)
        except Exception as exc:  # noqa: BLE001 - dask re-raises process errors here
            raise _translate(exc) from None
        outputs.append(Output(path, fmt.media_type))
    return outputs


def result_bytes(value: Any, ctx: ExecutionContext) -> int:
    """What the results of an evaluated graph will weigh: cubes by their lazy size, models
    by their weights; what the estimate reports."""
    total = 0
    for data in [r.data for r in ctx.saved] or [value]:
        if model_files.is_model(data):
            tensors = [*data.network.parameters(), *data.network.buffers()]
            total += sum(t.numel() * t.element_size() for t in tensors)
        else:
            total += int(getattr(data, "nbytes", 0))
    return total
