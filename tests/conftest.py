"""Fixtures: demo data built once, and a real cropcube server on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from backend.demo.build import build_demo_data

REPO = Path(__file__).resolve().parent.parent
DEMO_SIZE, DEMO_SEED = 200, 7  # 2 x 2 km, covering the openEO test suite's box
CACHE = REPO / ".cache" / "tests"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
TEST_BOX = {"west": 679720, "east": 680680, "south": 5151080, "north": 5151920, "crs": 32632}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_catalog() -> Path:
    """catalog.json of a small demo scene, cached between runs (it is deterministic)."""
    return build_demo_data(CACHE / f"demo-{DEMO_SIZE}-{DEMO_SEED}", size=DEMO_SIZE, seed=DEMO_SEED)


@dataclass
class Server:
    url: str  # API root, ending in /openeo/1.2
    root: str
    data_dir: Path
    process: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None


def start_server(data_dir: Path, env_extra: dict[str, str]) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CROPCUBE_DATA_DIR": str(data_dir), **env_extra}
    for name, pw in USERS.items():
        subprocess.run([sys.executable, "-m", "backend.cli", "user", "add", name,
                        "--password", pw], env=env, check=True, capture_output=True)
    port = free_port()
    log = data_dir / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port",
         str(port)], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
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


@pytest.fixture(scope="session")
def server(demo_catalog: Path, tmp_path_factory: pytest.TempPathFactory):
    srv = start_server(tmp_path_factory.mktemp("server"), {
        "CROPCUBE_STAC_URL": str(demo_catalog),
        "CROPCUBE_SYNC_MAX_VALUES": "20000000",
    })
    yield srv
    stop_server(srv)


@pytest.fixture
def connection(server: Server):
    import openeo

    return openeo.connect(server.url).authenticate_basic("alice", USERS["alice"])


@pytest.fixture
def token(server: Server) -> str:
    r = requests.get(f"{server.url}/credentials/basic", auth=("alice", USERS["alice"]))
    r.raise_for_status()
    return r.json()["access_token"]


@pytest.fixture
def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer basic//{token}"}
