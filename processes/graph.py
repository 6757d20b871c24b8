"""Evaluate an openEO process graph: an iterative walk over the flat graph, linear in its size.

Each node runs once, in dependency order, with its arguments resolved from the results of
the nodes it names (`from_node`) and the parameters of its graph (`from_parameter`). A
child graph (`{"process_graph": ...}`) becomes a `Callback`, the callable that
openeo-processes-dask hands data to. Nothing recurses along a chain of nodes, so a chain of
thousands of nodes costs what its processes cost; only callbacks nest, within the depth
that `check_complexity` allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from core import errors
from core.settings import GraphLimits

# A process call: (node id, node as in the graph, resolved arguments, call keywords) -> value.
Call = Callable[[str, dict[str, Any], dict[str, Any], dict[str, Any]], Any]


def references(value: Any) -> Iterator[str]:
    """from_node targets in an argument value, not descending into callbacks."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "from_node" in item and len(item) == 1:
                yield str(item["from_node"])
            elif "process_graph" not in item:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def is_literal(value: Any) -> bool:
    """True when the value holds no node or parameter references and no callback."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "from_node" in item or "from_parameter" in item or "process_graph" in item:
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def check_complexity(graph: Any, limits: GraphLimits) -> None:
    """ProcessGraphComplexity for more nodes (child graphs included) or deeper nesting
    (child graphs and JSON arrays and objects alike) than allowed; linear in the size."""
    max_nodes, max_depth = limits.max_nodes, limits.max_depth
    nodes = len(graph) if isinstance(graph, dict) else 0
    if nodes > max_nodes:
        raise errors.ProcessGraphComplexity(
            f"The process graph has more than {max_nodes} nodes, the most this backend evaluates."
        )
    # value, JSON depth, callback depth
    stack: list[tuple[Any, int, int]] = [(n, 1, 0) for n in (graph or {}).values()]
    while stack:
        value, depth, callbacks = stack.pop()
        if depth > max_depth * 4 or callbacks > max_depth:
            raise errors.ProcessGraphComplexity(
                f"The process graph nests deeper than this backend allows ({max_depth} "
                "levels of child process graphs)."
            )
        if isinstance(value, dict):
            inner = value.get("process_graph")
            if isinstance(inner, dict):
                nodes += len(inner)
                if nodes > max_nodes:
                    raise errors.ProcessGraphComplexity(
                        f"The process graph has more than {max_nodes} nodes, the most this "
                        "backend evaluates."
                    )
                stack.extend((v, depth + 1, callbacks + 1) for v in inner.values())
            else:
                stack.extend((v, depth + 1, callbacks) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, callbacks) for v in value)


def execution_order(graph: dict[str, Any]) -> list[str]:
    """Node ids so that every node comes after the nodes it refers to (Kahn's algorithm)."""
    deps = {nid: set(references(node.get("arguments", {}))) for nid, node in graph.items()}
    users: dict[str, list[str]] = {nid: [] for nid in graph}
    for nid, targets in deps.items():
        for target in targets:
            if target not in graph:
                raise errors.ProcessGraphInvalid(
                    f"Node '{nid}' refers to node '{target}', which does not exist.", node=nid
                )
            users[target].append(nid)
    waiting = {nid: len(targets) for nid, targets in deps.items()}
    ready = [nid for nid, n in waiting.items() if n == 0]
    order = []
    while ready:
        nid = ready.pop()
        order.append(nid)
        for user in users[nid]:
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    if len(order) != len(graph):
        raise errors.ProcessGraphInvalid("The process graph has a cycle.")
    return order


class Callback:
    """A child process graph as a callable: `f(*args, positional_parameters=...,
    named_parameters=..., **keywords)`, the convention of openeo-processes-dask. The
    keywords (axis, keepdims, context, ...) reach every process the child graph calls."""

    def __init__(self, graph: dict[str, Any], call: Call, parameters: dict[str, Any]):
        self.graph, self.call, self.parameters = graph, call, parameters
        self.order = execution_order(graph)

    def __call__(
        self,
        *args: Any,
        positional_parameters: dict[str, Any] | None = None,
        named_parameters: dict[str, Any] | None = None,
        **keywords: Any,
    ) -> Any:
        params = dict(self.parameters)
        if "context" in keywords:
            params["context"] = keywords["context"]
        params.update(named_parameters or {})
        for name, index in (positional_parameters or {}).items():
            params[name] = args[index]
        return run(self.graph, self.call, params, keywords, self.order)

    def sole_call(self, process_id: str, context: Any = None) -> dict[str, Any] | None:
        """The other arguments of the child graph's only node when it calls `process_id` on
        one of the graph's parameters (how clients put run_udf in a callback), else None."""
        if len(self.graph) != 1:
            return None
        ((nid, node),) = self.graph.items()
        args = node.get("arguments") or {}
        data = args.get("data")
        if (
            node.get("process_id") != process_id
            or node.get("namespace") not in (None, "backend")
            or not (isinstance(data, dict) and set(data) == {"from_parameter"})
        ):
            return None
        params = {**self.parameters, "context": context}
        return {k: _resolve(v, {}, params, self.call, nid) for k, v in args.items() if k != "data"}


def _resolve(
    value: Any, results: dict[str, Any], params: dict[str, Any], call: Call, node: str
) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "from_node" in value:
            return results[str(value["from_node"])]
        if len(value) == 1 and "from_parameter" in value:
            name = value["from_parameter"]
            if name not in params:
                raise errors.ProcessGraphInvalid(
                    f"Node '{node}' refers to the parameter '{name}', which is not defined there.",
                    node=node,
                )
            return params[name]
        if isinstance(value.get("process_graph"), dict):
            return Callback(value["process_graph"], call, params)
        return {k: _resolve(v, results, params, call, node) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, results, params, call, node) for v in value]
    return value


def result_node(graph: dict[str, Any]) -> str:
    found = [nid for nid, node in graph.items() if node.get("result") is True]
    if len(found) != 1:
        raise errors.ProcessGraphInvalid(
            f"A process graph needs exactly one result node, found {len(found)}."
        )
    return found[0]


def run(
    graph: dict[str, Any],
    call: Call,
    parameters: dict[str, Any] | None = None,
    keywords: dict[str, Any] | None = None,
    order: list[str] | None = None,
) -> Any:
    """The value of the graph's result node; every node runs once, in dependency order."""
    params = parameters or {}
    results: dict[str, Any] = {}
    for nid in order or execution_order(graph):
        node = graph[nid]
        args = {
            name: _resolve(value, results, params, call, nid)
            for name, value in (node.get("arguments") or {}).items()
        }
        results[nid] = call(nid, node, args, keywords or {})
    return results[result_node(graph)]
