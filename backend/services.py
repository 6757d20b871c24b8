"""The services behind the HTTP layer, built once per app and reached through `services()`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request

from backend.auth import Auth, secret
from backend.jobs.signing import UrlSigner
from backend.store import Store
from core.settings import Settings
from sources.catalog import Catalog

API_VERSION = "1.2.0"
API_PREFIX = "/openeo/1.2"


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


def base_url() -> str:
    """Absolute URL of the API root as the client reached it (or the configured public URL)."""
    public = services().settings.public_url
    root = public.rstrip("/") if public else request.host_url.rstrip("/")
    return root + API_PREFIX


def current_user() -> str:
    return services().auth.user_for(request.headers.get("Authorization"))
