"""Bad requests with the openEO error each must get: both tiers send them."""

from __future__ import annotations

import json

from helpers.scene import TEST_BOX


def load_graph(**overrides) -> dict:
    args = {
        "id": "SENTINEL2_L2A",
        "spatial_extent": TEST_BOX,
        "temporal_extent": ["2022-06-01", "2022-06-10"],
        "bands": ["B04"],
    }
    args.update(overrides)
    return {
        "load": {"process_id": "load_collection", "arguments": args},
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "load"}, "format": "GTiff"},
            "result": True,
        },
    }


def body_of(graph: dict) -> str:
    return json.dumps({"process": {"process_graph": graph}})


CASES = [
    ("malformed JSON", "{not json", 400, "BadRequest"),
    ("no process", json.dumps({"title": "x"}), 400, "ProcessGraphMissing"),
    (
        "no result node",
        body_of({"a": {"process_id": "add", "arguments": {"x": 1, "y": 2}}}),
        400,
        "ProcessGraphInvalid",
    ),
    (
        "cycle",
        body_of(
            {
                "a": {"process_id": "add", "arguments": {"x": {"from_node": "b"}, "y": 1}},
                "b": {
                    "process_id": "add",
                    "arguments": {"x": {"from_node": "a"}, "y": 1},
                    "result": True,
                },
            }
        ),
        400,
        "ProcessGraphInvalid",
    ),
    (
        "dangling reference",
        body_of(
            {
                "b": {
                    "process_id": "add",
                    "arguments": {"x": {"from_node": "zz"}, "y": 1},
                    "result": True,
                }
            }
        ),
        400,
        "ProcessGraphInvalid",
    ),
    (
        "unknown process",
        body_of({"a": {"process_id": "make_coffee", "arguments": {}, "result": True}}),
        400,
        "ProcessUnsupported",
    ),
    (
        "unknown parameter",
        body_of(
            {"a": {"process_id": "add", "arguments": {"x": 1, "y": 2, "z": 3}, "result": True}}
        ),
        400,
        "ProcessParameterUnsupported",
    ),
    (
        "missing parameter",
        body_of({"a": {"process_id": "add", "arguments": {"x": 1}, "result": True}}),
        400,
        "ProcessParameterRequired",
    ),
    ("unknown collection", body_of(load_graph(id="LANDSAT_99")), 404, "CollectionNotFound"),
    (
        "west > east",
        body_of(load_graph(spatial_extent={**TEST_BOX, "west": 680700})),
        400,
        "ProcessParameterInvalid",
    ),
    (
        "unknown crs",
        body_of(load_graph(spatial_extent={**TEST_BOX, "crs": "EPSG:999999"})),
        400,
        "ProcessParameterInvalid",
    ),
    (
        "temporal extent outside the data",
        body_of(load_graph(temporal_extent=["2015-01-01", "2015-02-01"])),
        400,
        "NoDataAvailable",
    ),
    (
        "start after end",
        body_of(load_graph(temporal_extent=["2022-06-10", "2022-06-01"])),
        400,
        "ProcessParameterInvalid",
    ),
    ("unknown band", body_of(load_graph(bands=["B99"])), 400, "ProcessParameterInvalid"),
    (
        "over the size limit",
        body_of(load_graph(spatial_extent=None, temporal_extent=None, bands=None)),
        400,
        "ProcessGraphComplexity",
    ),
    (
        "unknown format",
        body_of(
            {
                **load_graph(),
                "save": {
                    "process_id": "save_result",
                    "arguments": {"data": {"from_node": "load"}, "format": "BMP"},
                    "result": True,
                },
            }
        ),
        400,
        "FormatUnsupported",
    ),
]
