"""GET /credentials/basic (a token for HTTP Basic credentials), GET /credentials/oidc (the
OpenID Connect providers) and GET /me."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from backend.services import services
from core.errors import AuthenticationRequired, NotFound

bp = Blueprint("credentials", __name__)


@bp.get("/credentials/basic")
def basic_login():
    creds = request.authorization
    if creds is None or creds.type != "basic":
        raise AuthenticationRequired("Send HTTP Basic credentials to obtain a token.")
    return jsonify({"access_token": services().auth.login(creds.username, creds.password)})


@bp.get("/credentials/oidc")
def oidc_providers():
    """Listed in the capabilities only where providers are configured (the API wants one)."""
    if not services().settings.oidc_providers:
        raise NotFound("This server has no OpenID Connect providers: log in with Basic.")
    return jsonify({"providers": [p.listed() for p in services().settings.oidc_providers]})


@bp.get("/me")
def me():
    who = services().auth.identify(request.headers.get("Authorization"))
    return jsonify({"user_id": who.user_id, "name": who.name, "links": []})
