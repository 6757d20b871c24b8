"""The one place that maps process ids to code, with the spec each id is listed under."""

from __future__ import annotations

import copy
import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

from openeo_pg_parser_networkx import ProcessRegistry
from openeo_pg_parser_networkx.process_registry import Process
from openeo_processes_dask.process_implementations.core import process as resolve_params

from processes import classify, crop, forecast, io, ml_models, segment

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
# Our processes: spec id -> implementation (specs/<id>.json holds each spec).
OWN = {**crop.IMPLEMENTATIONS, **classify.IMPLEMENTATIONS, **forecast.IMPLEMENTATIONS,
       **segment.IMPLEMENTATIONS, **ml_models.IMPLEMENTATIONS}

# Implemented upstream but not offered: load_stac and run_udf fetch or run arbitrary code,
# the others are not openEO processes.
_EXCLUDED = {"load_stac", "run_udf", "ddmc", "apply_neighborhood_intertwin"}


def _standard() -> dict[str, tuple[Any, dict]]:
    logging.getLogger("openeo_processes_dask").setLevel(logging.ERROR)
    import openeo_processes_dask.specs as specs
    from openeo_processes_dask.process_implementations.core import standard_processes

    out = {}
    for func in standard_processes:
        pid = func.__name__.lstrip("_")
        spec = getattr(specs, func.__name__, None) or getattr(specs, pid, None)
        if pid in _EXCLUDED or spec is None:
            continue
        out[pid] = (func, spec)
    return out


def _upstream_spec(pid: str) -> dict:
    import openeo_processes_dask.specs as specs

    return getattr(specs, pid)


@cache
def registry() -> ProcessRegistry:
    """Every process a graph may call, wrapped to resolve parameter references."""
    reg = ProcessRegistry(wrap_funcs=[resolve_params])
    for pid, (func, spec) in _standard().items():
        reg[pid] = Process(spec=spec, implementation=func)
    for pid, func in (("load_collection", io.load_collection), ("save_result", io.save_result)):
        reg[pid] = Process(spec=_upstream_spec(pid), implementation=func)
    for path in sorted(SPECS_DIR.glob("*.json")):
        own = json.loads(path.read_text())
        reg[own["id"]] = Process(spec=own, implementation=OWN[own["id"]])
    return reg


def _user_process(spec: dict, reg: ProcessRegistry):
    """Run a user-defined process: its graph with the call's arguments as parameters."""
    from openeo_pg_parser_networkx import OpenEOProcessGraph

    defaults = {p["name"]: p["default"] for p in spec.get("parameters") or [] if "default" in p}

    def run(**kwargs: Any) -> Any:
        graph = OpenEOProcessGraph({"process_graph": spec["process_graph"]})
        return graph.to_callable(reg)(named_parameters={**defaults, **kwargs})

    run.__name__ = spec["id"]
    return run


def with_user_processes(user_processes: dict[str, dict]) -> ProcessRegistry:
    """The registry plus one user's processes (predefined ids always win)."""
    base = registry()
    if not user_processes:
        return base
    reg = ProcessRegistry(wrap_funcs=[resolve_params])
    reg.store = {ns: dict(procs) for ns, procs in base.store.items()}
    for pid, spec in user_processes.items():
        if pid not in base:
            reg[pid] = Process(spec=spec, implementation=_user_process(spec, reg))
    return reg


def spec(process_id: str) -> dict | None:
    """The openEO spec of a process id, or None if it is not offered."""
    reg = registry()
    if process_id not in reg:
        return None
    return reg[process_id].spec


def specs() -> list[dict]:
    """Specs of every offered process, sorted by id, for GET /processes."""
    reg = registry()
    return [copy.deepcopy(reg[pid].spec) for pid in sorted(pid for _, pid in reg)]
