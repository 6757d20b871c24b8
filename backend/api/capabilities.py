"""Capabilities, well-known discovery, conformance, file formats, UDF runtimes."""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Blueprint, current_app, jsonify

import formats
from backend import __version__
from backend.services import API_PREFIXES, api_version, base_url, root_url, services
from processes import udf

bp = Blueprint("capabilities", __name__)
well_known = Blueprint("well_known", __name__)

STAC_AND_OGC = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
]
# API 1.3 clients that see the JWT class send tokens bare (no `basic//` or `oidc/<id>/`).
CONFORMANCE = {
    "1.2.0": ["https://api.openeo.org/1.2.0", *STAC_AND_OGC],
    "1.3.0": [
        "https://api.openeo.org/1.3.0",
        "https://api.openeo.org/1.3.0/authentication/jwt",
        *STAC_AND_OGC,
    ],
}
WEB_EDITOR = "https://editor.openeo.org/"

# Routes that are not openEO API endpoints: map tiles, example graphs, the health check.
UNLISTED = {"web_services.tile", "processes.process_example", "health.health"}


def _view(endpoint: str) -> str:
    """`jobs_v1_3.job_results` -> `jobs.job_results`: the view, whatever version serves it
    (each registration of a blueprint keeps the blueprint itself, with its own name)."""
    registered, _, view = endpoint.rpartition(".")
    blueprint = current_app.blueprints.get(registered)
    return f"{blueprint.name if blueprint else registered}.{view}"


def _endpoints() -> list[dict]:
    """Every openEO API route this app serves, with its methods: capabilities list nothing
    else (the tiles and example graphs that services and specs link to are not API routes)."""
    prefix = API_PREFIXES[api_version()]
    found: dict[str, set[str]] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith(prefix + "/") or rule.rule == prefix + "/":
            continue
        view = _view(rule.endpoint)
        if view in UNLISTED:
            continue
        if view == "credentials.oidc_providers" and not services().settings.oidc_providers:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule[len(prefix) :])
        found.setdefault(path, set()).update((rule.methods or set()) - {"HEAD", "OPTIONS"})
    return [{"path": p, "methods": sorted(m)} for p, m in sorted(found.items())]


@bp.get("/")
def capabilities():
    base = base_url()
    return jsonify(
        {
            "api_version": api_version(),
            "backend_version": __version__,
            "stac_version": "1.0.0",
            "type": "Catalog",
            "id": "cropcube",
            "title": "cropcube",
            "description": "An openEO backend for crop-type mapping from Sentinel-2 L2A time "
            "series: standard openEO processes over xarray/dask datacubes.",
            "production": False,
            "conformsTo": CONFORMANCE[api_version()],
            "endpoints": _endpoints(),
            "links": [
                {"rel": "self", "href": f"{base}/", "type": "application/json"},
                {
                    "rel": "version-history",
                    "href": f"{root_url()}/.well-known/openeo",
                    "type": "application/json",
                },
                {
                    "rel": "web-editor",
                    "href": f"{WEB_EDITOR}?server={quote(root_url(), safe='')}",
                    "type": "text/html",
                    "title": "The openEO Web Editor, connected to this server",
                },
                {
                    "rel": "data",
                    "href": f"{base}/collections",
                    "type": "application/json",
                    "title": "Collections",
                },
                {"rel": "conformance", "href": f"{base}/conformance", "type": "application/json"},
            ],
        }
    )


@well_known.get("/.well-known/openeo")
def versions():
    return jsonify(
        {
            "versions": [
                {"url": base_url(version) + "/", "api_version": version, "production": False}
                for version in API_PREFIXES
            ]
        }
    )


@bp.get("/conformance")
def conformance():
    return jsonify({"conformsTo": CONFORMANCE[api_version()]})


@bp.get("/file_formats")
def file_formats():
    return jsonify(
        {
            "input": {
                "GeoJSON": {
                    "title": "GeoJSON (load_url: geometries for aggregate_spatial and masks)",
                    "gis_data_types": ["vector"],
                    "parameters": {},
                }
            },
            "output": {f.name: f.describe() for f in formats.FORMATS},
        }
    )


@bp.get("/udf_runtimes")
def udf_runtimes():
    return jsonify(udf.runtimes(services().settings.udf_limits))
