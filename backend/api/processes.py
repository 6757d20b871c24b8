"""GET /processes: the predefined processes that really run here, and the example process
graphs their specs link to (what the Web Editor opens from a process's page)."""

from __future__ import annotations

import json

from flask import Blueprint, jsonify

from backend.services import base_url, services
from core.errors import NotFound
from processes import registry, udf
from processes.declare import SPECS_DIR

bp = Blueprint("processes", __name__)
EXAMPLES_DIR = SPECS_DIR / "examples"


def _absolute_links(spec: dict) -> dict:
    """Example links are relative to the API root in the specs; clients need them whole."""
    for link in spec.get("links") or []:
        if link.get("rel") == "example" and not link["href"].startswith(("http:", "https:")):
            link["href"] = f"{base_url()}/{link['href']}"
    return spec


# Processes that run only where users' code can: left out where it cannot (a federation
# then routes graphs that use them to members that can).
NEED_UDFS = {"run_udf"}


@bp.get("/processes")
def list_processes():
    udfs = udf.available(services().settings.udf_limits)
    return jsonify(
        {
            "processes": [
                _absolute_links(spec)
                for spec in registry.specs()
                if udfs or spec["id"] not in NEED_UDFS
            ],
            "links": [{"rel": "self", "href": f"{base_url()}/processes"}],
        }
    )


@bp.get("/process_examples/<name>.json")
def process_example(name: str):
    found = {p.stem: p for p in EXAMPLES_DIR.glob("*.json")}
    if name not in found:
        raise NotFound(f"No example process graph '{name}'.")
    return jsonify(json.loads(found[name].read_text()))
