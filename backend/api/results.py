"""POST /result (synchronous processing) and POST /validation."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file

from backend import executor
from backend.errors import BadRequest
from backend.execution import context_for
from backend.services import current_user, services
from backend.validation import process_graph_of

bp = Blueprint("results", __name__)


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
    svc = services()
    ctx = context_for(svc.settings, svc.catalog, svc.store, user, synchronous=True)
    value = executor.evaluate(graph, ctx)
    out_dir = Path(tempfile.mkdtemp(prefix="cropcube-result-"))
    try:
        output = executor.write_outputs(value, ctx, out_dir)[0]
        response = send_file(output.path, mimetype=output.media_type,
                             download_name=output.path.name)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    response.call_on_close(lambda: shutil.rmtree(out_dir, ignore_errors=True))
    response.headers["OpenEO-Costs"] = "0"
    return response


@bp.post("/validation")
def validate():
    body = _json_body()
    graph = body.get("process_graph") if isinstance(body, dict) else None
    if graph is None and isinstance(body, dict) and isinstance(body.get("process"), dict):
        graph = body["process"].get("process_graph")
    svc = services()
    user = _optional_user()
    errs = executor.validate(graph, svc.catalog, svc.store.processes(user) if user else {},
                             svc.settings.graph_limits)
    return jsonify({"errors": [{k: v for k, v in e.to_dict().items() if k != "links"}
                               for e in errs]})
