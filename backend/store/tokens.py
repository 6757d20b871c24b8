"""Login tokens of HTTP Basic logins: kept as hashes, with their expiry."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete

from backend.store.database import Database
from backend.store.models import Token, utcnow


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens(Database):
    """Issue a token for a user; find the user of a token still valid."""

    def new_token(self, user: str, ttl_s: float) -> str:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.session() as s:
            s.execute(delete(Token).where(Token.expires < now))
            s.add(
                Token(
                    token_hash=token_hash(token),
                    user_id=user,
                    created=now,
                    expires=now + dt.timedelta(seconds=ttl_s),
                )
            )
        return token

    def token_user(self, token: str) -> str | None:
        with self.session() as s:
            row = s.get(Token, token_hash(token))
            if row is None or row.expires < utcnow():
                return None
            return row.user_id
