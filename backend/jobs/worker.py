"""A job worker: claims queued jobs, runs each in a child process, sends heartbeats, stops
the child when the job is canceled, and re-queues its job when it is asked to stop.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from backend.jobs import runner
from backend.store import Store
from backend.store.models import Job
from core.settings import Settings

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, settings: Settings, parent_pid: int | None = None):
        self.settings = settings
        self.store = Store(settings.db_url, lock_dir=settings.data_dir)
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self.parent_pid = parent_pid
        self.stopping = False
        self._last_reap = 0.0
        self._last_cleanup = 0.0

    def _stop(self, signum: int, _frame: object) -> None:
        log.info("worker %s: signal %s, stopping", self.id, signum)
        self.stopping = True

    def _orphaned(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.settings.results_dir.mkdir(parents=True, exist_ok=True)
        log.info("worker %s polling %s", self.id, self.store.engine.url.render_as_string())
        while not self.stopping and not self._orphaned():
            self._housekeeping()
            job = self.store.claim(self.id)
            if job is None:
                self._sleep(self.settings.job_poll_s)
            else:
                self._run(job)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.2, seconds))

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_reap > self.settings.job_stale_s / 3:
            self._last_reap = now
            for job_id in self.store.reap(self.settings.job_stale_s):
                log.warning("job %s lost its worker; marked as error", job_id)
        retention_s = self.settings.results_days * 86400
        if now - self._last_cleanup > min(600.0, max(1.0, retention_s / 2)):
            self._last_cleanup = now
            for job in self.store.expired_jobs(self.settings.results_days):
                shutil.rmtree(self.settings.results_dir / job.id, ignore_errors=True)
                self.store.clear_results(job.id)
                self.store.log(
                    job.id, "info", f"Results deleted after {self.settings.results_days:g} days."
                )

    def _run(self, job: Job) -> None:
        results_dir = self.settings.results_dir
        tmp = results_dir / f".{job.id}.{os.getpid()}.tmp"
        report = results_dir / f".{job.id}.{os.getpid()}.report.json"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        report.unlink(missing_ok=True)
        child = multiprocessing.get_context("fork").Process(
            target=runner.main,
            args=(self.settings, job.id, str(tmp), str(report), os.getpid()),
            name=f"cropcube-job-{job.id}",
        )
        child.start()
        self.store.heartbeat(job.id, self.id, progress=10.0)
        try:
            while True:
                child.join(timeout=self.settings.job_heartbeat_s)
                if not child.is_alive():
                    break
                status = self.store.heartbeat(job.id, self.id)
                if status != "running":
                    _terminate(child)
                    if status is not None:
                        self.store.log(job.id, "info", "Computation stopped.")
                    return
                if self.stopping:
                    _terminate(child)
                    self.store.requeue(
                        job.id,
                        self.id,
                        f"worker {self.id} was stopped while running it; it will run again.",
                    )
                    return
            self._conclude(job, child.exitcode, tmp, report)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            report.unlink(missing_ok=True)

    def _conclude(self, job: Job, exitcode: int | None, tmp: Path, report: Path) -> None:
        outcome: dict[str, Any] = (
            json.loads(report.read_text())
            if report.exists()
            else {
                "ok": False,
                "code": "Internal",
                "message": f"The job's process ended unexpectedly (exit code {exitcode}).",
            }
        )
        if not outcome["ok"]:
            self.store.fail(
                job.id, self.id, outcome["code"], outcome["message"], outcome.get("node")
            )
            return
        final = self.settings.results_dir / job.id
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)  # atomic: the assets appear all at once
        if not self.store.finish(job.id, self.id, outcome["results"]):
            shutil.rmtree(final, ignore_errors=True)  # canceled or deleted meanwhile


def _terminate(child: BaseProcess) -> None:
    child.terminate()
    child.join(timeout=5)
    if child.is_alive():
        child.kill()
        child.join()
