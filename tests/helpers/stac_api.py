"""A real STAC API on loopback: stac-fastapi-pgstac on PostgreSQL + PostGIS, loaded with
the demo catalog's collections and items by pypgstac.

The API runs from its own virtual environment (`make stac-deps`: it pins its own FastAPI
stack), as a deployment would run it beside cropcube.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pystac
import requests

from helpers.postgres import fresh_database, postgres_server
from helpers.scene import REPO
from helpers.serverctl import free_port

STAC_VENV = REPO / ".cache" / "stac-venv"


def _libpq(sqlalchemy_url: str) -> dict[str, str]:
    """PG* variables of a postgresql+psycopg://user@host:port/db URL."""
    rest = sqlalchemy_url.split("://", 1)[1]
    user, rest = rest.split("@", 1)
    hostport, db = rest.split("/", 1)
    host, port = hostport.split(":")
    return {"PGUSER": user, "PGPASSWORD": "", "PGHOST": host, "PGPORT": port, "PGDATABASE": db}


def _ndjson(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def _load(catalog_json: Path, work: Path, env: dict[str, str], assets_url: str) -> int:
    """Migrate pgstac and load every collection and item, the assets' hrefs under
    assets_url (where the catalog's folder is served), as an object store holds them."""
    pypgstac = str(STAC_VENV / "bin" / "pypgstac")
    subprocess.run([pypgstac, "migrate"], env=env, check=True, capture_output=True)
    root = pystac.Catalog.from_file(str(catalog_json))
    collections, items = [], []
    for coll in root.get_children():
        doc = coll.to_dict(include_self_link=False, transform_hrefs=False)
        doc["links"] = []
        collections.append(doc)
        for item in coll.get_items():
            for asset in item.assets.values():
                path = Path(asset.get_absolute_href() or asset.href)
                asset.href = f"{assets_url}/{path.relative_to(catalog_json.parent).as_posix()}"
            idoc = item.to_dict(include_self_link=False, transform_hrefs=False)
            idoc["links"], idoc["collection"] = [], coll.id
            items.append(idoc)
    for kind, docs in (("collections", collections), ("items", items)):
        path = _ndjson(work / f"{kind}.ndjson", docs)
        subprocess.run(
            [pypgstac, "load", kind, str(path)], env=env, check=True, capture_output=True
        )
    return len(items)


@contextmanager
def stac_api(catalog_json: Path, work: Path, assets_url: str) -> Iterator[tuple[str, int]]:
    """Yields the API's root URL and how many items it holds."""
    if not (STAC_VENV / "bin" / "pypgstac").exists():
        raise RuntimeError("the STAC API is not installed: `make stac-deps` installs it")
    with postgres_server() as server:
        env = {**os.environ, **_libpq(fresh_database(server))}
        count = _load(catalog_json, work, env, assets_url)
        port = free_port()
        log = (work / "stac-api.log").open("w")
        proc = subprocess.Popen(
            [
                str(STAC_VENV / "bin" / "uvicorn"),
                "stac_fastapi.pgstac.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env={**env, "STAC_FASTAPI_TITLE": "cropcube test STAC API"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{url}/_mgmt/ping", timeout=2).ok:
                        break
                except requests.ConnectionError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "stac-api.log").read_text()[-2000:])
                time.sleep(0.3)
            yield url, count
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
