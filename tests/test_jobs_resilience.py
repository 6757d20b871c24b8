"""Nothing a user submits is lost when processes die: restarts, killed workers, load, Dask."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest
import rasterio
import requests
from test_jobs import JOB_ENV

from backend.jobs.dask_workers import WORKER_ENVIRONMENT
from helpers.jobs import Api, job_workers, ndvi_graph, slow_graph
from helpers.reference import ndvi_stack
from helpers.scene import TEST_BOX
from helpers.serverctl import USERS, free_port, start_server, stop_server

pytestmark = pytest.mark.heavy


def _env(demo_catalog, **extra) -> dict[str, str]:
    return {"CROPCUBE_STAC_URL": str(demo_catalog), **JOB_ENV, **extra}


def test_sigterm_mid_run_then_restart_loses_nothing(demo_catalog, tmp_path):
    data = tmp_path / "restart"
    srv = start_server(data, _env(demo_catalog))
    alice = Api(srv.url, "alice", USERS["alice"])
    quick = alice.create(ndvi_graph())
    alice.start(quick)
    alice.wait(quick, {"finished"})
    # two run, one waits; three bands keep each job several seconds long, not a minute
    jobs = [alice.create(slow_graph(["B04", "B08", "SCL"])) for _ in range(3)]
    for job_id in jobs:
        alice.start(job_id)
    alice.wait(jobs[0], {"running"})
    time.sleep(1.0)
    srv.process.send_signal(signal.SIGTERM)
    assert srv.process.wait(timeout=60) == 0
    srv = start_server(data, _env(demo_catalog))
    try:
        alice = Api(srv.url, "alice", USERS["alice"])
        ended = {j: alice.wait(j, {"finished", "error", "canceled"}, timeout=180) for j in jobs}
        assert set(ended.values()) == {"finished"}, ended
        requeued = [j for j in jobs if any("re-queued" in e["message"] for e in alice.logs(j))]
        assert requeued, "at least one job was running when the server stopped"
        for job_id in [quick, *jobs]:
            assets = alice.request("GET", f"/jobs/{job_id}/results").json()["assets"]
            for asset in assets.values():
                r = requests.get(asset["href"], timeout=60)
                assert r.status_code == 200 and len(r.content) == asset["file:size"]
    finally:
        stop_server(srv)


def test_killed_worker_marks_its_job_error_within_the_bound(demo_catalog, tmp_path):
    stale_s = float(JOB_ENV["CROPCUBE_JOB_STALE_S"])
    srv = start_server(tmp_path / "kill", _env(demo_catalog))
    try:
        alice = Api(srv.url, "alice", USERS["alice"])
        job_id = alice.create(slow_graph())
        alice.start(job_id)
        alice.wait(job_id, {"running"})
        deadline = time.time() + 20
        busy = []
        while not busy and time.time() < deadline:
            busy = [w for w in job_workers(srv) if w.children()]
            time.sleep(0.1)
        assert len(busy) == 1
        worker, job_proc = busy[0], busy[0].children()[0]
        worker.send_signal(signal.SIGKILL)
        killed = time.time()
        assert alice.wait(job_id, {"error", "finished"}, timeout=stale_s + 10) == "error"
        took = time.time() - killed
        assert took <= stale_s + stale_s / 3 + 3, took
        lost = [e for e in alice.logs(job_id) if e.get("code") == "WorkerLost"]
        assert len(lost) == 1 and "heartbeats" in lost[0]["message"]
        psutil.wait_procs([job_proc], timeout=5)
        assert not job_proc.is_running() or job_proc.status() == psutil.STATUS_ZOMBIE
        # The supervisor forked a new worker: the next job runs.
        again = alice.create(ndvi_graph())
        alice.start(again)
        assert alice.wait(again, {"finished", "error"}) == "finished"
        # The supervisor itself killed: its workers end with it, serve starts another.
        workers = job_workers(srv)
        workers[0].parent().send_signal(signal.SIGKILL)
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive
        last = alice.create(ndvi_graph())
        alice.start(last)
        assert alice.wait(last, {"finished", "error"}, timeout=120) == "finished"
    finally:
        stop_server(srv)


def test_thirty_jobs_from_three_users_with_two_workers(demo_catalog, tmp_path):
    srv = start_server(tmp_path / "load", _env(demo_catalog))
    try:
        users = {
            name: Api(srv.url, name, pw)
            for name, pw in [
                ("alice", USERS["alice"]),
                ("bob", USERS["bob"]),
                ("carol", "carol-pw"),
            ]
        }
        months = [
            "2022-03-01",
            "2022-04-01",
            "2022-05-01",
            "2022-06-01",
            "2022-07-01",
            "2022-08-01",
            "2022-09-01",
            "2022-10-01",
            "2022-11-01",
            "2022-12-01",
            "2022-12-31",
        ]
        submitted = {}
        for name, api in users.items():
            for i in range(10):
                job_id = api.create(ndvi_graph(months[i], months[i + 1]))
                submitted[job_id] = (name, months[i], months[i + 1])
        for job_id, (name, _, _) in submitted.items():
            users[name].start(job_id)
        for job_id, (name, start, end) in submitted.items():
            api = users[name]
            assert api.wait(job_id, {"finished", "error"}, timeout=300) == "finished"
            href = api.request("GET", f"/jobs/{job_id}/results").json()["assets"]["result.tif"][
                "href"
            ]
            path = tmp_path / f"{job_id}.tif"
            path.write_bytes(requests.get(href, timeout=60).content)
            with rasterio.open(path) as src:
                got = src.read(1)
            expected = np.nanmax(ndvi_stack(demo_catalog, start, end, TEST_BOX), axis=0)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
        for name, api in users.items():
            listed = {j["id"] for j in api.request("GET", "/jobs").json()["jobs"]}
            assert listed == {j for j, (n, _, _) in submitted.items() if n == name}
        workers = {
            e["message"].rsplit(" ", 1)[-1]
            for j, (n, _, _) in submitted.items()
            for e in users[n].logs(j)
            if e["message"].startswith("Job started")
        }
        assert len(workers) == 2  # both workers took jobs
    finally:
        stop_server(srv)


def _rescale_udf_graph() -> dict:
    code = (
        "import xarray\n"
        "def apply_datacube(cube: xarray.DataArray, context: dict) -> xarray.DataArray:\n"
        "    return cube * 0.0001\n"
    )
    run_udf = {"data": {"from_parameter": "x"}, "udf": code, "runtime": "Python"}
    graph = ndvi_graph()
    result = next(n for n in graph.values() if n.get("result"))
    graph["udf"] = {
        "process_id": "apply",
        "arguments": {
            "data": result["arguments"]["data"],
            "process": {
                "process_graph": {
                    "u": {"process_id": "run_udf", "arguments": run_udf, "result": True}
                }
            },
        },
    }
    result["arguments"]["data"] = {"from_node": "udf"}
    return graph


def test_job_on_a_separate_dask_scheduler(demo_catalog, tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = os.path.dirname(sys.executable)
    scheduler = subprocess.Popen(
        [
            os.path.join(bin_dir, "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Two workers: one started as docs/guide/jobs.md says, one on Dask's defaults, which the
    # job's log names as slowing its tasks.
    workers = [
        subprocess.Popen(
            [
                os.path.join(bin_dir, "dask"),
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        for env in (WORKER_ENVIRONMENT, {})
    ]
    srv = None
    try:
        from dask.distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)

            def transitions() -> int:
                return client.run_on_scheduler(
                    lambda dask_scheduler: dask_scheduler.transition_counter
                )

            before = transitions()
            srv = start_server(
                tmp_path / "dask",
                # 32 px blocks: the UDF's first block runs in the job, the others on Dask
                _env(
                    demo_catalog,
                    CROPCUBE_DASK_SCHEDULER=address,
                    CROPCUBE_DASK_CHUNK_PX="32",
                    CROPCUBE_UDF_IDLE_S="120",
                ),
            )
            alice = Api(srv.url, "alice", USERS["alice"])
            job_id = alice.create(ndvi_graph())
            alice.start(job_id)
            assert alice.wait(job_id, {"finished", "error"}) == "finished", alice.logs(job_id)
            assert transitions() > before + 10  # the tasks ran on that scheduler
            # the log divides the time between the two workers, and both read and computed
            split = next(
                e["message"] for e in alice.logs(job_id) if e["message"].startswith("Tasks ran ")
            )
            assert " on 2 thread(s) of 2 worker(s): " in split, split
            per_worker = re.findall(r"(\S+) reading ([\d.]+) s, computing ([\d.]+) s", split)
            assert len(per_worker) == 2 and all(float(r) > 0 for _, r, _ in per_worker), split
            logs = alice.logs(job_id)
            (advice,) = [e for e in logs if e["message"].startswith("The Dask workers")]
            assert advice["level"] == "warning"
            assert "the statistical profiler on (1 of 2)" in advice["message"], advice
            assert "MALLOC_TRIM_THRESHOLD_=65536 (the nanny's default)" in advice["message"]
            # a UDF's blocks run in sandboxes the Dask worker starts, not in the job
            udf_job = alice.create(_rescale_udf_graph())
            alice.start(udf_job)
            assert alice.wait(udf_job, {"finished", "error"}) == "finished", alice.logs(udf_job)
            sandboxes = [
                p
                for worker in workers
                for p in psutil.Process(worker.pid).children(recursive=True)
                if "sandbox.guest" in " ".join(p.cmdline())
            ]
            assert sandboxes
        href = alice.request("GET", f"/jobs/{job_id}/results").json()["assets"]["result.tif"][
            "href"
        ]
        (tmp_path / "r.tif").write_bytes(requests.get(href, timeout=60).content)
        with rasterio.open(tmp_path / "r.tif") as src:
            expected = np.nanmax(
                ndvi_stack(demo_catalog, "2022-06-01", "2022-07-01", TEST_BOX), axis=0
            )
            np.testing.assert_allclose(src.read(1), expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    finally:
        if srv is not None:
            stop_server(srv)
        for proc in (*workers, scheduler):
            proc.terminate()
            proc.wait(timeout=30)
