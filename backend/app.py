"""Flask app factory: the API's blueprints under /openeo/1.2 and /openeo/1.3, CORS and openEO
errors on every response."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from backend.api import (
    capabilities,
    collections,
    credentials,
    health,
    jobs,
    process_graphs,
    processes,
    results,
    web_services,
)
from backend.services import API_PREFIXES, Services
from core import errors
from core.settings import Settings

log = logging.getLogger(__name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": "Location, OpenEO-Identifier, OpenEO-Costs, Link",
}
_HTTP_CODES = {
    400: errors.BadRequest,
    401: errors.AuthenticationRequired,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    415: errors.ContentTypeInvalid,
}


def _error_response(exc: errors.OpenEOError) -> Response:
    resp = jsonify(exc.to_dict())
    resp.status_code = exc.status
    if exc.status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="openEO"'
    return resp


def blueprint_name(name: str, version: str) -> str:
    """1.2's blueprints keep their names; another version's carry it: `jobs_v1_3`."""
    return name if version == "1.2.0" else f"{name}_v{version.rsplit('.', 1)[0].replace('.', '_')}"


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    # Flask's default JSON provider has sort_keys; the base class it is typed as has not.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["cropcube"] = Services.build(settings)
    for version, prefix in API_PREFIXES.items():
        for bp in (
            capabilities.bp,
            collections.bp,
            processes.bp,
            credentials.bp,
            results.bp,
            jobs.bp,
            process_graphs.bp,
            web_services.bp,
            health.bp,
        ):
            app.register_blueprint(bp, url_prefix=prefix, name=blueprint_name(bp.name, version))
    app.register_blueprint(capabilities.well_known)
    app.register_blueprint(jobs.downloads)

    @app.before_request
    def preflight():
        if request.method == "OPTIONS":
            resp = Response(status=204)
            resp.headers["Access-Control-Allow-Methods"] = "OPTIONS, GET, POST, PATCH, PUT, DELETE"
            resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            return resp
        return None

    @app.after_request
    def cors(resp: Response) -> Response:
        resp.headers.update(CORS_HEADERS)
        return resp

    @app.errorhandler(errors.OpenEOError)
    def openeo_error(exc: errors.OpenEOError):
        if exc.status >= 500:
            log.error("%s %s: %s (%s)", request.method, request.path, exc.message, exc.id)
        return _error_response(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        cls = _HTTP_CODES.get(exc.code or 500, errors.Internal)
        message = (
            f"{exc.name}: {request.method} {request.path}"
            if exc.code in (404, 405)
            else exc.description
        )
        err = cls(message)
        err.status = exc.code or 500
        return _error_response(err)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error_response(errors.Internal(reason="an unexpected error occurred"))

    return app
