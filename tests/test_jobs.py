"""Batch jobs through the real `openeo` client and the HTTP API: results, logs, users."""

from __future__ import annotations

import hashlib
import re
import time

import numpy as np
import openeo
import psutil
import pytest
import rasterio
import requests
from PIL import Image

from backend.auth import secret
from backend.jobs.signing import UrlSigner
from helpers.jobs import Api, job_workers, ndvi_graph, slow_graph
from helpers.reference import ndvi_stack
from helpers.scene import TEST_BOX
from helpers.serverctl import USERS, start_server, stop_server

JOB_ENV = {
    "CROPCUBE_WORKERS": "2",
    "CROPCUBE_JOB_HEARTBEAT_S": "0.5",
    "CROPCUBE_JOB_STALE_S": "5",
    "CROPCUBE_JOB_POLL_S": "0.2",
}


@pytest.fixture(scope="module")
def job_server(demo_catalog, tmp_path_factory):
    srv = start_server(
        tmp_path_factory.mktemp("jobs"), {"CROPCUBE_STAC_URL": str(demo_catalog), **JOB_ENV}
    )
    yield srv
    stop_server(srv)


@pytest.fixture
def alice(job_server) -> Api:
    return Api(job_server.url, "alice", USERS["alice"])


@pytest.fixture
def bob(job_server) -> Api:
    return Api(job_server.url, "bob", USERS["bob"])


