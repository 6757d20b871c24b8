"""GET /processes: the predefined processes that really run here."""

from __future__ import annotations

from flask import Blueprint, jsonify

from backend.services import base_url
from processes import registry

bp = Blueprint("processes", __name__)


@bp.get("/processes")
def list_processes():
    return jsonify(
        {
            "processes": registry.specs(),
            "links": [{"rel": "self", "href": f"{base_url()}/processes"}],
        }
    )
