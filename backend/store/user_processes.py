"""User-defined processes (process graphs stored per user)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from backend.store.database import Database
from backend.store.models import UserProcess, utcnow
from core.errors import ProcessGraphNotFound


class UserProcesses(Database):
    """Each user's own processes, by id."""

    def put_process(self, user: str, pid: str, spec: dict[str, Any]) -> None:
        with self.session() as s:
            row = s.get(UserProcess, (user, pid))
            if row is None:
                s.add(
                    UserProcess(user_id=user, id=pid, spec=spec, created=utcnow(), updated=utcnow())
                )
            else:
                row.spec = spec
                row.updated = utcnow()

    def processes(self, user: str) -> dict[str, dict[str, Any]]:
        with self.session() as s:
            rows = s.scalars(
                select(UserProcess).where(UserProcess.user_id == user).order_by(UserProcess.id)
            ).all()
        return {r.id: r.spec for r in rows}

    def process(self, user: str, pid: str) -> dict[str, Any]:
        with self.session() as s:
            row = s.get(UserProcess, (user, pid))
        if row is None:
            raise ProcessGraphNotFound(identifier=pid)
        return row.spec

    def delete_process(self, user: str, pid: str) -> None:
        self.process(user, pid)
        with self.session() as s:
            s.execute(delete(UserProcess).where(UserProcess.user_id == user, UserProcess.id == pid))