def test_client_batch_job_end_to_end(job_server, demo_catalog, tmp_path):
    # Through well-known discovery, as users connect: the client picks API 1.3.
    con = openeo.connect(job_server.root).authenticate_basic("alice", USERS["alice"])
    assert con.capabilities().api_version() == "1.3.0"
    cube = con.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2022-06-01", "2022-07-01"],
        bands=["B04", "B08"],
    )
    result = cube.ndvi(nir="B08", red="B04").reduce_dimension(dimension="t", reducer="max")
    job = con.create_job(result.save_result("GTiff"), title="NDVI June")
    assert job.status() == "created"
    job.start_and_wait(max_poll_interval=1)
    assert job.status() == "finished"
    # API 1.3's timestamps: queued <= started <= updated (finished), results kept 30 days.
    doc = job.describe()
    created, queued, started, updated, unpublished = (
        np.datetime64(doc[k].rstrip("Z"))
        for k in ("created", "queued", "started", "updated", "unpublished")
    )
    assert created <= queued <= started <= updated
    kept = unpublished - updated  # `finished` is taken a moment before `updated`
    assert np.timedelta64(30 * 86400 - 1, "s") <= kept <= np.timedelta64(30, "D")
    results = job.get_results()
    paths = results.download_files(tmp_path)
    tif = next(p for p in paths if p.suffix == ".tif")
    expected = np.nanmax(ndvi_stack(demo_catalog, "2022-06-01", "2022-07-01", TEST_BOX), axis=0)
    with rasterio.open(tif) as src:
        np.testing.assert_allclose(src.read(1), expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    meta = results.get_metadata()
    asset = meta["assets"][tif.name]
    assert asset["file:size"] == tif.stat().st_size
    assert asset["file:checksum"] == "1220" + hashlib.sha256(tif.read_bytes()).hexdigest()
    assert asset["proj:epsg"] == 32632 and asset["proj:shape"] == [84, 96]
    assert asset["raster:bands"][0]["data_type"] == "float32"
    assert asset["type"].startswith("image/tiff") and asset["roles"] == ["data"]
    # Statistics, written while the blocks streamed, equal numpy's on the file read back.
    with rasterio.open(tif) as src:
        values, tags = src.read(1), src.tags(1)
        assert src.descriptions == ("NDVI max",)
    valid = values[np.isfinite(values)]
    wanted = {
        "minimum": valid.min(),
        "maximum": valid.max(),
        "mean": valid.mean(dtype=np.float64),
        "stddev": valid.std(dtype=np.float64),
        "valid_percent": 100 * valid.size / values.size,
    }
    stats = asset["raster:bands"][0]["statistics"]
    for key, value in wanted.items():
        assert stats[key] == pytest.approx(float(value), rel=1e-6), key
        assert float(
            tags[f"STATISTICS_{'VALID_PERCENT' if key == 'valid_percent' else key.upper()}"]
        ) == pytest.approx(float(value), rel=1e-6)
    # A quick look comes with every raster result, and shows something.
    thumb = meta["assets"]["thumbnail.png"]
    assert thumb["roles"] == ["thumbnail"] and thumb["type"] == "image/png"
    assert list(meta["assets"])[-1] != "thumbnail.png"  # data last: the Web Editor shows it
    picture = np.asarray(Image.open(tmp_path / "thumbnail.png").convert("LA"))
    assert picture[..., 1].max() == 255 and picture[..., 0][picture[..., 1] == 255].std() > 10
    assert meta["properties"]["start_datetime"].startswith("2022-06")
    assert {k: meta["properties"][k] for k in ("queued", "started", "unpublished")} == {
        k: doc[k] for k in ("queued", "started", "unpublished")
    }
    assert meta["links"][0]["href"].startswith(f"{job_server.root}/openeo/1.3/jobs/")
    assert "signature=" in asset["href"] and "expires=" in asset["href"]
    # Signed links download without a bearer token ...
    assert requests.get(asset["href"], timeout=30).content == tif.read_bytes()
    messages = [entry["message"] for entry in job.logs()]
    assert messages[0] == "Job created." and any("finished" in m for m in messages)
    # The log says where the time went: what was loaded, each stage, the blocks written.
    dates = len(ndvi_stack(demo_catalog, "2022-06-01", "2022-07-01", TEST_BOX))
    loaded = next(m for m in messages if m.startswith("load_collection SENTINEL2_L2A: "))
    found = re.match(
        rf"load_collection SENTINEL2_L2A: (\d+) items, read on their own grids; {dates} dates, "
        r"2 bands, 84 x 96 px, chunks ",
        loaded,
    )
    assert found and int(found.group(1)) >= dates, loaded
    for stage in ("Graph evaluated in", "Read, computed and written in", "Results described in"):
        assert any(m.startswith(stage) for m in messages), stage
    # ... and how the compute stage divides: reading the COGs, computing, writing.
    split = next(m for m in messages if m.startswith("Tasks ran "))
    figures = re.match(
        r"Tasks ran ([\d.]+) s on \d+ thread\(s\) of 1 worker\(s\): reading COGs ([\d.]+) s, "
        r"computing ([\d.]+) s; the writers waited ([\d.]+) s for blocks and wrote for "
        r"([\d.]+) s\.",
        split,
    )
    assert figures, split
    total, reading, computing = (float(figures.group(i)) for i in (1, 2, 3))
    assert reading > 0 and computing > 0 and total == pytest.approx(reading + computing, abs=0.11)


def test_tampered_and_expired_links_are_refused(alice, job_server):
    job_id = alice.create(ndvi_graph())
    alice.start(job_id)
    assert alice.wait(job_id, {"finished", "error"}) == "finished"
    href = alice.request("GET", f"/jobs/{job_id}/results").json()["assets"]["result.tif"]["href"]
    tampered = href.replace("result.tif", "result.nc")
    r = requests.get(tampered, timeout=30)
    assert r.status_code == 403 and r.json()["code"] == "PermissionsInsufficient"
    r = requests.get(href[:-1] + ("0" if href[-1] != "0" else "1"), timeout=30)
    assert r.status_code == 403
    signer = UrlSigner(secret(job_server.data_dir / "secret.key"), ttl_s=-10)
    expires, signature = signer.sign(job_id, "result.tif")
    base = href.split("?")[0]
    r = requests.get(f"{base}?expires={expires}&signature={signature}", timeout=30)
    assert r.status_code == 410 and r.json()["code"] == "ResultLinkExpired"
    r = requests.get(f"{base}?expires={expires + 3600}&signature={signature}", timeout=30)
    assert r.status_code == 403  # the expiry is part of the signature


def test_failing_graph_ends_in_error_with_a_log_entry(job_server):
    con = openeo.connect(job_server.url).authenticate_basic("alice", USERS["alice"])
    cube = con.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2015-01-01", "2015-02-01"],
        bands=["B04"],
    )
    job = con.create_job(cube.save_result("GTiff"))
    with pytest.raises(openeo.rest.JobFailedException):
        job.start_and_wait(max_poll_interval=1)
    assert job.status() == "error"
    errors = [e for e in job.logs() if e["level"] == "error"]
    assert errors[0]["code"] == "NoDataAvailable"
    assert "covers" in errors[0]["message"]
    r = requests.get(
        f"{job_server.url}/jobs/{job.job_id}/results",
        headers={"Authorization": con.auth.bearer and f"Bearer {con.auth.bearer}"},
        timeout=30,
    )
    assert r.status_code == 400 and r.json()["code"] == "JobNotFinished"


def test_validation_error_names_the_node(alice):
    graph = ndvi_graph()
    graph["load"]["arguments"]["id"] = "NOPE"
    job_id = alice.create(graph)
    alice.start(job_id)
    assert alice.wait(job_id, {"finished", "error"}) == "error"
    entry = [e for e in alice.logs(job_id) if e["level"] == "error"][0]
    assert entry["code"] == "CollectionNotFound" and entry["path"] == [{"node_id": "load"}]


