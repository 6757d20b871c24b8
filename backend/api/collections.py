"""GET /collections, /collections/{id}, /collections/{id}/queryables."""

from __future__ import annotations

from flask import Blueprint, jsonify

from backend.services import base_url, services

bp = Blueprint("collections", __name__)


@bp.get("/collections")
def list_collections():
    base, catalog = base_url(), services().catalog
    return jsonify(
        {
            "collections": [catalog.describe(cid, base) for cid in catalog.ids()],
            "links": [{"rel": "self", "href": f"{base}/collections"}],
        }
    )


@bp.get("/collections/<collection_id>")
def describe_collection(collection_id: str):
    return jsonify(services().catalog.describe(collection_id, base_url()))


@bp.get("/collections/<collection_id>/queryables")
def queryables(collection_id: str):
    doc = services().catalog.queryables(collection_id, base_url())
    resp = jsonify(doc)
    resp.mimetype = "application/schema+json"
    return resp
