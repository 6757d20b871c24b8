"""The one place that maps process ids to code, with the spec each id is listed under."""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from core import errors
from processes import boundary, classify, crop, forecast, io, ml_models, naming, segment, udf
from processes.declare import DECLARED, SPECS_DIR
from processes.graph import Call, run
from processes.standard import OVERRIDES

_DECLARING = (classify, crop, forecast, ml_models, segment)  # importing them runs @declare
OWN = DECLARED  # our processes: id -> (spec, code), one @declare each

# Implemented upstream but not offered: ours replace load_stac and run_udf (which would run
# users' code in the server's own process), the others are not openEO processes.
_EXCLUDED = {"load_stac", "run_udf", "ddmc", "apply_neighborhood_intertwin"}
# Keywords a parent process passes to every process of its callback (openeo-processes-dask).
_CALL_KEYWORDS = ("axis", "keepdims", "source_transposed_axis", "context", "dim_labels")


@dataclass(frozen=True)
class Process:
    """A process id's spec and code, with the call keywords the code takes."""

    spec: dict
    implementation: Callable[..., Any]
    keywords: frozenset[str]
    passes_nodata: bool = False  # a null argument gives null without running the code

    @classmethod
    def of(cls, spec: dict, implementation: Callable[..., Any]) -> Process:
        try:
            names = set(inspect.signature(implementation).parameters)
        except (TypeError, ValueError):
            names = set()
        return cls(
            spec,
            implementation,
            frozenset(n for n in _CALL_KEYWORDS if n in names),
            boundary.passes_nodata(spec),
        )


@cache
def official_specs() -> dict[str, dict]:
    """The openeo-processes specs (specs/openeo-processes, proposals included) by id, each
    with the version of the specs it comes from."""
    folder = SPECS_DIR / "openeo-processes"
    version = (folder / "VERSION").read_text().strip()
    found = {}
    for path in sorted([*folder.glob("*.json"), *folder.glob("proposals/*.json")]):
        spec = json.loads(path.read_text())
        found[spec["id"]] = {**spec, "version": version}
    return found


def _standard() -> dict[str, Callable[..., Any]]:
    """openeo-processes-dask's implementations by process id (those it has but does not
    export, too: `e`, the date processes)."""
    from openeo_processes_dask.process_implementations import dates, math
    from openeo_processes_dask.process_implementations.core import standard_processes

    funcs: list[Callable[..., Any]] = [
        *standard_processes,
        math.e,
        dates.date_between,
        dates.date_difference,
        dates.date_shift,
    ]
    return {f.__name__.lstrip("_"): f for f in funcs if f.__name__.lstrip("_") not in _EXCLUDED}


@cache
def registry() -> dict[str, Process]:
    """Every predefined process a graph may call."""
    official = official_specs()
    reg = {
        pid: Process.of(official[pid], OVERRIDES.get(pid, func))
        for pid, func in _standard().items()
        if pid in official
    }
    for pid, func in (
        ("load_collection", io.load_collection),
        ("save_result", io.save_result),
        ("load_url", io.load_url),
        ("load_stac", io.load_stac),
        ("run_udf", udf.run_udf),
        ("apply_neighborhood", udf.apply_neighborhood),
    ):
        reg[pid] = Process.of(official[pid], func)
    for pid in ("apply", "apply_dimension", "reduce_dimension"):  # run_udf as the callback
        reg[pid] = Process.of(official[pid], udf.with_udf(pid, reg[pid].implementation))
    for pid, (own, func) in sorted(OWN.items()):
        reg[pid] = Process.of(own, func)
    return reg


def _user_process(spec: dict) -> Callable[..., Any]:
    """Run a user-defined process: its graph with the call's arguments as parameters."""
    defaults = {p["name"]: p["default"] for p in spec.get("parameters") or [] if "default" in p}

    def run_user_process(*, _call: Call, **kwargs: Any) -> Any:
        return run(spec["process_graph"], _call, {**defaults, **kwargs})

    return run_user_process


def caller(user_processes: dict[str, dict] | None = None) -> Call:
    """The function a graph walk calls each node with: predefined ids first, then the user's
    processes; arguments checked and converted against the spec before the code runs."""
    predefined = registry()
    user = {
        pid: Process.of(spec, _user_process(spec))
        for pid, spec in (user_processes or {}).items()
        if pid not in predefined
    }

    def call(node_id: str, node: dict, args: dict[str, Any], keywords: dict[str, Any]) -> Any:
        pid, namespace = node["process_id"], node.get("namespace")
        found = None
        if namespace in (None, "backend"):
            found = predefined.get(pid)
        if found is None and namespace in (None, "user"):
            found = user.get(pid)
        if found is None:
            raise errors.ProcessUnsupported(
                process=pid, namespace=namespace or "backend", node=node_id
            )
        if found.passes_nodata and any(v is None for v in args.values()):
            return None
        try:
            kwargs = boundary.prepare(
                pid, found.spec, args, node.get("arguments") or {}, own=pid in OWN
            )
            kwargs.update({k: v for k, v in keywords.items() if k in found.keywords})
            stacked = [k for k, v in kwargs.items() if isinstance(v, boundary.Stacked)]
            for name in stacked:  # a list of arrays: an array dimension, the last axis
                kwargs[name] = kwargs[name].value
                kwargs.pop("keepdims", None)
                if "axis" in found.keywords:
                    kwargs["axis"] = -1
            if pid in user:
                kwargs["_call"] = call
            value = boundary.result(found.spec, found.implementation(**kwargs))
            return naming.name_result(pid, node.get("arguments") or {}, args, value)
        except boundary.NullResult:
            return None
        except errors.OpenEOError as exc:
            exc.node = exc.node or node_id
            raise

    return call


def spec(process_id: str) -> dict | None:
    """The openEO spec of a process id, or None if it is not offered."""
    found = registry().get(process_id)
    return None if found is None else found.spec


def specs() -> list[dict]:
    """Specs of every offered process, sorted by id, for GET /processes."""
    reg = registry()
    return [copy.deepcopy(reg[pid].spec) for pid in sorted(reg)]
