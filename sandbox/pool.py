"""Warm UDF processes, each serving one run of one UDF, kept within their limits.

Starting a sandboxed interpreter with numpy, xarray and the UDF API costs about a second,
so it is kept off the per-chunk path: a run's processes stay alive between its chunks (and
`idle_s` after), and clean spares are started ahead for the next run while none computes.
A process never serves two runs, so nothing one user's code leaves in memory reaches
another's. A watcher thread ends a process whose tree takes more memory (resident,
children included) or CPU time than allowed; wall time is the socket's deadline.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil

from core.settings import UdfLimits
from sandbox import launch, wire

START_TIMEOUT_S = 120.0
GRACE_S = 5.0  # beyond the wall-time limit, for the guest's own timeout report


class UdfFailure(Exception):
    """A UDF call that did not give a cube; `reason` says why in words for the user,
    `line` and `source` where in the UDF's code it happened (when known)."""

    def __init__(self, reason: str, line: int | None = None, source: str = ""):
        self.reason, self.line, self.source = reason, line, source
        super().__init__(reason)


class SandboxUnavailable(Exception):
    pass


@dataclass
class Worker:
    proc: subprocess.Popen
    sock: socket.socket
    command: launch.Command
    killed_for: str | None = None
    cpu_at_start: float = 0.0
    idle_since: float = field(default_factory=time.monotonic)

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def usage(self) -> tuple[int, float]:
        """Resident bytes and CPU seconds of the process and all its children."""
        rss, cpu = 0, 0.0
        for p in self.tree():
            try:
                rss += p.memory_info().rss
                times = p.cpu_times()
                cpu += times.user + times.system
            except psutil.Error:
                pass
        return rss, cpu

    def kill(self, reason: str | None = None) -> None:
        self.killed_for = self.killed_for or reason
        tree = self.tree()
        for p in reversed(tree):
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        try:
            self.proc.kill()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.sock.close()
        if self.command.tmp_dir:
            shutil.rmtree(self.command.tmp_dir, ignore_errors=True)

    def alive(self) -> bool:
        return self.killed_for is None and self.proc.poll() is None


