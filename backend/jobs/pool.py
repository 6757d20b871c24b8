"""The job workers: `cropcube worker` forks them from one process that imported the job
code once, and `cropcube serve` starts that process beside the API.

A fresh interpreter's imports (torch, dask, GDAL, ...) take about 10 s of CPU; forked from
a supervisor that has them, each worker, and each restart of one that died, starts at
once. The supervisor has no threads, so forking it is safe.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.process import BaseProcess

from core.settings import Settings

log = logging.getLogger(__name__)
STOP_S = 30.0  # how long stopping workers may take before they are killed


def _work(settings: Settings, supervisor_pid: int) -> None:
    from backend.jobs.worker import Worker

    Worker(settings, parent_pid=supervisor_pid).run()


def supervise(settings: Settings, count: int, parent_pid: int | None = None) -> None:
    """Run `count` workers and restart any that dies, until SIGTERM, SIGINT or the end of
    `parent_pid`; stopping forwards SIGTERM, so running jobs are re-queued."""
    import backend.jobs.worker  # noqa: F401  (imported once, here, for every fork)

    # The modules' objects, never collected again: the forks share their pages, and exiting
    # skips them (finalizing them took 1.8 s of the 2.5 s a worker process took to end).
    gc.freeze()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    fork = multiprocessing.get_context("fork")

    def start() -> BaseProcess:
        proc = fork.Process(target=_work, args=(settings, os.getpid()), name="cropcube-worker")
        proc.start()
        return proc

    procs = [start() for _ in range(count)]
    while not stopping.wait(0.5):
        if parent_pid is not None and os.getppid() != parent_pid:
            break
        for i, proc in enumerate(procs):
            if not proc.is_alive():
                log.warning("job worker %s exited (%s); starting another", proc.pid, proc.exitcode)
                procs[i] = start()
    for proc in procs:
        proc.terminate()
    deadline = time.monotonic() + STOP_S
    for proc in procs:
        proc.join(timeout=max(0.1, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()


class WorkerPool:
    """`serve`'s worker supervisor (`cropcube worker --processes N`), restarted when it
    dies; stopped with SIGTERM when serve ends."""

    def __init__(self, settings: Settings, count: int):
        self.settings, self.count = settings, count
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()

    def _spawn(self) -> subprocess.Popen:
        cmd = [
            sys.executable,
            "-m",
            "backend.cli",
            "worker",
            "--processes",
            str(self.count),
            "--data-dir",
            str(self.settings.data_dir),
            "--parent-pid",
            str(os.getpid()),
        ]
        return subprocess.Popen(cmd)

    def start(self) -> None:
        if self.count > 0:
            self.proc = self._spawn()
            threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            if self.proc is not None and self.proc.poll() is not None:
                log.warning(
                    "the job workers' supervisor exited (%s); starting another",
                    self.proc.returncode,
                )
                self.proc = self._spawn()

    def stop(self) -> None:
        self._stop.set()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_S + 5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
