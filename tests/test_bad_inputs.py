"""Every bad input gets the right openEO error code and status, and the server keeps serving."""

from __future__ import annotations

import json

import pytest
import requests
from conftest import TEST_BOX


def _load(**overrides) -> dict:
    args = {"id": "SENTINEL2_L2A", "spatial_extent": TEST_BOX,
            "temporal_extent": ["2022-06-01", "2022-06-10"], "bands": ["B04"]}
    args.update(overrides)
    return {"load": {"process_id": "load_collection", "arguments": args},
            "save": {"process_id": "save_result",
                     "arguments": {"data": {"from_node": "load"}, "format": "GTiff"},
                     "result": True}}


def _body(graph: dict) -> str:
    return json.dumps({"process": {"process_graph": graph}})


CASES = [
    ("malformed JSON", "{not json", 400, "BadRequest"),
    ("no process", json.dumps({"title": "x"}), 400, "ProcessGraphMissing"),
    ("no result node", _body({"a": {"process_id": "add", "arguments": {"x": 1, "y": 2}}}),
     400, "ProcessGraphInvalid"),
    ("cycle", _body({
        "a": {"process_id": "add", "arguments": {"x": {"from_node": "b"}, "y": 1}},
        "b": {"process_id": "add", "arguments": {"x": {"from_node": "a"}, "y": 1},
              "result": True}}), 400, "ProcessGraphInvalid"),
    ("dangling reference", _body({
        "b": {"process_id": "add", "arguments": {"x": {"from_node": "zz"}, "y": 1},
              "result": True}}), 400, "ProcessGraphInvalid"),
    ("unknown process", _body({"a": {"process_id": "make_coffee", "arguments": {},
                                     "result": True}}), 400, "ProcessUnsupported"),
    ("unknown parameter", _body({"a": {"process_id": "add", "arguments": {"x": 1, "y": 2, "z": 3},
                                       "result": True}}), 400, "ProcessParameterUnsupported"),
    ("missing parameter", _body({"a": {"process_id": "add", "arguments": {"x": 1},
                                       "result": True}}), 400, "ProcessParameterRequired"),
    ("unknown collection", _body(_load(id="LANDSAT_99")), 404, "CollectionNotFound"),
    ("west > east", _body(_load(spatial_extent={**TEST_BOX, "west": 680700})),
     400, "ProcessParameterInvalid"),
    ("unknown crs", _body(_load(spatial_extent={**TEST_BOX, "crs": "EPSG:999999"})),
     400, "ProcessParameterInvalid"),
    ("temporal extent outside the data", _body(_load(temporal_extent=["2015-01-01",
                                                                       "2015-02-01"])),
     400, "NoDataAvailable"),
    ("start after end", _body(_load(temporal_extent=["2022-06-10", "2022-06-01"])),
     400, "ProcessParameterInvalid"),
    ("unknown band", _body(_load(bands=["B99"])), 400, "ProcessParameterInvalid"),
    ("over the size limit", _body(_load(spatial_extent=None, temporal_extent=None, bands=None)),
     400, "ProcessGraphComplexity"),
    ("unknown format", _body({**_load(), "save": {
        "process_id": "save_result",
        "arguments": {"data": {"from_node": "load"}, "format": "BMP"}, "result": True}}),
     400, "FormatUnsupported"),
]


@pytest.mark.parametrize(("body", "status", "code"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_result_requests(server, auth_headers, body, status, code):
    r = requests.post(f"{server.url}/result", data=body,
                      headers={**auth_headers, "Content-Type": "application/json"}, timeout=60)
    assert r.status_code == status, r.content[:300]
    doc = r.json()
    assert doc["code"] == code
    assert doc["message"] and "Traceback" not in doc["message"] and doc["id"]
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # ... and the server still computes after it.
    ok = requests.post(f"{server.url}/result", data=_body({"a": {
        "process_id": "add", "arguments": {"x": 1, "y": 2}, "result": True}}),
        headers={**auth_headers, "Content-Type": "application/json"}, timeout=60)
    assert ok.status_code == 200 and ok.json() == 3


def test_no_login(server):
    r = requests.post(f"{server.url}/result", data=_body(_load()), timeout=30)
    assert r.status_code == 401 and r.json()["code"] == "AuthenticationRequired"


def test_wrong_password(server):
    r = requests.get(f"{server.url}/credentials/basic", auth=("alice", "wrong"), timeout=30)
    assert r.status_code == 403 and r.json()["code"] == "CredentialsInvalid"
    r = requests.get(f"{server.url}/credentials/basic", auth=("mallory", "x"), timeout=30)
    assert r.status_code == 403 and r.json()["code"] == "CredentialsInvalid"


def test_tampered_token(server, token):
    r = requests.get(f"{server.url}/me", headers={"Authorization": f"Bearer basic//{token}x"},
                     timeout=30)
    assert r.status_code == 403 and r.json()["code"] == "TokenInvalid"
    r = requests.get(f"{server.url}/me", headers={"Authorization": f"Bearer oidc/x/{token}"},
                     timeout=30)
    assert r.status_code == 403 and r.json()["code"] == "AuthenticationSchemeInvalid"


def test_not_found_and_method_not_allowed_are_openeo_errors(server):
    r = requests.get(f"{server.url}/nothing-here", timeout=30)
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = requests.delete(f"{server.url}/collections", timeout=30)
    assert r.status_code == 405 and r.json()["code"] == "MethodNotAllowed"
    r = requests.get(f"{server.url}/collections/NOPE", timeout=30)
    assert r.status_code == 404 and r.json()["code"] == "CollectionNotFound"


def test_validation_lists_errors(server, auth_headers):
    graph = {"a": {"process_id": "make_coffee", "arguments": {}},
             "b": {"process_id": "add", "arguments": {"x": 1}, "result": True}}
    r = requests.post(f"{server.url}/validation", json={"process_graph": graph},
                      headers=auth_headers, timeout=30)
    assert r.status_code == 200
    codes = sorted(e["code"] for e in r.json()["errors"])
    assert codes == ["ProcessParameterRequired", "ProcessUnsupported"]
    r = requests.post(f"{server.url}/validation", json={"process_graph": _load()}, timeout=30)
    assert r.status_code == 200 and r.json()["errors"] == []


def test_results_leave_nothing_behind(server, auth_headers):
    """POST /result writes its file in a temporary folder: none may outlive the request,
    whether it succeeds, fails while writing or the client reads only part of it."""
    before = sorted(p.name for p in server.tmp_dir.iterdir())
    gtiff = requests.post(f"{server.url}/result", data=_body(_load()),
                          headers={**auth_headers, "Content-Type": "application/json"},
                          timeout=60)
    assert gtiff.status_code == 200 and gtiff.content[:2] in (b"II", b"MM")
    assert int(gtiff.headers["Content-Length"]) == len(gtiff.content)
    png_of_series = _load()  # PNG takes one date at most: this fails while writing
    png_of_series["save"]["arguments"]["format"] = "PNG"
    png_of_series["load"]["arguments"]["temporal_extent"] = ["2022-06-01", "2022-07-30"]
    failed = requests.post(f"{server.url}/result", data=_body(png_of_series),
                           headers={**auth_headers, "Content-Type": "application/json"},
                           timeout=60)
    assert failed.status_code == 400, failed.content[:300]
    with requests.post(f"{server.url}/result", data=_body(_load()), stream=True,
                       headers={**auth_headers, "Content-Type": "application/json"},
                       timeout=60) as partial:
        assert partial.status_code == 200
        next(partial.iter_content(100))
    assert sorted(p.name for p in server.tmp_dir.iterdir()) == before
