"""Fixtures: demo data built once, and a real cropcube server on a free loopback port."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from demo.build import build_demo_data
from helpers.scene import CACHE, DEMO_SEED, DEMO_SIZE
from helpers.serverctl import USERS, Server, start_server, stop_server
from helpers.shared import MISSING, SHARED


def pytest_configure(config: pytest.Config) -> None:
    if not SHARED.is_dir():
        raise pytest.UsageError(MISSING)


@pytest.fixture(scope="session")
def demo_catalog() -> Path:
    """catalog.json of a small demo scene, cached between runs (it is deterministic)."""
    return build_demo_data(CACHE / f"demo-{DEMO_SIZE}-{DEMO_SEED}", size=DEMO_SIZE, seed=DEMO_SEED)


@pytest.fixture(scope="session")
def server(demo_catalog: Path, tmp_path_factory: pytest.TempPathFactory):
    srv = start_server(
        tmp_path_factory.mktemp("server"),
        {
            "CROPCUBE_STAC_URL": str(demo_catalog),
            "CROPCUBE_SYNC_MAX_VALUES": "20000000",
        },
    )
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
