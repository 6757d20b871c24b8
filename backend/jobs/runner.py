"""Run one batch job in a child process of a worker: evaluate, compute on Dask, write files.

The child reports through a small JSON file; the worker alone changes the job's status.
A watchdog ends the child when its worker is gone, so nothing computes for a dead worker.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
from dask.system import CPU_COUNT
from distributed import span

from backend import executor
from backend.execution import context_for
from backend.jobs import dask_workers
from backend.jobs.assets import describe
from backend.store import Store
from core import errors
from core.settings import Settings
from formats import blocks, render
from sources import cog_reader
from sources.catalog import Catalog

log = logging.getLogger(__name__)
THUMBNAIL = "thumbnail.png"  # a quick look of the first raster result, in every job's results


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)
        time.sleep(0.5)


def _dask_client(settings: Settings):
    """A client on the configured scheduler, or on an in-process LocalCluster."""
    from dask.distributed import Client, LocalCluster

    if settings.dask_scheduler:
        return Client(settings.dask_scheduler, timeout=30), None
    threads = settings.job_threads or max(1, CPU_COUNT // max(1, settings.workers))
    # The worker's statistical profiler (the dashboard's, which a job has not) samples
    # every thread's stack each 10 ms under the GIL: a 1000 px year took 31.6 s with it
    # and 26.4 s without, as on the threaded scheduler (25.9 s; docs/benchmarks.md).
    dask.config.set({"distributed.worker.profile.enabled": False})
    cluster = LocalCluster(
        n_workers=1, threads_per_worker=threads, processes=False, dashboard_address=None
    )
    return Client(cluster), cluster


def _time_range(stamps: list[np.ndarray]) -> tuple[str, str] | None:
    """First and last date of the data the job loaded."""
    if not stamps:
        return None
    values = np.concatenate(stamps)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return pd.Timestamp(values.min()).strftime(fmt), pd.Timestamp(values.max()).strftime(fmt)


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


class _Progress:
    """Job progress from 30 to 90 % as the blocks of its results are written, logged (debug)
    at each quarter."""

    def __init__(self, store: Store, job_id: str, outputs: int) -> None:
        self.store, self.job_id, self.outputs = store, job_id, outputs
        self.output, self.shown, self.logged = 0, 30.0, 0

    def __call__(self, done: int, total: int) -> None:
        share = (self.output + done / total) / self.outputs
        percent = min(90.0, round(30.0 + 60.0 * share, 1))
        if percent - self.shown >= 1 or done == total:
            self.store.set_progress(self.job_id, percent)
            self.shown = percent
        quarter = int(4 * done / total)
        if quarter > self.logged or done == total:
            self.store.log(self.job_id, "debug", f"Written {done} of {total} blocks.")
            self.logged = quarter
        if done == total:
            self.output, self.logged = self.output + 1, 0


def task_seconds(dask_worker: Any, span_id: str) -> dict[str, float]:
    """Seconds a worker's tasks of one span spent reading COGs and computing (run on each
    worker by client.run: the figures are the worker's own, no heartbeat waited for)."""
    out = {"reading": 0.0, "computing": 0.0}
    for key, value in dask_worker.digests_total.items():
        if len(key) == 5 and key[0] == "execute" and key[1] == span_id and key[4] == "seconds":
            if key[3] == cog_reader.READ_METRIC:
                out["reading"] += value
            elif key[3] in ("thread-cpu", "thread-noncpu"):
                out["computing"] += value
    return out


