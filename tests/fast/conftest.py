"""Fixtures of the fast tier: the app in this process, reached through Flask's test client.

No server, no worker, no browser: the API's shape, its errors, bad inputs, validation and
auth in seconds. The end-to-end tier (tests/*.py) runs the same product as users meet it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.app import create_app
from backend.auth import UserStore
from backend.store import Store
from core.settings import Settings
from helpers.serverctl import USERS


@pytest.fixture(scope="session")
def settings(demo_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("fast-data")
    settings = Settings(data_dir=data, stac_url=str(demo_catalog), sync_max_values=20_000_000)
    users = UserStore(settings.users_file)
    for name, password in USERS.items():
        users.add(name, password)
    store = Store(settings.db_url, lock_dir=data)
    store.migrate()
    store.engine.dispose()
    return settings


@pytest.fixture(scope="session")
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


def _login(client, name: str) -> dict[str, str]:
    r = client.get("/openeo/1.2/credentials/basic", auth=(name, USERS[name]))
    assert r.status_code == 200, r.data
    return {"Authorization": f"Bearer basic//{r.json['access_token']}"}


@pytest.fixture
def alice_headers(client) -> dict[str, str]:
    """Authorization headers of alice."""
    return _login(client, "alice")


@pytest.fixture
def bob_headers(client) -> dict[str, str]:
    return _login(client, "bob")
