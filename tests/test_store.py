"""The job store on SQLite and on a real PostgreSQL server: migrations, claims, reaping."""

from __future__ import annotations

import multiprocessing
import time

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from backend.store import Store
from backend.store.database import MIGRATIONS
from core.errors import JobNotFound
from helpers.jobs import Api, ndvi_graph
from helpers.postgres import fresh_database, postgres_server
from helpers.serverctl import USERS, start_server, stop_server


@pytest.fixture(scope="module")
def pg_server():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return fresh_database(request.getfixturevalue("pg_server"))


def _store(url: str, tmp_path) -> Store:
    store = Store(url, lock_dir=tmp_path)
    store.migrate()
    return store


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(url: str, revision: str) -> None:
    cfg = _config()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_migrations_create_the_schema_and_keep_jobs(db_url, tmp_path):
    """A database made by the first release gains the newer tables and keeps its jobs."""
    _upgrade(db_url, "0001")
    store = Store(db_url, lock_dir=tmp_path)
    job = store.create_job("alice", {"process_graph": {}}, title="kept")
    assert "services" not in sa.inspect(store.engine).get_table_names()
    store.migrate()
    store.migrate()  # upgrading again (as every start does) changes nothing
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"jobs", "job_logs", "tokens", "user_processes", "services", "alembic_version"} <= tables
    assert store.job("alice", job.id).title == "kept"
    head = ScriptDirectory.from_config(_config()).get_current_head()
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar() == head


def _claimer(url: str, worker: str, out) -> None:
    store = Store(url)
    got = []
    while True:
        job = store.claim(worker)
        if job is None:
            break
        got.append(job.id)
    out.put(got)


def test_concurrent_claims_take_each_job_exactly_once(db_url, tmp_path):
    store = _store(db_url, tmp_path)
    ids = []
    for i in range(60):
        job = store.create_job(f"user{i % 3}", {"process_graph": {}})
        store.queue(job.user_id, job.id)
        ids.append(job.id)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(db_url, f"w{i}", out)) for i in range(4)]
    for p in procs:
        p.start()
    claimed = [job_id for _ in procs for job_id in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    assert sorted(claimed) == sorted(ids)  # none twice, none missed
    assert store.claim("late") is None


def test_reaping_heartbeats_and_ownership(db_url, tmp_path):
    store = _store(db_url, tmp_path)
    job = store.create_job("alice", {"process_graph": {}})
    with pytest.raises(JobNotFound):
        store.job("bob", job.id)
    store.queue("alice", job.id)
    assert store.claim("w1").id == job.id
    assert store.heartbeat(job.id, "w1", progress=40) == "running"
    assert store.heartbeat(job.id, "w2") is None  # not w2's job
    assert store.reap(stale_after_s=60) == []
    time.sleep(1.2)
    assert store.reap(stale_after_s=1) == [job.id]
    assert store.job("alice", job.id).status == "error"
    assert not store.finish(job.id, "w1", {"assets": {}})  # too late: it is not running
    logs, _ = store.logs(job.id, None, "info", 100)
    assert logs[-1].code == "WorkerLost"


def test_tokens_expire(db_url, tmp_path):
    store = _store(db_url, tmp_path)
    token = store.new_token("alice", ttl_s=60)
    assert store.token_user(token) == "alice"
    assert store.token_user(token + "x") is None
    old = store.new_token("alice", ttl_s=-1)
    assert store.token_user(old) is None


def test_server_and_workers_on_postgresql(pg_server, demo_catalog, tmp_path):
    srv = start_server(
        tmp_path / "pg",
        {
            "CROPCUBE_STAC_URL": str(demo_catalog),
            "CROPCUBE_DATABASE_URL": fresh_database(pg_server),
            "CROPCUBE_WORKERS": "2",
            "CROPCUBE_JOB_POLL_S": "0.2",
        },
    )
    try:
        alice = Api(srv.url, "alice", USERS["alice"])
        ids = [alice.create(ndvi_graph()) for _ in range(3)]
        for job_id in ids:
            alice.start(job_id)
        assert [alice.wait(j, {"finished", "error"}) for j in ids] == ["finished"] * 3
        assert not (tmp_path / "pg" / "cropcube.db").exists()
    finally:
        stop_server(srv)


def _drift(store: Store, metadata: sa.MetaData) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def test_models_and_migrations_do_not_drift(db_url, tmp_path):
    """The schema the alembic revisions build is the one the models declare: a column or
    index added to a model without a revision fails here."""
    from backend.store.models import Base

    store = _store(db_url, tmp_path)
    assert _drift(store, Base.metadata) == []
    # The check sees drift: a model with one column more than the revisions made.
    changed = sa.MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["jobs"].append_column(sa.Column("priority", sa.Integer))
    assert [d[0] for d in _drift(store, changed)] == ["add_column"]
