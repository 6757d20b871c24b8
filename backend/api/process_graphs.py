"""User-defined processes: GET /process_graphs, GET/PUT/DELETE /process_graphs/{id}."""

from __future__ import annotations

import re

import networkx as nx
from flask import Blueprint, Response, jsonify, request

from backend import executor
from backend.services import base_url, current_user, services
from core import errors
from processes import registry

bp = Blueprint("process_graphs", __name__)
_ID = re.compile(r"^\w+$")


def _calls(graph: dict) -> set[str]:
    """Process ids a graph calls, callbacks included."""
    found: set[str] = set()
    for node in graph.values():
        if not isinstance(node, dict):
            continue
        found.add(str(node.get("process_id")))
        stack = list((node.get("arguments") or {}).values())
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                if isinstance(value.get("process_graph"), dict):
                    found |= _calls(value["process_graph"])
                else:
                    stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
    return found


@bp.get("/process_graphs")
def list_process_graphs():
    procs = services().store.processes(current_user())
    summaries = [{k: v for k, v in spec.items() if k != "process_graph"} for spec in procs.values()]
    return jsonify(
        {"processes": summaries, "links": [{"rel": "self", "href": f"{base_url()}/process_graphs"}]}
    )


@bp.get("/process_graphs/<process_graph_id>")
def get_process_graph(process_graph_id: str):
    return jsonify(services().store.process(current_user(), process_graph_id))


@bp.put("/process_graphs/<process_graph_id>")
def put_process_graph(process_graph_id: str):
    user = current_user()
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise errors.BadRequest("The request body must be a JSON object.")
    if not _ID.match(process_graph_id):
        raise errors.BadRequest("A process id may contain only letters, digits and _.")
    if registry.spec(process_graph_id) is not None:
        raise errors.PredefinedProcessExists()
    graph = body.get("process_graph")
    if not isinstance(graph, dict) or not graph:
        raise errors.ProcessGraphMissing()
    params = body.get("parameters") or []
    if not isinstance(params, list) or not all(isinstance(p, dict) and "name" in p for p in params):
        raise errors.ProcessGraphInvalid("parameters must be a list of objects with a name.")
    svc = services()
    spec = {**body, "id": process_graph_id, "parameters": params}
    others = {**svc.store.processes(user), process_graph_id: spec}
    # A stored process may be a template (arguments filled in later), so only what can never
    # run is refused: unknown processes and broken graph structure.
    found = [
        e
        for e in executor.validate(graph, svc.catalog, others, svc.settings.graph_limits)
        if e.code
        in (
            "ProcessUnsupported",
            "ProcessGraphInvalid",
            "ProcessGraphMissing",
            "ProcessGraphComplexity",
        )
    ]
    if found:
        raise found[0]
    calls = nx.DiGraph()
    for pid, other in others.items():
        for callee in _calls(other.get("process_graph") or {}):
            if callee in others:
                calls.add_edge(pid, callee)
    try:
        cycle = nx.find_cycle(calls, process_graph_id)
        path = " -> ".join([cycle[0][0], *(v for _, v in cycle)])
        raise errors.ProcessGraphInvalid(
            f"User-defined processes call each other in a cycle: {path}."
        )
    except (nx.NetworkXNoCycle, nx.NetworkXError):
        pass
    svc.store.put_process(user, process_graph_id, spec)
    return Response(status=200)


@bp.delete("/process_graphs/<process_graph_id>")
def delete_process_graph(process_graph_id: str):
    services().store.delete_process(current_user(), process_graph_id)
    return Response(status=204)