def test_logs_level_and_offset_paging(alice):
    job_id = alice.create(ndvi_graph(), log_level="debug")
    alice.start(job_id)
    alice.wait(job_id, {"finished"})
    everything = alice.logs(job_id)
    assert [e["message"] for e in everything[:2]] == ["Job created.", "Job queued."]
    assert any(e["level"] == "debug" for e in everything)
    blocks = [e["message"] for e in everything if e["message"].startswith("Written ")]
    assert blocks and blocks[-1].split()[1] == blocks[-1].split()[3]  # "Written n of n blocks"
    assert all(e["level"] != "debug" for e in alice.logs(job_id, level="info"))
    after_first = alice.logs(job_id, offset=everything[0]["id"])
    assert after_first == everything[1:]
    page = alice.request("GET", f"/jobs/{job_id}/logs", params={"limit": 2}).json()
    assert len(page["logs"]) == 2 and page["links"][0]["rel"] == "next"
    assert (
        requests.get(page["links"][0]["href"], headers=alice.headers, timeout=30).json()["logs"]
        == everything[2:4]
    )


def test_cancel_stops_the_computation_and_delete_removes_files(alice, job_server):
    job_id = alice.create(slow_graph())
    alice.start(job_id)
    alice.wait(job_id, {"running"})
    r = alice.request("PATCH", f"/jobs/{job_id}", json={"title": "x"})
    assert r.status_code == 400 and r.json()["code"] == "JobLocked"
    progress = alice.request("GET", f"/jobs/{job_id}").json()["progress"]
    assert 0 <= progress < 100
    time.sleep(1.0)
    busy = [job for worker in job_workers(job_server) for job in worker.children()]
    assert busy, "the running job has a process"
    assert alice.request("DELETE", f"/jobs/{job_id}/results").status_code == 204
    assert alice.status(job_id) == "canceled"
    psutil.wait_procs(busy, timeout=10)
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in busy)
    assert not (job_server.data_dir / "results" / job_id).exists()
    # A finished job's files go with the job.
    done = alice.create(ndvi_graph())
    alice.start(done)
    alice.wait(done, {"finished"})
    assert (job_server.data_dir / "results" / done / "result.tif").exists()
    assert alice.request("DELETE", f"/jobs/{done}").status_code == 204
    assert not (job_server.data_dir / "results" / done).exists()


def test_results_expire_after_the_retention_period(demo_catalog, tmp_path):
    srv = start_server(
        tmp_path / "retention",
        {"CROPCUBE_STAC_URL": str(demo_catalog), **JOB_ENV, "CROPCUBE_RESULTS_DAYS": "0.00003"},
    )
    try:
        alice = Api(srv.url, "alice", USERS["alice"])
        job_id = alice.create(ndvi_graph())
        alice.start(job_id)
        alice.wait(job_id, {"finished"})
        folder = srv.data_dir / "results" / job_id
        deadline = time.time() + 30
        while folder.exists() and time.time() < deadline:
            time.sleep(0.3)
        assert not folder.exists()  # 2.6 s retention
        r = alice.request("GET", f"/jobs/{job_id}/results")
        assert r.status_code == 410 and r.json()["code"] == "ResultLinkExpired"
        assert any("deleted" in e["message"] for e in alice.logs(job_id))
    finally:
        stop_server(srv)


def test_tokens_and_signatures_stay_out_of_the_logs(alice, job_server):
    job_id = alice.create(ndvi_graph())
    alice.start(job_id)
    alice.wait(job_id, {"finished"})
    href = alice.request("GET", f"/jobs/{job_id}/results").json()["assets"]["result.tif"]["href"]
    assert requests.get(href, timeout=30).status_code == 200
    token = alice.headers["Authorization"].rsplit("//", 1)[1]
    signature = href.split("signature=")[1]
    # gunicorn writes the access line after the response went out: give it a moment.
    deadline = time.monotonic() + 10
    while (
        f"/download/{job_id}/result.tif" not in job_server.log.read_text()
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    text = job_server.log.read_text()
    assert f"/download/{job_id}/result.tif" in text  # the download was logged ...
    assert signature not in text and token not in text and "alice-pw" not in text
    from backend.store import token_hash

    stored = b"".join(p.read_bytes() for p in job_server.data_dir.glob("cropcube.db*"))
    assert token_hash(token).encode() in stored  # the database holds the hash ...
    assert token.encode() not in stored  # ... never the token
