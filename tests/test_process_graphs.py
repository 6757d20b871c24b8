"""User-defined processes: stored per user, validated on PUT, callable by id with defaults."""

from __future__ import annotations

import openeo

from helpers.scene import TEST_BOX
from helpers.serverctl import USERS


def test_a_udp_over_a_datacube_with_the_client(server):
    con = openeo.connect(server.url).authenticate_basic("alice", USERS["alice"])
    ndvi_max = {
        "parameters": [{"name": "data", "schema": {"type": "object", "subtype": "datacube"}}],
        "process_graph": {
            "n": {
                "process_id": "ndvi",
                "arguments": {"data": {"from_parameter": "data"}, "nir": "B08", "red": "B04"},
            },
            "r": {
                "process_id": "reduce_dimension",
                "arguments": {
                    "data": {"from_node": "n"},
                    "dimension": "t",
                    "reducer": {
                        "process_graph": {
                            "m": {
                                "process_id": "max",
                                "arguments": {"data": {"from_parameter": "data"}},
                                "result": True,
                            }
                        }
                    },
                },
                "result": True,
            },
        },
    }
    con.save_user_defined_process(
        "ndvi_max", ndvi_max["process_graph"], parameters=ndvi_max["parameters"]
    )
    cube = con.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2022-06-01", "2022-07-01"],
        bands=["B04", "B08"],
    )
    via_udp = cube.process("ndvi_max", data=cube)
    direct = cube.ndvi(nir="B08", red="B04").reduce_dimension(dimension="t", reducer="max")
    a = con.execute(via_udp.save_result("JSON"))
    b = con.execute(direct.save_result("JSON"))
    assert a == b and a["dims"] == ["y", "x"]
