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
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    root = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()}")
        try:
            if requests.get(f"{root}/.well-known/openeo", timeout=2).ok:
                return Server(f"{root}/openeo/1.2", root, data_dir, proc, log)
        except requests.ConnectionError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
