"""GET /credentials/basic (a token for HTTP Basic credentials) and GET /me."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from backend.services import current_user, services
from core.errors import AuthenticationRequired

bp = Blueprint("credentials", __name__)


@bp.get("/credentials/basic")
def basic_login():
    creds = request.authorization
    if creds is None or creds.type != "basic":
        raise AuthenticationRequired("Send HTTP Basic credentials to obtain a token.")
    return jsonify({"access_token": services().auth.login(creds.username, creds.password)})


@bp.get("/me")
def me():
    user = current_user()
    return jsonify({"user_id": user, "name": user, "links": []})
