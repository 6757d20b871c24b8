"""User-defined processes: stored per user, validated on PUT, callable by id with defaults."""

from __future__ import annotations

import openeo
import pytest
from conftest import TEST_BOX
from jobs_helpers import Api
from serverctl import USERS

SCALE = {
    "summary": "x times factor",
    "parameters": [{"name": "x", "schema": {"type": "number"}},
                   {"name": "factor", "schema": {"type": "number"}, "default": 10,
                    "optional": True}],
    "returns": {"schema": {"type": "number"}},
    "process_graph": {"m": {"process_id": "multiply", "arguments": {
        "x": {"from_parameter": "x"}, "y": {"from_parameter": "factor"}}, "result": True}},
}


@pytest.fixture
def alice(server) -> Api:
    return Api(server.url, "alice", USERS["alice"])


@pytest.fixture
def bob(server) -> Api:
    return Api(server.url, "bob", USERS["bob"])


def _call(api: Api, graph: dict):
    r = api.request("POST", "/result", json={"process": {"process_graph": graph}})
    return r


def test_store_call_and_delete(alice, bob):
    assert alice.request("PUT", "/process_graphs/scale", json=SCALE).status_code == 200
    listed = alice.request("GET", "/process_graphs").json()["processes"]
    assert [p["id"] for p in listed] == ["scale"] and "process_graph" not in listed[0]
    stored = alice.request("GET", "/process_graphs/scale").json()
    assert stored["process_graph"] == SCALE["process_graph"] and stored["id"] == "scale"
    # Called by id, with and without the parameter that has a default.
    r = _call(alice, {"s": {"process_id": "scale", "arguments": {"x": 4}, "result": True}})
    assert r.status_code == 200 and r.json() == 40
    r = _call(alice, {"s": {"process_id": "scale", "namespace": "user",
                            "arguments": {"x": 4, "factor": 0.5}, "result": True}})
    assert r.json() == 2
    # Nobody else sees it or can call it.
    r = bob.request("GET", "/process_graphs/scale")
    assert r.status_code == 404 and r.json()["code"] == "ProcessGraphNotFound"
    assert bob.request("GET", "/process_graphs").json()["processes"] == []
    r = _call(bob, {"s": {"process_id": "scale", "arguments": {"x": 4}, "result": True}})
    assert r.status_code == 400 and r.json()["code"] == "ProcessUnsupported"
    assert alice.request("DELETE", "/process_graphs/scale").status_code == 204
    assert alice.request("GET", "/process_graphs/scale").status_code == 404


def test_a_udp_over_a_datacube_with_the_client(server):
    con = openeo.connect(server.url).authenticate_basic("alice", USERS["alice"])
    ndvi_max = {
        "parameters": [{"name": "data", "schema": {"type": "object", "subtype": "datacube"}}],
        "process_graph": {
            "n": {"process_id": "ndvi", "arguments": {"data": {"from_parameter": "data"},
                                                      "nir": "B08", "red": "B04"}},
            "r": {"process_id": "reduce_dimension", "arguments": {
                "data": {"from_node": "n"}, "dimension": "t", "reducer": {"process_graph": {
                    "m": {"process_id": "max", "arguments": {"data": {
                        "from_parameter": "data"}}, "result": True}}}}, "result": True}}}
    con.save_user_defined_process("ndvi_max", ndvi_max["process_graph"],
                                  parameters=ndvi_max["parameters"])
    cube = con.load_collection("SENTINEL2_L2A", spatial_extent=TEST_BOX,
                               temporal_extent=["2022-06-01", "2022-07-01"], bands=["B04", "B08"])
    via_udp = cube.process("ndvi_max", data=cube)
    direct = cube.ndvi(nir="B08", red="B04").reduce_dimension(dimension="t", reducer="max")
    a = con.execute(via_udp.save_result("JSON"))
    b = con.execute(direct.save_result("JSON"))
    assert a == b and a["dims"] == ["y", "x"]


def test_put_refuses_bad_graphs(alice):
    bad = {**SCALE, "process_graph": {"m": {"process_id": "nope", "arguments": {},
                                            "result": True}}}
    r = alice.request("PUT", "/process_graphs/bad", json=bad)
    assert r.status_code == 400 and r.json()["code"] == "ProcessUnsupported"
    r = alice.request("PUT", "/process_graphs/ndvi", json=SCALE)
    assert r.status_code == 400 and r.json()["code"] == "PredefinedProcessExists"
    template = {"process_graph": {"a": {"process_id": "absolute", "arguments": {},
                                        "result": True}}}
    assert alice.request("PUT", "/process_graphs/template", json=template).status_code == 200
    r = alice.request("PUT", "/process_graphs/empty", json={"parameters": []})
    assert r.status_code == 400 and r.json()["code"] == "ProcessGraphMissing"
    cyc = {"process_graph": {
        "a": {"process_id": "add", "arguments": {"x": {"from_node": "b"}, "y": 1}},
        "b": {"process_id": "add", "arguments": {"x": {"from_node": "a"}, "y": 1},
              "result": True}}}
    r = alice.request("PUT", "/process_graphs/cyc", json=cyc)
    assert r.status_code == 400 and r.json()["code"] == "ProcessGraphInvalid"
    # Processes that call each other in a circle are refused too.
    ping = {"parameters": [{"name": "x"}], "process_graph": {"p": {
        "process_id": "add", "arguments": {"x": {"from_parameter": "x"}, "y": 1},
        "result": True}}}
    assert alice.request("PUT", "/process_graphs/ping", json=ping).status_code == 200
    pong = {"parameters": [{"name": "x"}], "process_graph": {"p": {
        "process_id": "ping", "arguments": {"x": {"from_parameter": "x"}}, "result": True}}}
    assert alice.request("PUT", "/process_graphs/pong", json=pong).status_code == 200
    ping_calls_pong = {"parameters": [{"name": "x"}], "process_graph": {"p": {
        "process_id": "pong", "arguments": {"x": {"from_parameter": "x"}}, "result": True}}}
    r = alice.request("PUT", "/process_graphs/ping", json=ping_calls_pong)
    assert r.status_code == 400 and r.json()["code"] == "ProcessGraphInvalid"
    assert "ping" in r.json()["message"] and "pong" in r.json()["message"]
    r = _call(alice, {"c": {"process_id": "pong", "arguments": {"x": 1}, "result": True}})
    assert r.json() == 2  # the stored ping is still the first one
