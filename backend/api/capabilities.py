"""Capabilities, well-known discovery, conformance, file formats, UDF runtimes."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify

import formats
from backend import __version__
from backend.services import API_PREFIX, API_VERSION, base_url, services
from processes import udf

bp = Blueprint("capabilities", __name__)
well_known = Blueprint("well_known", __name__)

CONFORMANCE = [
    "https://api.openeo.org/1.2.0",
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
]

UNLISTED = {"web_services.tile", "processes.process_example"}


def _endpoints() -> list[dict]:
    """Every openEO API route this app serves, with its methods: capabilities list nothing
    else (the tiles and example graphs that services and specs link to are not API routes)."""
    found: dict[str, set[str]] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/") or rule.rule == API_PREFIX + "/":
            continue
        if rule.endpoint in UNLISTED:
            continue
        if rule.endpoint == "credentials.oidc_providers" and not services().settings.oidc_providers:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule[len(API_PREFIX) :])
        found.setdefault(path, set()).update((rule.methods or set()) - {"HEAD", "OPTIONS"})
    return [{"path": p, "methods": sorted(m)} for p, m in sorted(found.items())]


@bp.get("/")
def capabilities():
    base = base_url()
    return jsonify(
        {
            "api_version": API_VERSION,
            "backend_version": __version__,
            "stac_version": "1.0.0",
            "type": "Catalog",
            "id": "cropcube",
            "title": "cropcube",
            "description": "An openEO backend for crop-type mapping from Sentinel-2 L2A time "
            "series: standard openEO processes over xarray/dask datacubes.",
            "production": False,
            "endpoints": _endpoints(),
            "links": [
                {"rel": "self", "href": f"{base}/", "type": "application/json"},
                {
                    "rel": "version-history",
                    "href": f"{base.rsplit('/openeo', 1)[0]}/.well-known/openeo",
                    "type": "application/json",
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
        {"versions": [{"url": base_url() + "/", "api_version": API_VERSION, "production": False}]}
    )


@bp.get("/conformance")
def conformance():
    return jsonify({"conformsTo": CONFORMANCE})


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
