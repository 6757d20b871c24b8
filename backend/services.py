"""The services behind the HTTP layer, built once per app and reached through `services()`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request

from backend.auth import Auth, secret
from backend.jobs.signing import UrlSigner
from backend.store import Store
from core.settings import Settings
from sources.catalog import Catalog

# The openEO API versions served, each under its own prefix; the same views answer both.
API_PREFIXES = {"1.2.0": "/openeo/1.2", "1.3.0": "/openeo/1.3"}
LATEST_API = "1.3.0"


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    store: Store
    auth: Auth
    signer: UrlSigner

    @classmethod
    def build(cls, settings: Settings) -> Services:
        store = Store(settings.db_url, lock_dir=settings.data_dir)
        signer = UrlSigner(secret(settings.secret_file), settings.signed_url_ttl_s)
        return cls(settings, Catalog(settings), store, Auth(settings, store), signer)


def services() -> Services:
    return current_app.extensions["cropcube"]


def api_version() -> str:
    """The API version of this request, from its path (the latest outside any prefix)."""
    for version, prefix in API_PREFIXES.items():
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return version
    return LATEST_API


def root_url() -> str:
    """The server's URL as the client reached it (or the configured public URL)."""
    public = services().settings.public_url
    return public.rstrip("/") if public else request.host_url.rstrip("/")


def base_url(version: str | None = None) -> str:
    """Absolute URL of the API root of this request's version (or of `version`)."""
    return root_url() + API_PREFIXES[version or api_version()]


def current_user() -> str:
    return services().auth.user_for(request.headers.get("Authorization"))
