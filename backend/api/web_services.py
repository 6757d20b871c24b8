"""Secondary web services: GET /service_types, /services (per user) and the XYZ tiles."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from backend import executor, tiles
from backend.api.bodies import check_editable, iso, json_object, without_unset
from backend.services import base_url, current_user, services
from backend.store.models import WebService
from core import errors

bp = Blueprint("web_services", __name__)
SOURCES = tiles.Sources()
EDITABLE = {"title", "description", "process", "enabled", "configuration", "plan", "budget"}
MAX_ZOOM = 24


def _process(body: dict[str, Any], user: str) -> dict[str, Any]:
    process = body.get("process")
    if not isinstance(process, dict) or not isinstance(process.get("process_graph"), dict):
        raise errors.ProcessGraphMissing()
    svc = services()
    found = executor.validate(
        process["process_graph"],
        svc.catalog,
        svc.store.processes(user),
        svc.settings.graph_limits,
    )
    if found:
        raise found[0]
    return process


def _fields(body: dict[str, Any], user: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in ("title", "description", "plan"):
        if key in body:
            if body[key] is not None and not isinstance(body[key], str):
                raise errors.BadRequest(f"{key} must be a string.")
            fields[key] = body[key]
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise errors.BadRequest("enabled must be true or false.")
        fields["enabled"] = body["enabled"]
    if "budget" in body:
        if body["budget"] is not None and not isinstance(body["budget"], int | float):
            raise errors.BadRequest("budget must be a number.")
        fields["budget"] = body["budget"]
    if "configuration" in body:
        fields["configuration"] = tiles.check_configuration(body["configuration"])
    if "process" in body:
        fields["process"] = _process(body, user)
    return fields


def _summary(row: WebService) -> dict[str, Any]:
    return without_unset(
        {
            "id": row.id,
            "title": row.title,
            "description": row.description,
            "url": f"{base_url()}/services/{row.id}/tiles/{{z}}/{{x}}/{{y}}.png",
            "type": row.type,
            "enabled": row.enabled,
            "configuration": row.configuration,
            "created": iso(row.created),
            "plan": row.plan,
            "costs": 0,
            "budget": row.budget,
        }
    )


@bp.get("/service_types")
def service_types():
    return jsonify(
        {
            "XYZ": {
                "title": "XYZ map tiles",
                "description": "Web Mercator PNG tiles (256 px) of a process graph's raster "
                "result, or of a finished job's results loaded with load_stac: class maps in "
                "their class colours, other bands stretched between their minimum and maximum, "
                "no-data transparent. The URL holds {z}/{x}/{y}; it is a secret of the owner, "
                "since map clients send no credentials with tile requests.",
                "configuration": CONFIGURATION_SCHEMA,
                "process_parameters": [],
                "links": [],
            }
        }
    )


CONFIGURATION_SCHEMA = {
    name: {**schema, "required": False} for name, schema in tiles.CONFIGURATION.items()
}


@bp.post("/services")
def create_service():
    user = current_user()
    body = json_object()
    if body.get("type") is None or str(body["type"]).upper() != "XYZ":
        raise errors.ServiceUnsupported(service_type=body.get("type"))
    if "process" not in body:
        raise errors.ProcessGraphMissing()
    fields = {"enabled": True, "configuration": {}, **_fields(body, user)}
    row = services().store.create_service(user, type="XYZ", **fields)
    try:
        SOURCES.get(services(), row)  # evaluate now: a graph that cannot draw fails here
    except errors.OpenEOError:
        services().store.delete_service(user, row.id)
        raise
    resp = Response(status=201)
    resp.headers["Location"] = f"{base_url()}/services/{row.id}"
    resp.headers["OpenEO-Identifier"] = row.id
    return resp


@bp.get("/services")
def list_services():
    rows = services().store.services(current_user())
    return jsonify({"services": [_summary(r) for r in rows], "links": []})


@bp.get("/services/<service_id>")
def describe_service(service_id: str):
    row = services().store.service(current_user(), service_id)
    return jsonify({**_summary(row), "process": row.process, "attributes": {}})


@bp.patch("/services/<service_id>")
def update_service(service_id: str):
    user = current_user()
    body = json_object()
    store = services().store
    store.service(user, service_id)
    check_editable(body, EDITABLE)
    store.update_service(user, service_id, _fields(body, user))
    SOURCES.forget(service_id)
    return Response(status=204)


@bp.delete("/services/<service_id>")
def delete_service(service_id: str):
    services().store.delete_service(current_user(), service_id)
    SOURCES.forget(service_id)
    return Response(status=204)


@bp.get("/services/<service_id>/logs")
def service_logs(service_id: str):
    services().store.service(current_user(), service_id)
    return jsonify({"logs": [], "links": []})


@bp.get("/services/<service_id>/tiles/<int:z>/<int:x>/<int:y>.png")
def tile(service_id: str, z: int, x: int, y: int):
    svc = services()
    row = svc.store.service(None, service_id)
    if not row.enabled:
        raise errors.ServiceNotFound(f"The service '{service_id}' is disabled.")
    if z > MAX_ZOOM or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise errors.BadRequest(f"No tile {z}/{x}/{y}: x and y run from 0 to 2^z - 1, z to 24.")
    png = SOURCES.get(svc, row).tile(x, y, z)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=60"})
