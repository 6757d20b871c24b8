"""Start and stop a real cropcube server process on a free loopback port (tests and tools)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str  # API root, ending in /openeo/1.2
    root: str
    data_dir: Path
    process: subprocess.Popen
    log: Path

    @property
    def tmp_dir(self) -> Path:
        """The server's TMPDIR."""
        return self.data_dir / "tmp"

    def alive(self) -> bool:
        return self.process.poll() is None


def start_server(data_dir: Path, env_extra: dict[str, str]) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "tmp").mkdir(exist_ok=True)
    # A private temporary folder, so tests can see that requests leave nothing in it.
    env = {
        **os.environ,
        "CROPCUBE_DATA_DIR": str(data_dir),
        "TMPDIR": str(data_dir / "tmp"),
        **env_extra,
    }
    for name, pw in USERS.items():
        subprocess.run(
            [sys.executable, "-m", "backend.cli", "user", "add", name, "--password", pw],
            env=env,
            check=True,
            capture_output=True,
        )
    port = free_port()
    log = data_dir / "server.log"
    command = [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1"]
    with log.open("w") as out:  # the child keeps its own copy of the file
        proc = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    root = f"http://127.0.0.1:{port}"
    wait_until_up(proc, f"{root}/.well-known/openeo", log, "cropcube serve")
    return Server(f"{root}/openeo/1.2", root, data_dir, proc, log)


def wait_until_up(
    proc: subprocess.Popen, url: str, log: Path, what: str, timeout_s: float = 120
) -> None:
    """Wait until `url` answers 2xx; raise with the log's tail if the process exits or
    never answers (then it is killed)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log.read_text()[-5000:]}")
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{what} did not start:\n{log.read_text()[-5000:]}")


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL after 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def stop_server(server: Server) -> None:
    stop_process(server.process)
