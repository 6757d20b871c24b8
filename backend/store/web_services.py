"""Secondary web services, each visible to its owner only."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, select

from backend.store.database import Database
from backend.store.models import WebService, utcnow
from core.errors import ServiceNotFound


class WebServices(Database):
    """Each user's services, by id. Ids are long random tokens: a tile URL is a capability
    the owner may share, since map clients cannot send credentials with tile requests."""

    def create_service(self, user: str, **fields: Any) -> WebService:
        row = WebService(
            id=secrets.token_hex(16), user_id=user, created=utcnow(), updated=utcnow(), **fields
        )
        with self.session() as s:
            s.add(row)
        return row

    def services(self, user: str) -> list[WebService]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(WebService)
                    .where(WebService.user_id == user)
                    .order_by(WebService.created, WebService.id)
                ).all()
            )

    def service(self, user: str | None, service_id: str) -> WebService:
        """The service of that user (any user's when user is None: tile requests)."""
        with self.session() as s:
            row = s.get(WebService, service_id)
        if row is None or (user is not None and row.user_id != user):
            raise ServiceNotFound(identifier=service_id)
        return row

    def update_service(self, user: str, service_id: str, fields: dict[str, Any]) -> None:
        self.service(user, service_id)
        with self.session() as s:
            row = s.get(WebService, service_id)
            assert row is not None
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated = utcnow()

    def delete_service(self, user: str, service_id: str) -> None:
        self.service(user, service_id)
        with self.session() as s:
            s.execute(delete(WebService).where(WebService.id == service_id))
