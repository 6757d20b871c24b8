"""GET /health: whether this server can serve, for load balancers and federations.

Unauthenticated and cheap: the store answers and the catalog lists its collections. A
federation (openEO Platform asks every member for it) takes a 503 as "route elsewhere".
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify

from backend.services import services
from core.errors import ServiceUnavailable

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/health")
def health():
    svc = services()
    try:
        svc.store.ping()
    except Exception as exc:  # noqa: BLE001 - any failure of the store is "not healthy"
        log.error("health: the store does not answer: %s", exc)
        raise ServiceUnavailable(reason="the job store does not answer") from None
    try:
        collections = svc.catalog.ids()
    except Exception as exc:  # noqa: BLE001 - nor is any failure of the catalog
        log.error("health: the catalog cannot be read: %s", exc)
        raise ServiceUnavailable(reason="the STAC catalog cannot be read") from None
    return jsonify({"status": "ok", "store": "ok", "collections": len(collections)})
