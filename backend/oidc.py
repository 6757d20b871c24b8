"""OpenID Connect access tokens checked against the provider that issued them.

JWT access tokens are checked here, without a round trip per request: PyJWT verifies the
signature against the provider's JWKS and the `exp`, `nbf`, `iss` and (when configured)
`aud` claims; its PyJWKClient keeps the key set and fetches it again when a token names a key
it does not hold (at most once per cooldown, so a flood of forged key ids cannot make us
hammer the provider), which is how rotated keys are picked up. Opaque tokens can only be vouched
for by the provider: its userinfo endpoint is asked once and the answer kept for a minute.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from core.errors import ServiceUnavailable, TokenInvalid
from core.settings import OidcProvider

# Asymmetric algorithms only: a symmetric one would let anyone holding the public key sign.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
LEEWAY_S = 30  # clock skew tolerated on exp, nbf and iat
USERINFO_KEEP_S = 60.0
USERINFO_CACHE_MAX = 10_000
MAX_USER_ID = 128  # the store's user_id column


@dataclass(frozen=True)
class Identity:
    """Who a request is: the id jobs are kept under and a name to show."""

    user_id: str
    name: str


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def unverified_issuer(token: str) -> str | None:
    """The `iss` a JWT claims, unchecked: only to pick the provider that must check it."""
    try:
        iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.InvalidTokenError:
        return None
    return iss.rstrip("/") if isinstance(iss, str) else None


class OidcVerifier:
    """Tokens of one provider in, identities out; TokenInvalid for any token it did not issue
    or that is no longer valid, ServiceUnavailable when it cannot be asked."""

    def __init__(
        self,
        provider: OidcProvider,
        cache_s: float,
        key_cooldown_s: float = 10.0,
        timeout_s: float = 10.0,
    ):
        self.provider = provider
        self.cache_s = cache_s
        self.key_cooldown_s = key_cooldown_s
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._keys: jwt.PyJWKClient | None = None
        self._userinfo: dict[str, tuple[float, Identity | None]] = {}

    def discovery(self) -> dict[str, Any]:
        """The provider's OpenID configuration, fetched at most once per cache period."""
        with self._lock:
            if self._discovery and time.monotonic() - self._discovery[0] < self.cache_s:
                return self._discovery[1]
        url = f"{self.provider.issuer}/.well-known/openid-configuration"
        try:
            r = requests.get(url, timeout=self.timeout_s)
            r.raise_for_status()
            doc = r.json()
        except (requests.RequestException, ValueError) as exc:
            raise self._unavailable(f"its discovery document ({exc.__class__.__name__})") from exc
        if str(doc.get("issuer", "")).rstrip("/") != self.provider.issuer:
            raise self._unavailable("its discovery document names another issuer")
        with self._lock:
            self._discovery = (time.monotonic(), doc)
            if self._keys is None or self._keys.uri != doc.get("jwks_uri"):
                self._keys = (
                    jwt.PyJWKClient(
                        doc["jwks_uri"],
                        lifespan=self.cache_s,
                        timeout=self.timeout_s,
                        cooldown_duration=self.key_cooldown_s,
                    )
                    if doc.get("jwks_uri")
                    else None
                )
        return doc

    def verify(self, token: str) -> Identity:
        if looks_like_jwt(token):
            return self._verify_jwt(token)
        return self._verify_opaque(token)

    def _verify_jwt(self, token: str) -> Identity:
        self.discovery()
        if self._keys is None:
            raise TokenInvalid(f"Provider '{self.provider.id}' publishes no keys for JWTs.")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            if alg not in ALGORITHMS:
                raise TokenInvalid(f"The token's signature algorithm {alg!r} is not accepted.")
            key = self._keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=self.provider.issuer,
                audience=self.provider.audience or None,
                leeway=LEEWAY_S,
                options={
                    "require": ["exp", "iss", "sub"],
                    "verify_aud": bool(self.provider.audience),
                },
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise self._unavailable("its key set") from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise TokenInvalid(f"The access token is not valid: {_reason(exc)}.") from exc
        return self._identity(claims)

    def _verify_opaque(self, token: str) -> Identity:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._userinfo.get(digest)
        if hit and hit[0] > now:
            if hit[1] is None:  # refused a moment ago: not asked again for every request
                raise TokenInvalid("The provider does not accept this access token.")
            return hit[1]
        endpoint = self.discovery().get("userinfo_endpoint")
        if not endpoint:
            raise TokenInvalid(f"Provider '{self.provider.id}' cannot check opaque tokens.")
        try:
            r = requests.get(
                endpoint, headers={"Authorization": f"Bearer {token}"}, timeout=self.timeout_s
            )
        except requests.RequestException as exc:
            raise self._unavailable("its userinfo endpoint") from exc
        if r.status_code in (400, 401, 403):
            self._keep(digest, None, now)
            raise TokenInvalid("The provider does not accept this access token.")
        if not r.ok:
            raise self._unavailable(f"its userinfo endpoint (HTTP {r.status_code})")
        identity = self._identity(r.json())
        self._keep(digest, identity, now)
        return identity

    def _keep(self, digest: str, identity: Identity | None, now: float) -> None:
        """The provider's answer for a token (None: refused), for a minute at most."""
        with self._lock:
            if len(self._userinfo) >= USERINFO_CACHE_MAX:
                self._userinfo = {k: v for k, v in self._userinfo.items() if v[0] > now}
            self._userinfo[digest] = (now + min(USERINFO_KEEP_S, self.cache_s), identity)

    def _identity(self, claims: dict[str, Any]) -> Identity:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenInvalid("The access token names no subject.")
        user_id = f"{self.provider.id}:{sub}"
        if len(user_id) > MAX_USER_ID:
            user_id = f"{self.provider.id}:{hashlib.sha256(sub.encode()).hexdigest()}"
        name = claims.get("name") or claims.get("preferred_username") or sub
        return Identity(user_id, str(name))

    def _unavailable(self, what: str) -> ServiceUnavailable:
        return ServiceUnavailable(
            reason=f"the OpenID Connect provider '{self.provider.id}' did not answer for {what}"
        )


def _reason(exc: Exception) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "it has expired"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "it is meant for another audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "another issuer signed it"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "its signature does not verify"
    if isinstance(exc, jwt.PyJWKClientError):
        return "it is signed with a key the provider does not publish"
    return str(exc).rstrip(".")
