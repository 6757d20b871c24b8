"""Users (a JSON file of password hashes) and bearer tokens (signed, expiring).

Basic login: GET /credentials/basic with HTTP Basic credentials returns a random token;
clients then send `Authorization: Bearer basic//<token>`. The store keeps only a hash of
each token with its expiry, so tokens survive restarts and a leaked database holds none.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from backend.store import Store
from core.errors import (
    AuthenticationRequired,
    AuthenticationSchemeInvalid,
    CredentialsInvalid,
    TokenInvalid,
)
from core.settings import Settings

_lock = threading.Lock()


class UserStore:
    """Users in data_dir/users.json: {name: password hash}."""

    def __init__(self, path: Path):
        self.path = path

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text())

    def add(self, name: str, password: str) -> None:
        """Create or replace a user; the file is replaced atomically."""
        if not name or not password:
            raise ValueError("a user needs a name and a password")
        with _lock:
            users = self._read()
            users[name] = generate_password_hash(password)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(users, indent=1))
            os.chmod(tmp, 0o600)
            tmp.replace(self.path)

    def exists(self, name: str) -> bool:
        return name in self._read()

    def check(self, name: str, password: str) -> bool:
        hashed = self._read().get(name)
        return hashed is not None and check_password_hash(hashed, password)


def secret(path: Path) -> str:
    """The server's signing secret (for result download links), created once."""
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            os.chmod(path, 0o600)
        return path.read_text().strip()


class Auth:
    """Login and token checks for the HTTP layer."""

    def __init__(self, settings: Settings, store: Store):
        self.users = UserStore(settings.users_file)
        self.ttl = settings.token_ttl_s
        self.store = store

    def login(self, name: str | None, password: str | None) -> str:
        if not name or password is None or not self.users.check(name, password):
            raise CredentialsInvalid()
        return self.store.new_token(name, self.ttl)

    def user_for(self, authorization: str | None) -> str:
        """The user a request's Authorization header proves, or an openEO auth error."""
        if not authorization:
            raise AuthenticationRequired()
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.startswith("basic//"):
            raise AuthenticationSchemeInvalid(
                "Only basic authentication is supported: send 'Bearer basic//<token>'."
            )
        name = self.store.token_user(value[len("basic//") :])
        if not name or not self.users.exists(name):
            raise TokenInvalid()
        return name
