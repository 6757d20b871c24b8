"""Bad inputs and bad credentials get the right openEO error, in the app's own process."""

from __future__ import annotations

import pytest

from helpers.bad_inputs import CASES, body_of, load_graph
from helpers.scene import TEST_BOX

API = "/openeo/1.2"


@pytest.mark.parametrize(
    ("body", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_result_requests(client, alice_headers, body, status, code):
    r = client.post(
        f"{API}/result", data=body, headers={**alice_headers, "Content-Type": "application/json"}
    )
    assert r.status_code == status, r.data[:300]
    assert r.json["code"] == code
    assert r.json["message"] and "Traceback" not in r.json["message"] and r.json["id"]
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_no_login_wrong_password_tampered_token(client, alice_headers):
    r = client.post(f"{API}/result", data=body_of(load_graph()))
    assert r.status_code == 401 and r.json["code"] == "AuthenticationRequired"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = client.get(f"{API}/credentials/basic", auth=("alice", "wrong"))
    assert r.status_code == 403 and r.json["code"] == "CredentialsInvalid"
    r = client.get(f"{API}/credentials/basic", auth=("mallory", "x"))
    assert r.status_code == 403 and r.json["code"] == "CredentialsInvalid"
    token = alice_headers["Authorization"]
    r = client.get(f"{API}/me", headers={"Authorization": token + "x"})
    assert r.status_code == 403 and r.json["code"] == "TokenInvalid"
    r = client.get(f"{API}/me", headers={"Authorization": token.replace("basic//", "oidc/x/")})
    assert r.status_code == 403 and r.json["code"] == "AuthenticationSchemeInvalid"
    me = client.get(f"{API}/me", headers=alice_headers).json
    assert me["user_id"] == "alice"


def test_not_found_and_method_not_allowed_are_openeo_errors(client):
    r = client.get(f"{API}/nothing-here")
    assert r.status_code == 404 and r.json["code"] == "NotFound"
    r = client.delete(f"{API}/collections")
    assert r.status_code == 405 and r.json["code"] == "MethodNotAllowed"
    r = client.get(f"{API}/collections/NOPE")
    assert r.status_code == 404 and r.json["code"] == "CollectionNotFound"


def test_validation_lists_errors(client, alice_headers):
    graph = {
        "a": {"process_id": "make_coffee", "arguments": {}},
        "b": {"process_id": "add", "arguments": {"x": 1}, "result": True},
    }
    r = client.post(f"{API}/validation", json={"process_graph": graph}, headers=alice_headers)
    assert r.status_code == 200
    assert sorted(e["code"] for e in r.json["errors"]) == [
        "ProcessParameterRequired",
        "ProcessUnsupported",
    ]
    r = client.post(f"{API}/validation", json={"process_graph": load_graph()})
    assert r.status_code == 200 and r.json["errors"] == []


def _reduced(dimension: str, then: str) -> dict:
    """load -> reduce_dimension(mean over `dimension`) -> `then`(data)."""
    graph = load_graph(bands=["B02", "B03", "B04", "B08", "SCL"])
    graph.pop("save")
    graph["reduce"] = {
        "process_id": "reduce_dimension",
        "arguments": {
            "data": {"from_node": "load"},
            "dimension": dimension,
            "reducer": {
                "process_graph": {
                    "m": {
                        "process_id": "mean",
                        "arguments": {"data": {"from_parameter": "data"}},
                        "result": True,
                    }
                }
            },
        },
    }
    graph["own"] = {
        "process_id": then,
        "arguments": {"data": {"from_node": "reduce"}},
        "result": True,
    }
    return graph


@pytest.mark.parametrize(
    ("process", "dimension", "needs"),
    [
        ("unet_segment", "bands", "bands, y and x"),
        ("monthly_composite", "t", "t, bands, y and x"),
        ("lstm_classify", "t", "t, bands, y and x"),
        ("ndvi_forecast", "bands", "t, bands, y and x"),
    ],
)
def test_crop_processes_say_which_dimensions_they_need(
    client, alice_headers, process, dimension, needs
):
    r = client.post(
        f"{API}/result",
        data=body_of(_reduced(dimension, process)),
        headers={**alice_headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json["code"] == "DimensionMissing", r.json
    assert f"{process} needs the dimensions {needs}; the cube has " in r.json["message"]
    assert dimension not in r.json["message"].split("the cube has ")[1]


def test_box_of_the_test_suite_is_inside_the_demo_scene(client, alice_headers):
    """The fixtures' scene covers the box the tests (and the openEO test suite) read."""
    graph = load_graph(temporal_extent=["2022-06-01", "2022-06-05"])
    graph["save"]["arguments"]["format"] = "JSON"
    r = client.post(
        f"{API}/result",
        data=body_of(graph),
        headers={**alice_headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 200
    w, e = TEST_BOX["west"], TEST_BOX["east"]
    assert len(r.json["coords"]["x"]) == (e - w) // 10
