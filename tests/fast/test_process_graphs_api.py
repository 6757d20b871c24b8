"""User-defined processes over HTTP: stored per user, validated on PUT, callable by id."""

from __future__ import annotations

import pytest

API = "/openeo/1.2"

SCALE = {
    "summary": "x times factor",
    "parameters": [
        {"name": "x", "schema": {"type": "number"}},
        {"name": "factor", "schema": {"type": "number"}, "default": 10, "optional": True},
    ],
    "returns": {"schema": {"type": "number"}},
    "process_graph": {
        "m": {
            "process_id": "multiply",
            "arguments": {"x": {"from_parameter": "x"}, "y": {"from_parameter": "factor"}},
            "result": True,
        }
    },
}


class Api:
    """The app's test client as one user: request(method, path, json=...)."""

    def __init__(self, client, headers: dict[str, str]):
        self.client, self.headers = client, headers

    def request(self, method: str, path: str, **kwargs):
        return self.client.open(API + path, method=method, headers=self.headers, **kwargs)


@pytest.fixture
def alice(client, alice_headers) -> Api:
    return Api(client, alice_headers)


@pytest.fixture
def bob(client, bob_headers) -> Api:
    return Api(client, bob_headers)


def _call(api: Api, graph: dict):
    return api.request("POST", "/result", json={"process": {"process_graph": graph}})


def test_store_call_and_delete(alice, bob):
    assert alice.request("PUT", "/process_graphs/scale", json=SCALE).status_code == 200
    listed = alice.request("GET", "/process_graphs").json["processes"]
    assert [p["id"] for p in listed] == ["scale"] and "process_graph" not in listed[0]
    stored = alice.request("GET", "/process_graphs/scale").json
    assert stored["process_graph"] == SCALE["process_graph"] and stored["id"] == "scale"
    # Called by id, with and without the parameter that has a default.
    r = _call(alice, {"s": {"process_id": "scale", "arguments": {"x": 4}, "result": True}})
    assert r.status_code == 200 and r.json == 40
    r = _call(
        alice,
        {
            "s": {
                "process_id": "scale",
                "namespace": "user",
                "arguments": {"x": 4, "factor": 0.5},
                "result": True,
            }
        },
    )
    assert r.json == 2
    # Nobody else sees it or can call it.
    r = bob.request("GET", "/process_graphs/scale")
    assert r.status_code == 404 and r.json["code"] == "ProcessGraphNotFound"
    assert bob.request("GET", "/process_graphs").json["processes"] == []
    r = _call(bob, {"s": {"process_id": "scale", "arguments": {"x": 4}, "result": True}})
    assert r.status_code == 400 and r.json["code"] == "ProcessUnsupported"
    assert alice.request("DELETE", "/process_graphs/scale").status_code == 204
    assert alice.request("GET", "/process_graphs/scale").status_code == 404


def test_put_refuses_bad_graphs(alice):
    bad = {**SCALE, "process_graph": {"m": {"process_id": "nope", "arguments": {}, "result": True}}}
    r = alice.request("PUT", "/process_graphs/bad", json=bad)
    assert r.status_code == 400 and r.json["code"] == "ProcessUnsupported"
    r = alice.request("PUT", "/process_graphs/ndvi", json=SCALE)
    assert r.status_code == 400 and r.json["code"] == "PredefinedProcessExists"
    template = {"process_graph": {"a": {"process_id": "absolute", "arguments": {}, "result": True}}}
    assert alice.request("PUT", "/process_graphs/template", json=template).status_code == 200
    r = alice.request("PUT", "/process_graphs/empty", json={"parameters": []})
    assert r.status_code == 400 and r.json["code"] == "ProcessGraphMissing"
    cyc = {
        "process_graph": {
            "a": {"process_id": "add", "arguments": {"x": {"from_node": "b"}, "y": 1}},
            "b": {
                "process_id": "add",
                "arguments": {"x": {"from_node": "a"}, "y": 1},
                "result": True,
            },
        }
    }
    r = alice.request("PUT", "/process_graphs/cyc", json=cyc)
    assert r.status_code == 400 and r.json["code"] == "ProcessGraphInvalid"
    # Processes that call each other in a circle are refused too.
    ping = {
        "parameters": [{"name": "x"}],
        "process_graph": {
            "p": {
                "process_id": "add",
                "arguments": {"x": {"from_parameter": "x"}, "y": 1},
                "result": True,
            }
        },
    }
    assert alice.request("PUT", "/process_graphs/ping", json=ping).status_code == 200
    pong = {
        "parameters": [{"name": "x"}],
        "process_graph": {
            "p": {"process_id": "ping", "arguments": {"x": {"from_parameter": "x"}}, "result": True}
        },
    }
    assert alice.request("PUT", "/process_graphs/pong", json=pong).status_code == 200
    ping_calls_pong = {
        "parameters": [{"name": "x"}],
        "process_graph": {
            "p": {"process_id": "pong", "arguments": {"x": {"from_parameter": "x"}}, "result": True}
        },
    }
    r = alice.request("PUT", "/process_graphs/ping", json=ping_calls_pong)
    assert r.status_code == 400 and r.json["code"] == "ProcessGraphInvalid"
    assert "ping" in r.json["message"] and "pong" in r.json["message"]
    r = _call(alice, {"c": {"process_id": "pong", "arguments": {"x": 1}, "result": True}})
    assert r.json == 2  # the stored ping is still the first one
