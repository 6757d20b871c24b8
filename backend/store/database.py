"""The database under the store: engine (SQLite with WAL, or PostgreSQL), sessions and
alembic migrations to the newest schema."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, waits for locks) or PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def changed(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE changed (the conditional updates that move jobs on)."""
    return cast(CursorResult[Any], result).rowcount


class Database:
    """One engine and its sessions; the store's parts share it."""

    def __init__(self, url: str, lock_dir: Path | None = None):
        self.url = url
        self.engine = make_engine(url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._lock_dir = lock_dir

    # -- set-up -------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest revision (alembic); safe to call from many processes
        on one machine (a file lock serialises them)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        lock_path = (self._lock_dir or Path("/tmp")) / ".cropcube-migrate.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")

    def ping(self) -> None:
        """Raises where the database cannot be reached (for GET /health)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self._session.begin() as s:
            yield s
