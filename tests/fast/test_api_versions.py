"""API 1.2.0 and 1.3.0 side by side: the same server, the same jobs, each version's links
and what 1.3 adds (bare tokens, OpenEO-Identifier on synchronous results, job times)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from backend.app import create_app
from helpers.serverctl import free_port

V12, V13 = "/openeo/1.2", "/openeo/1.3"
ADD = {
    "process": {
        "process_graph": {"a": {"process_id": "add", "arguments": {"x": 1, "y": 2}, "result": True}}
    }
}


def test_a_synchronous_result_carries_its_identifier(client, alice_headers):
    bare = {"Authorization": alice_headers["Authorization"].replace("basic//", "")}
    for prefix, headers in ((V12, alice_headers), (V13, bare)):
        r = client.post(
            f"{prefix}/result",
            data=json.dumps(ADD),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 200 and r.json == 3
        assert re.fullmatch(r"r-[0-9a-f]{16}", r.headers["OpenEO-Identifier"])


def test_one_job_seen_through_both_versions(client, alice_headers):
    r = client.post(
        f"{V12}/jobs",
        data=json.dumps({**ADD, "title": "both"}),
        headers={**alice_headers, "Content-Type": "application/json"},
    )
    job_id = r.headers["OpenEO-Identifier"]
    for prefix in (V12, V13):
        doc = client.get(f"{prefix}/jobs/{job_id}", headers=alice_headers).json
        assert doc["title"] == "both" and doc["status"] == "created"
        # Never queued, never started, no results to unpublish: left out, not null.
        assert not {"queued", "started", "unpublished"} & doc.keys()
        listed = client.get(f"{prefix}/jobs", headers=alice_headers).json
        assert job_id in [j["id"] for j in listed["jobs"]]
    client.post(f"{V13}/jobs/{job_id}/results", headers=alice_headers)
    doc = client.get(f"{V13}/jobs/{job_id}", headers=alice_headers).json
    assert doc["status"] == "queued" and doc["queued"] >= doc["created"]
    client.delete(f"{V13}/jobs/{job_id}", headers=alice_headers)
    assert client.get(f"{V12}/jobs/{job_id}", headers=alice_headers).status_code == 404


def test_health_needs_no_login_and_is_not_an_api_endpoint(client):
    for prefix in (V12, V13):
        r = client.get(f"{prefix}/health")
        assert r.status_code == 200 and r.json == {"status": "ok", "store": "ok", "collections": 2}
        paths = [e["path"] for e in client.get(f"{prefix}/").json["endpoints"]]
        assert "/health" not in paths


def test_health_is_a_503_when_the_store_is_gone(settings):
    # A PostgreSQL store where nothing listens.
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2"
    r = create_app(replace(settings, database_url=url)).test_client().get(f"{V13}/health")
    assert r.status_code == 503 and r.json["code"] == "ServiceUnavailable"
    assert "store" in r.json["message"] and "Traceback" not in r.json["message"]
