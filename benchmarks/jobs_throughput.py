"""Batch-job throughput and status-polling latency, against named baselines in the same run.

(1) Trivial jobs (add 1 + 2) per minute with 2 workers, submitted at once, against the same
    graph through synchronous POST /result one after another (the floor without a queue).
(2) p50 and p99 latency of GET /jobs/{id} while 20 threads poll it, against GET
    /.well-known/openeo (no database, no auth) under the same load.

    .venv/bin/python benchmarks/jobs_throughput.py [--jobs 40] [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from demo.build import build_demo_data  # noqa: E402
from helpers.jobs import Api  # noqa: E402
from helpers.serverctl import USERS, start_server, stop_server  # noqa: E402

TRIVIAL = {"a": {"process_id": "add", "arguments": {"x": 1, "y": 2}, "result": True}}


def _poll(url: str, headers: dict, seconds: float, out: list[float]) -> None:
    session = requests.Session()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        session.get(url, headers=headers, timeout=30).raise_for_status()
        out.append(time.perf_counter() - t0)


def _latency(url: str, headers: dict, threads: int, seconds: float) -> list[float]:
    results: list[list[float]] = [[] for _ in range(threads)]
    pool = [
        threading.Thread(target=_poll, args=(url, headers, seconds, results[i]))
        for i in range(threads)
    ]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return [x for r in results for x in r]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    catalog = build_demo_data(REPO / ".cache" / "tests" / "demo-200-7", size=200, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        srv = start_server(
            Path(tmp) / "server",
            {
                "CROPCUBE_STAC_URL": str(catalog),
                "CROPCUBE_WORKERS": "2",
                "CROPCUBE_JOB_POLL_S": "0.1",
                "CROPCUBE_HTTP_THREADS": "32",
            },
        )
        try:
            api = Api(srv.url, "alice", USERS["alice"])
            t0 = time.perf_counter()
            for _ in range(args.jobs):
                r = api.request("POST", "/result", json={"process": {"process_graph": TRIVIAL}})
                assert r.json() == 3
            sync_s = time.perf_counter() - t0

            ids = [api.create(TRIVIAL) for _ in range(args.jobs)]
            t0 = time.perf_counter()
            for job_id in ids:
                api.start(job_id)
            for job_id in ids:
                assert api.wait(job_id, {"finished", "error"}, timeout=600) == "finished"
            jobs_s = time.perf_counter() - t0

            status = _latency(f"{srv.url}/jobs/{ids[0]}", api.headers, 20, args.seconds)
            plain = _latency(f"{srv.root}/.well-known/openeo", {}, 20, args.seconds)
        finally:
            stop_server(srv)

    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) * 1000

    print(f"{args.jobs} trivial jobs, 2 workers:")
    print(f"  batch jobs          {args.jobs / jobs_s * 60:8.1f} jobs/min  ({jobs_s:.1f} s)")
    print(f"  sync POST /result   {args.jobs / sync_s * 60:8.1f} graphs/min ({sync_s:.1f} s)")
    print(f"  ratio jobs / sync   {sync_s / jobs_s:8.3f}")
    print(f"GET latency under 20 concurrent pollers, {args.seconds:g} s each:")
    print(
        f"  GET /jobs/{{id}}      p50 {pct(status, 50):6.1f} ms  p99 {pct(status, 99):6.1f} ms"
        f"  ({len(status)} requests)"
    )
    print(
        f"  GET /.well-known    p50 {pct(plain, 50):6.1f} ms  p99 {pct(plain, 99):6.1f} ms"
        f"  ({len(plain)} requests)"
    )
    ratio = statistics.median(status) / statistics.median(plain)
    print(f"  ratio p50 jobs / well-known {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
