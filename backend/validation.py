"""Static checks of a process graph before anything runs: structure, processes, parameters.

Used by POST /validation (all errors listed) and before every execution (first error
raised), so a bad graph fails fast with the right openEO code and the node that caused it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import networkx as nx

import formats
from core import errors
from processes.boundary import check
from processes.declare import DECLARED
from processes.graph import is_literal, references
from sources.catalog import Catalog
from sources.extents import parse_spatial_extent, parse_temporal_extent

SpecLookup = Callable[[str, "str | None"], "dict | None"]


def _callbacks(args: dict[str, Any]) -> Iterator[tuple[str, dict]]:
    def walk(name: str, value: Any) -> Iterator[tuple[str, dict]]:
        if isinstance(value, dict):
            if isinstance(value.get("process_graph"), dict):
                yield name, value["process_graph"]
            else:
                for v in value.values():
                    yield from walk(name, v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(name, v)

    for name, value in args.items():
        yield from walk(name, value)


def _check_load_collection(node: str, args: dict, catalog: Catalog) -> Iterator[errors.OpenEOError]:
    cid = args.get("id")
    if not is_literal(cid):
        return
    try:
        coll = catalog.get(str(cid))
        if is_literal(args.get("bands")):
            coll.resolve_bands(args.get("bands"))
        if is_literal(args.get("spatial_extent")):
            parse_spatial_extent(args.get("spatial_extent"))
        if args.get("temporal_extent") is not None and is_literal(args.get("temporal_extent")):
            parse_temporal_extent(args.get("temporal_extent"))
    except errors.OpenEOError as exc:
        exc.node = node
        yield exc


def _check_node(
    node_id: str, node: Any, lookup: SpecLookup, catalog: Catalog
) -> Iterator[errors.OpenEOError]:
    if not isinstance(node, dict) or not isinstance(node.get("process_id"), str):
        yield errors.ProcessGraphInvalid(f"Node '{node_id}' has no process_id.", node=node_id)
        return
    pid, namespace = node["process_id"], node.get("namespace")
    args = node.get("arguments", {})
    if not isinstance(args, dict):
        yield errors.ProcessGraphInvalid(
            f"Node '{node_id}': arguments must be an object.", node=node_id
        )
        return
    spec = lookup(pid, namespace)
    if spec is None:
        yield errors.ProcessUnsupported(process=pid, namespace=namespace or "backend", node=node_id)
        return
    params = {p["name"]: p for p in spec.get("parameters", [])}
    for name in args:
        if name not in params:
            yield errors.ProcessParameterUnsupported(process=pid, parameter=name, node=node_id)
    for name, p in params.items():
        if name not in args and not p.get("optional") and "default" not in p:
            yield errors.ProcessParameterRequired(process=pid, parameter=name, node=node_id)
    for name, value in args.items():
        if name in params and is_literal(value):
            try:
                check(pid, name, params[name].get("schema", {}), value, strict=pid in DECLARED)
            except errors.ProcessParameterInvalid as exc:
                exc.node = node_id
                yield exc
    if pid == "load_collection":
        yield from _check_load_collection(node_id, args, catalog)
    if pid == "save_result" and isinstance(args.get("format"), str):
        if formats.lookup(args["format"]) is None:
            yield errors.FormatUnsupported(format=args["format"], node=node_id)
    for _, sub in _callbacks(args):
        yield from graph_errors(sub, lookup, catalog)


def graph_errors(graph: Any, lookup: SpecLookup, catalog: Catalog) -> list[errors.OpenEOError]:
    """Every problem found in a flat process graph (the value of `process_graph`)."""
    if not isinstance(graph, dict) or not graph:
        return [errors.ProcessGraphMissing()]
    found: list[errors.OpenEOError] = []
    results = [k for k, n in graph.items() if isinstance(n, dict) and n.get("result") is True]
    if len(results) != 1:
        found.append(
            errors.ProcessGraphInvalid(
                f"A process graph needs exactly one result node, found {len(results)}."
            )
        )
    deps = nx.DiGraph()
    deps.add_nodes_from(graph)
    for node_id, node in graph.items():
        found.extend(_check_node(node_id, node, lookup, catalog))
        if isinstance(node, dict) and isinstance(node.get("arguments"), dict):
            for target in references(node["arguments"]):
                if target not in graph:
                    found.append(
                        errors.ProcessGraphInvalid(
                            f"Node '{node_id}' refers to node '{target}', which does not exist.",
                            node=node_id,
                        )
                    )
                else:
                    deps.add_edge(node_id, target)
    if not nx.is_directed_acyclic_graph(deps):  # linear; find_cycle alone is not on chains
        loop = next(
            c
            for c in nx.strongly_connected_components(deps)
            if len(c) > 1 or deps.has_edge(next(iter(c)), next(iter(c)))
        )
        cycle = nx.find_cycle(deps.subgraph(loop))
        path = " -> ".join([cycle[0][0], *(v for _, v in cycle)])
        found.append(errors.ProcessGraphInvalid(f"The process graph has a cycle: {path}."))
    return found


def process_graph_of(body: Any) -> dict:
    """The flat graph inside a request body {"process": {"process_graph": ...}}."""
    process = body.get("process") if isinstance(body, dict) else None
    graph = process.get("process_graph") if isinstance(process, dict) else None
    if not isinstance(graph, dict) or not graph:
        raise errors.ProcessGraphMissing()
    return graph
