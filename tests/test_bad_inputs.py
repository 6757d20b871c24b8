"""Every bad input gets the right openEO error code and status, and the server keeps serving."""

from __future__ import annotations

import pytest
import requests

from helpers.bad_inputs import CASES, body_of, load_graph


@pytest.mark.parametrize(
    ("body", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_result_requests(server, auth_headers, body, status, code):
    r = requests.post(
        f"{server.url}/result",
        data=body,
        headers={**auth_headers, "Content-Type": "application/json"},
        timeout=60,
    )
    assert r.status_code == status, r.content[:300]
    doc = r.json()
    assert doc["code"] == code
    assert doc["message"] and "Traceback" not in doc["message"] and doc["id"]
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # ... and the server still computes after it.
    ok = requests.post(
        f"{server.url}/result",
        data=body_of({"a": {"process_id": "add", "arguments": {"x": 1, "y": 2}, "result": True}}),
        headers={**auth_headers, "Content-Type": "application/json"},
        timeout=60,
    )
    assert ok.status_code == 200 and ok.json() == 3


def test_results_leave_nothing_behind(server, auth_headers):
    """POST /result writes its file in a temporary folder: none may outlive the request,
    whether it succeeds, fails while writing or the client reads only part of it."""
    before = sorted(p.name for p in server.tmp_dir.iterdir())
    gtiff = requests.post(
        f"{server.url}/result",
        data=body_of(load_graph()),
        headers={**auth_headers, "Content-Type": "application/json"},
        timeout=60,
    )
    assert gtiff.status_code == 200 and gtiff.content[:2] in (b"II", b"MM")
    assert int(gtiff.headers["Content-Length"]) == len(gtiff.content)
    png_of_series = load_graph()  # PNG takes one date at most: this fails while writing
    png_of_series["save"]["arguments"]["format"] = "PNG"
    png_of_series["load"]["arguments"]["temporal_extent"] = ["2022-06-01", "2022-07-30"]
    failed = requests.post(
        f"{server.url}/result",
        data=body_of(png_of_series),
        headers={**auth_headers, "Content-Type": "application/json"},
        timeout=60,
    )
    assert failed.status_code == 400, failed.content[:300]
    with requests.post(
        f"{server.url}/result",
        data=body_of(load_graph()),
        stream=True,
        headers={**auth_headers, "Content-Type": "application/json"},
        timeout=60,
    ) as partial:
        assert partial.status_code == 200
        next(partial.iter_content(100))
    assert sorted(p.name for p in server.tmp_dir.iterdir()) == before