def time_split(client: Any, span_id: str, watch: blocks.Watch, wall: float) -> str:
    """Where the time of the compute stage went, as the log says it: task time by activity
    (and by worker on a cluster), and the writers' waiting and writing."""
    per_worker = client.run(task_seconds, span_id=span_id)
    reading = sum(w["reading"] for w in per_worker.values())
    computing = sum(w["computing"] for w in per_worker.values())
    threads = sum(client.nthreads().values())
    text = (
        f"Tasks ran {reading + computing:.1f} s on {threads} thread(s) of "
        f"{len(per_worker)} worker(s): reading COGs {reading:.1f} s, computing "
        f"{computing:.1f} s; the writers waited {watch.waited_s:.1f} s for blocks and wrote "
        f"for {max(0.0, wall - watch.waited_s):.1f} s."
    )
    if len(per_worker) > 1:
        text += (
            " By worker: "
            + "; ".join(
                f"{address} reading {w['reading']:.1f} s, computing {w['computing']:.1f} s"
                for address, w in sorted(per_worker.items())
            )
            + "."
        )
    return text


def compute(
    settings: Settings, store: Store, job_id: str, out_dir: Path, client: Any
) -> dict[str, Any]:
    """Evaluate the job's graph and write its results into out_dir on the dask client;
    returns results metadata. The log says how long each stage took."""
    job = store.get(job_id)
    if job is None:
        raise errors.JobNotFound(identifier=job_id)
    ctx = context_for(settings, Catalog(settings), store, job.user_id)
    ctx.log = partial(store.log, job_id)
    started = time.monotonic()
    value = executor.evaluate(job.process["process_graph"], ctx)
    store.log(
        job_id,
        "info",
        f"Graph evaluated in {time.monotonic() - started:.1f} s (items located, the lazy "
        "cube built); computing and writing on Dask.",
    )
    store.set_progress(job_id, 30.0)
    started = time.monotonic()
    progress = _Progress(store, job_id, max(1, len(ctx.saved)))
    with blocks.reporting(progress) as watch, span(f"job-{job_id}") as span_id:
        outputs = executor.write_outputs(value, ctx, out_dir, scheduler=None)
    wall = time.monotonic() - started
    written = ", ".join(f"{o.path.name} ({_size(o.path.stat().st_size)})" for o in outputs)
    store.log(job_id, "info", f"Read, computed and written in {wall:.1f} s: {written}.")
    store.log(job_id, "info", time_split(client, span_id, watch, wall))
    if settings.dask_scheduler:
        slow = dask_workers.advice(client.run(dask_workers.worker_settings))
        if slow:
            store.log(job_id, "warning", slow)
    store.set_progress(job_id, 90.0)
    started = time.monotonic()
    assets, bbox = {}, None
    for out in outputs:
        meta, asset_bbox = describe(out.path)
        assets[out.path.name] = meta
        bbox = bbox or asset_bbox
    raster = next((o.path for o in outputs if o.path.suffix == ".tif"), None)
    if raster is not None:
        thumbnail = out_dir / THUMBNAIL
        thumbnail.write_bytes(render.file_quicklook(raster))
        meta, _ = describe(thumbnail)
        assets[THUMBNAIL] = {
            **meta,
            "title": f"Quick look of {raster.name}",
            "roles": ["thumbnail"],
        }
    store.log(
        job_id,
        "info",
        f"Results described in {time.monotonic() - started:.1f} s (checksums, statistics, "
        "quick look).",
    )
    results: dict[str, Any] = {"assets": assets, "bbox": bbox}
    stamps = _time_range(ctx.loaded_times)
    if stamps:
        results["start_datetime"], results["end_datetime"] = stamps
    return results


def main(settings: Settings, job_id: str, out_dir: str, report: str, parent_pid: int) -> None:
    """Entry point of the job process (forked by the worker)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the worker's handler is not ours
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    store = Store(settings.db_url)
    outcome: dict[str, Any]
    client = cluster = None
    try:
        client, cluster = _dask_client(settings)
        results = compute(settings, store, job_id, Path(out_dir), client)
        outcome = {"ok": True, "results": results}
    except errors.OpenEOError as exc:
        outcome = {"ok": False, "code": exc.code, "message": exc.message, "node": exc.node}
    except Exception as exc:  # noqa: BLE001 - reported to the user as an Internal error
        log.exception("job %s failed", job_id)
        outcome = {"ok": False, "code": "Internal", "message": f"{type(exc).__name__}: {exc}"}
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    Path(report).write_text(json.dumps(outcome))
