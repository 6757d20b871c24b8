"""API 1.2.0 and 1.3.0 side by side: the same server, the same jobs, each version's links
and what 1.3 adds (bare tokens, OpenEO-Identifier on synchronous results, job times)."""

from __future__ import annotations

import json
import re

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
