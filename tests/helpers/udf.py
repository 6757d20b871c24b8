"""A process graph that runs a UDF as the callback of apply or reduce_dimension over a
small cube of the test box (one band, June 2022), for both test tiers."""

from __future__ import annotations

from typing import Any

from helpers.scene import TEST_BOX


def udf_graph(code: str, parent: str = "apply", save: str | None = None, **run_udf: Any) -> dict:
    """{"process": {"process_graph": ...}}: load -> parent(run_udf(code)) [-> save_result]."""
    arguments = {"data": {"from_parameter": "x" if parent == "apply" else "data"}}
    arguments.update({"udf": code, "runtime": "Python", **run_udf})
    callback = {
        "process_graph": {"u": {"process_id": "run_udf", "arguments": arguments, "result": True}}
    }
    parent_args: dict[str, Any] = {"data": {"from_node": "load"}}
    if parent == "apply":
        parent_args["process"] = callback
    else:
        parent_args.update(reducer=callback, dimension="t")
    graph: dict[str, Any] = {
        "load": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": TEST_BOX,
                "temporal_extent": ["2022-06-01", "2022-07-01"],
                "bands": ["B04"],
            },
        },
        "run": {"process_id": parent, "arguments": parent_args, "result": save is None},
    }
    if save:
        graph["save"] = {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "run"}, "format": save},
            "result": True,
        }
    return {"process": {"process_graph": graph}}
