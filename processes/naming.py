"""Names that say what a cube holds after processes that drop its bands: `ndvi` gives
"NDVI", a reducer over time appends its process ("NDVI max"), a reducer over bands names
its formula ("normalized_difference(B08, B04)"). Writers use the name where a band has no
label of its own (a GTiff band description, a netCDF variable)."""

from __future__ import annotations

from typing import Any

import xarray as xr


def _label(value: Any, graph: dict[str, Any]) -> str | None:
    """The band label an `array_element` argument picks, if it is one."""
    if isinstance(value, dict) and "from_node" in value:
        node = graph.get(str(value["from_node"])) or {}
        if node.get("process_id") == "array_element":
            label = (node.get("arguments") or {}).get("label")
            return None if label is None else str(label)
    return None


def _formula(callback: Any) -> str | None:
    """A short name for a reducer's child graph: its result process, with the bands it
    takes when they are picked by label."""
    graph = callback.get("process_graph") if isinstance(callback, dict) else None
    if not isinstance(graph, dict):
        return None
    result = next((n for n in graph.values() if n.get("result") is True), None)
    if result is None:
        return None
    pid = str(result.get("process_id"))
    labels = [_label(v, graph) for v in (result.get("arguments") or {}).values()]
    picked = [label for label in labels if label is not None]
    return f"{pid}({', '.join(picked)})" if picked else pid


def name_result(
    process_id: str, node_arguments: dict[str, Any], args: dict[str, Any], result: Any
) -> Any:
    """The result of one process call, renamed when the process changes what it holds."""
    if not isinstance(result, xr.DataArray):
        return result
    if process_id == "ndvi" and args.get("target_band") is None:
        return result.rename("NDVI")
    if process_id == "normalized_difference":
        return result.rename("normalized_difference")
    if process_id == "reduce_dimension":
        formula = _formula(node_arguments.get("reducer"))
        if formula is None:
            return result
        source = args.get("data")
        if args.get("dimension") == "bands" or not isinstance(source, xr.DataArray):
            return result.rename(formula)
        return result.rename(f"{source.name} {formula}" if source.name else formula)
    return result
