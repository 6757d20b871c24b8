"""The job workers `cropcube serve` starts beside the API, restarted when one dies."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

from core.settings import Settings


class WorkerPool:
    """The job workers `serve` starts and restarts; stopped with SIGTERM when serve ends."""

    def __init__(self, settings: Settings, count: int):
        self.settings, self.count = settings, count
        self.procs: list[subprocess.Popen] = []
        self._stop = threading.Event()

    def _spawn(self) -> subprocess.Popen:
        cmd = [
            sys.executable,
            "-m",
            "backend.cli",
            "worker",
            "--data-dir",
            str(self.settings.data_dir),
            "--parent-pid",
            str(os.getpid()),
        ]
        return subprocess.Popen(cmd)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stop.is_set():
                    logging.warning(
                        "job worker %s exited (%s); starting another", proc.pid, proc.returncode
                    )
                    self.procs[i] = self._spawn()

    def stop(self) -> None:
        self._stop.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 30
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
