"""A process graph in, a result out: validation, openeo-pg-parser-networkx, writing outputs."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import xarray as xr
from openeo_pg_parser_networkx import OpenEOProcessGraph

from backend import errors, formats
from backend.catalog import Catalog
from backend.validation import graph_errors
from processes import registry
from processes.context import ExecutionContext, current
from processes.io import PROPERTY_FILTER_PREFIX

log = logging.getLogger(__name__)


def lookup_spec(process_id: str, namespace: str | None = None) -> dict | None:
    """Spec of a predefined process (namespace null or 'backend'), else None."""
    if namespace not in (None, "backend"):
        return None
    return registry.spec(process_id)


def validate(graph: dict, catalog: Catalog) -> list[errors.OpenEOError]:
    return graph_errors(graph, lookup_spec, catalog)


def _property_filter(props: dict[str, Any]) -> Any:
    """A predicate on STAC item properties from load_collection's `properties` callbacks."""
    graphs = {name: OpenEOProcessGraph({"process_graph": cb["process_graph"]})
              for name, cb in props.items()}

    def keep(item_props: dict[str, Any]) -> bool:
        for name, graph in graphs.items():
            if name not in item_props:
                return False
            func = graph.to_callable(registry.registry())
            if not bool(func(named_parameters={"value": item_props[name]})):
                return False
        return True

    return keep


def _prepare(graph: dict, ctx: ExecutionContext) -> dict:
    """Move load_collection property filters out of the graph (the parser can't walk them)."""
    graph = copy.deepcopy(graph)
    for node_id, node in graph.items():
        props = node.get("arguments", {}).get("properties")
        if node.get("process_id") == "load_collection" and isinstance(props, dict) and props:
            token = f"{PROPERTY_FILTER_PREFIX}{node_id}"
            ctx.property_filters[token] = _property_filter(props)
            node["arguments"]["properties"] = token
    return graph


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
    first = next(iter(validate(graph, ctx.catalog)), None)
    if first is not None:
        raise first
    token = current.set(ctx)
    try:
        prepared = _prepare(graph, ctx)
        parsed = OpenEOProcessGraph({"process_graph": prepared})
        return parsed.to_callable(registry.registry())()
    except Exception as exc:  # noqa: BLE001 - every failure becomes an openEO error
        raise _translate(exc) from None
    finally:
        current.reset(token)


@dataclass
class Output:
    """A written result file and its media type."""

    path: Path
    media_type: str


def write_output(value: Any, ctx: ExecutionContext, out_dir: Path, stem: str = "result"
                 ) -> Output:
    """Write the saved result (or the graph's value: cubes as GTiff, the rest as JSON)."""
    if ctx.saved:
        request = ctx.saved[-1]
        fmt, data, options = formats.lookup(request.format), request.data, request.options
    else:
        is_raster = isinstance(value, xr.DataArray) and {"x", "y"} <= set(value.dims)
        fmt, data, options = formats.lookup("GTiff" if is_raster else "JSON"), value, {}
    assert fmt is not None
    path = out_dir / f"{stem}.{fmt.extension}"
    try:
        with dask.config.set(scheduler="threads"):
            fmt.writer(data, path, options)
    except Exception as exc:  # noqa: BLE001 - dask re-raises process errors here
        raise _translate(exc) from None
    return Output(path, fmt.media_type)