def _start(limits: UdfLimits) -> Worker:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    cmd = launch.command(limits, theirs.fileno())
    try:
        proc = subprocess.Popen(
            cmd.argv,
            env=cmd.env,
            cwd=cmd.cwd,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    finally:
        theirs.close()
    worker = Worker(proc, ours, cmd)
    try:
        header, _ = wire.recv_reply(ours, 0, time.monotonic() + START_TIMEOUT_S)
        if header.get("ready") is not True:
            raise wire.WireError("no ready message")
    except (OSError, wire.WireError) as exc:
        worker.kill("start")
        err = proc.stderr.read(4000).decode(errors="replace").strip() if proc.stderr else ""
        raise SandboxUnavailable(f"the UDF process did not start ({err or exc})") from None
    finally:
        if proc.stderr:
            proc.stderr.close()
    return worker


def _limit_message(limits: UdfLimits, what: str) -> str:
    return {
        "memory": f"the UDF used more than {limits.memory_mb} MiB of memory "
        "(CROPCUBE_UDF_MEMORY_MB)",
        "cpu": f"the UDF used more than {limits.cpu_s:g} s of CPU time on one chunk "
        "(CROPCUBE_UDF_CPU_S)",
        "timeout": f"the UDF ran longer than {limits.timeout_s:g} s on one chunk "
        "(CROPCUBE_UDF_TIMEOUT_S)",
    }[what]


class Pool:
    """The UDF processes of one server or job process, for one set of limits."""

    def __init__(self, limits: UdfLimits):
        self.limits = limits
        self.lock = threading.Lock()
        self.spare_done = threading.Condition(self.lock)  # a spare's start ended, either way
        self.slots = threading.BoundedSemaphore(limits.processes)
        self.idle: dict[str, list[Worker]] = {}
        self.busy: list[Worker] = []
        self.spares: list[Worker] = []
        self.starting = 0
        # one long-lived thread starts them all: bwrap's --die-with-parent follows the thread
        self.launcher = ThreadPoolExecutor(1, thread_name_prefix="udf-launch")
        self.closed = False
        threading.Thread(target=self._watch, name="udf-watch", daemon=True).start()

    def _spawn(self) -> Worker:
        return self.launcher.submit(_start, self.limits).result()

    def _add_spare(self) -> None:
        try:
            worker = _start(self.limits)
        except SandboxUnavailable:
            worker = None
        with self.lock:
            self.starting -= 1
            self.spare_done.notify_all()
            if worker is not None and not self.closed:
                self.spares.append(worker)
                return
        if worker is not None:
            worker.kill()

    def _refill(self) -> None:
        """Start spares in the background until `processes` wait, clean, for a new run
        (called while no UDF computes, so start-ups never compete with a run for CPU)."""
        with self.lock:
            wanted = self.limits.processes - len(self.spares) - self.starting
            self.starting += max(0, wanted)
        for _ in range(max(0, wanted)):
            try:
                self.launcher.submit(self._add_spare)
            except RuntimeError:  # the interpreter is shutting down
                with self.lock:
                    self.starting -= 1
                    self.spare_done.notify_all()

    def _take(self, key: str) -> Worker:
        with self.lock:
            while self.idle.get(key):
                worker = self.idle[key].pop()
                if worker.alive():
                    return worker
                worker.kill()
            # a spare on its way is never further off than a start of our own, which would
            # queue behind it on the one launcher thread
            while not self.spares and self.starting > 0 and not self.closed:
                self.spare_done.wait(START_TIMEOUT_S)
            spare = self.spares.pop() if self.spares else None
        return spare if spare is not None and spare.alive() else self._spawn()

    def call(
        self, key: str, header: dict[str, Any], data: np.ndarray, max_bytes: int
    ) -> tuple[dict[str, Any], np.ndarray]:
        """One UDF call on one chunk by a process of run `key`: the reply's cube header and
        values, or UdfFailure."""
        with self.slots:
            worker = self._take(key)
            try:
                out = self._call(worker, header, data, max_bytes)
            except BaseException:
                worker.kill()
                raise
            with self.lock:
                worker.idle_since = time.monotonic()
                self.idle.setdefault(key, []).append(worker)
            return out

    def _call(
        self, worker: Worker, header: dict[str, Any], data: np.ndarray, max_bytes: int
    ) -> tuple[dict[str, Any], np.ndarray]:
        limits = self.limits
        worker.cpu_at_start = worker.usage()[1]
        with self.lock:
            self.busy.append(worker)
        try:
            wire.send_request(worker.sock, header, data)
            reply, values = wire.recv_reply(
                worker.sock, max_bytes, time.monotonic() + limits.timeout_s + GRACE_S
            )
        except TimeoutError:
            worker.kill("timeout")
            raise UdfFailure(_limit_message(limits, "timeout")) from None
        except (OSError, wire.Closed):
            worker.kill()
            if worker.killed_for in ("memory", "cpu"):
                raise UdfFailure(_limit_message(limits, worker.killed_for)) from None
            code = worker.proc.returncode
            raise UdfFailure(
                f"the UDF's process ended (exit status {code}) before it answered"
            ) from None
        except wire.WireError as exc:
            worker.kill("garbage")
            raise UdfFailure(f"the UDF's answer is not a data cube we can take: {exc}") from None
        finally:
            with self.lock:
                if worker in self.busy:
                    self.busy.remove(worker)
        if reply.get("ok") is True and values is not None:
            return reply["cube"], values
        error = reply.get("error")
        if not isinstance(error, dict):
            raise UdfFailure("the UDF's process gave an answer without a cube or an error")
        kind, message = str(error.get("type", "Error"))[:100], str(error.get("message", ""))[:4000]
        line = error.get("line") if isinstance(error.get("line"), int) else None
        source = str(error.get("source", ""))[:300]
        if kind == "Timeout":
            raise UdfFailure(_limit_message(limits, "timeout"), line, source)
        if kind == "MemoryError":
            raise UdfFailure(f"{_limit_message(limits, 'memory')}: {message}", line, source)
        raise UdfFailure(f"{kind}: {message}" if message else kind, line, source)

    def _watch(self) -> None:
        """Every quarter second: end busy processes over their limits, idle ones past
        `idle_s`."""
        limits = self.limits
        while not self.closed:
            time.sleep(0.25)
            with self.lock:
                busy = list(self.busy)
                now = time.monotonic()
                stale = []
                for key, workers in list(self.idle.items()):
                    keep = [w for w in workers if now - w.idle_since < limits.idle_s]
                    stale += [w for w in workers if w not in keep]
                    if keep:
                        self.idle[key] = keep
                    else:
                        del self.idle[key]
            for worker in stale:
                worker.kill()
            if not busy:
                self._refill()
            for worker in busy:
                rss, cpu = worker.usage()
                if rss > limits.memory_mb * 2**20:
                    worker.kill("memory")
                elif cpu - worker.cpu_at_start > limits.cpu_s:
                    worker.kill("cpu")

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.spare_done.notify_all()
            workers = [*self.spares, *self.busy, *(w for ws in self.idle.values() for w in ws)]
            self.spares, self.idle = [], {}
        for worker in workers:
            worker.kill()


_POOLS: dict[tuple[int, UdfLimits], Pool] = {}
_POOLS_LOCK = threading.Lock()


def pool(limits: UdfLimits) -> Pool:
    """This process's pool for these limits (a forked child makes its own)."""
    with _POOLS_LOCK:
        key = (os.getpid(), limits)
        if key not in _POOLS:
            reason = launch.unavailable(limits.sandbox)
            if reason:
                raise SandboxUnavailable(reason)
            _POOLS[key] = Pool(limits)
        return _POOLS[key]


@atexit.register
def _close_all() -> None:
    for (pid, _), p in list(_POOLS.items()):
        if pid == os.getpid():
            p.close()
