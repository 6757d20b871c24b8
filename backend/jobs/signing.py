"""Signed, expiring download links for job results, bound to job, asset and expiry."""

from __future__ import annotations

import hashlib
import hmac
import time

from core.errors import PermissionsInsufficient, ResultLinkExpired


class UrlSigner:
    def __init__(self, secret: str, ttl_s: int):
        self._key = secret.encode()
        self.ttl_s = ttl_s

    def _signature(self, job_id: str, asset: str, expires: int) -> str:
        msg = f"{job_id}\n{asset}\n{expires}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def sign(self, job_id: str, asset: str, now: float | None = None) -> tuple[int, str]:
        """(expires, signature) for a link valid for ttl_s from now."""
        expires = int((now or time.time()) + self.ttl_s)
        return expires, self._signature(job_id, asset, expires)

    def check(self, job_id: str, asset: str, expires: str | None, signature: str | None) -> None:
        """Refuse a tampered link (403) or an expired one (410)."""
        try:
            when = int(expires or "")
        except ValueError:
            raise PermissionsInsufficient("The download link is invalid.") from None
        good = self._signature(job_id, asset, when)
        if not signature or not hmac.compare_digest(good, signature):
            raise PermissionsInsufficient("The download link is invalid.")
        if when < time.time():
            raise ResultLinkExpired()
