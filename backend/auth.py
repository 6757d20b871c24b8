"""Who a request is: Basic logins (a JSON file of password hashes) and OpenID Connect.

Basic login: GET /credentials/basic with HTTP Basic credentials returns a random token;
clients then send `Authorization: Bearer basic//<token>`. The store keeps only a hash of
each token with its expiry, so tokens survive restarts and a leaked database holds none.
OpenID Connect: clients send `Bearer oidc/<provider id>/<access token>`, checked by that
provider's `OidcVerifier`. API 1.3 clients may send either token bare: a JWT goes to the
provider named by its issuer, anything else is looked up as a login token, then shown to
each provider's userinfo endpoint.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from backend.oidc import Identity, OidcVerifier, looks_like_jwt, unverified_issuer
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
        if ":" in name:
            raise ValueError("a user name cannot hold ':' (OpenID Connect users' ids do)")
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
        self.oidc = {
            p.id: OidcVerifier(p, settings.oidc_cache_s, settings.oidc_key_cooldown_s)
            for p in settings.oidc_providers
        }

    def login(self, name: str | None, password: str | None) -> str:
        if not name or password is None or not self.users.check(name, password):
            raise CredentialsInvalid()
        return self.store.new_token(name, self.ttl)

    def identify(self, authorization: str | None) -> Identity:
        """The identity a request's Authorization header proves, or an openEO auth error."""
        if not authorization:
            raise AuthenticationRequired()
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise AuthenticationSchemeInvalid("Send 'Authorization: Bearer <token>'.")
        if value.startswith("basic//"):
            return self._basic(value[len("basic//") :])
        if value.startswith("oidc/"):
            provider_id, _, token = value[len("oidc/") :].partition("/")
            verifier = self.oidc.get(provider_id)
            if verifier is None:
                raise AuthenticationSchemeInvalid(
                    f"Unknown OpenID Connect provider '{provider_id}': see GET /credentials/oidc."
                )
            return verifier.verify(token)
        if "/" in value:
            raise AuthenticationSchemeInvalid(
                "Send 'Bearer basic//<token>', 'Bearer oidc/<provider>/<token>' or a bare token."
            )
        return self._bare(value)

    def _basic(self, token: str) -> Identity:
        name = self.store.token_user(token)
        if not name or not self.users.exists(name):
            raise TokenInvalid()
        return Identity(name, name)

    def _bare(self, token: str) -> Identity:
        """API 1.3's bare bearer token: a provider's JWT, a login token, or an opaque token."""
        if looks_like_jwt(token):
            issuer = unverified_issuer(token)
            for verifier in self.oidc.values():
                if verifier.provider.issuer == issuer:
                    return verifier.verify(token)
            raise TokenInvalid("The token's issuer is not one of this server's providers.")
        try:
            return self._basic(token)
        except TokenInvalid:
            pass
        for verifier in self.oidc.values():
            try:
                return verifier.verify(token)
            except TokenInvalid:
                continue
        raise TokenInvalid()

    def user_for(self, authorization: str | None) -> str:
        """The user id a request's Authorization header proves, or an openEO auth error."""
        return self.identify(authorization).user_id
