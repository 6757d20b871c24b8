"""POST /result (synchronous processing) and POST /validation."""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file

from backend import executor
from backend.execution import context_for
from backend.services import current_user, services
from backend.validation import process_graph_of
from core.errors import BadRequest

bp = Blueprint("results", __name__)
log = logging.getLogger(__name__)


def _json_body() -> object:
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise BadRequest("The request body is not valid JSON.")
    return body


def _optional_user() -> str | None:
    """The user when credentials are sent (validation also works without login)."""
    return current_user() if request.headers.get("Authorization") else None


@bp.post("/result")
def compute_result():
    user = current_user()
    graph = process_graph_of(_json_body())
    # API 1.3's identifier of a synchronous request: in the response and the server's log.
    request_id = f"r-{uuid.uuid4().hex[:16]}"
    started = time.monotonic()
    svc = services()
    ctx = context_for(svc.settings, svc.catalog, svc.store, user, synchronous=True)
    value = executor.evaluate(graph, ctx)
    # The folder goes before the response does: the open file outlives its name, and
    # gunicorn never calls a send_file response's close callbacks (the file wrapper is
    # passed straight through), so nothing the request wrote is left behind.
    with tempfile.TemporaryDirectory(prefix="cropcube-result-") as out_dir:
        output = executor.write_outputs(value, ctx, Path(out_dir))[0]
        stream = output.path.open("rb")
    response = send_file(stream, mimetype=output.media_type, download_name=output.path.name)
    response.content_length = os.fstat(stream.fileno()).st_size
    response.headers["OpenEO-Costs"] = "0"
    response.headers["OpenEO-Identifier"] = request_id
    log.info(
        "result %s of %s: %s, %d bytes in %.1f s",
        request_id,
        user,
        output.media_type,
        response.content_length,
        time.monotonic() - started,
    )
    return response


@bp.post("/validation")
def validate():
    body = _json_body()
    graph = body.get("process_graph") if isinstance(body, dict) else None
    if graph is None and isinstance(body, dict) and isinstance(body.get("process"), dict):
        graph = body["process"].get("process_graph")
    svc = services()
    user = _optional_user()
    errs = executor.validate(
        graph, svc.catalog, svc.store.processes(user) if user else {}, svc.settings.graph_limits
    )
    return jsonify(
        {"errors": [{k: v for k, v in e.to_dict().items() if k != "links"} for e in errs]}
    )
