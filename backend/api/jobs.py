"""Batch jobs: /jobs, /jobs/{id}, /results, /logs, /estimate, and signed result downloads."""

from __future__ import annotations

import datetime as dt
import shutil
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file

from backend import executor
from backend.api.bodies import check_editable, iso, json_object, without_unset
from backend.execution import context_for
from backend.jobs.assets import media_type
from backend.services import base_url, current_user, services
from backend.store import LEVELS
from backend.store.models import Job
from core import errors

bp = Blueprint("jobs", __name__)
downloads = Blueprint("downloads", __name__)

EDITABLE = {"title", "description", "process", "plan", "budget", "log_level"}


def timestamps(job: Job) -> dict[str, Any]:
    """A job's times as API 1.3 names them: `queued` and `started` of its last run, and
    `unpublished`, when its results are (or were) deleted."""
    days = services().settings.results_days
    return {
        "created": iso(job.created),
        "updated": iso(job.updated),
        "queued": iso(job.queued_at),
        "started": iso(job.started),
        "unpublished": iso(job.finished + dt.timedelta(days=days))
        if job.finished and job.status == "finished"
        else None,
    }


def job_summary(job: Job) -> dict[str, Any]:
    doc = {
        "id": job.id,
        "title": job.title,
        "description": job.description,
        "status": job.status,
        **timestamps(job),
        "plan": job.plan,
        "costs": 0,
        "budget": job.budget,
        "log_level": job.log_level,
    }
    if job.status == "running":
        doc["progress"] = job.progress or 0.0
    elif job.status == "finished":
        doc["progress"] = 100.0
    return without_unset(doc)


def _job_fields(body: dict[str, Any]) -> dict[str, Any]:
    level = body.get("log_level", "info")
    if level not in LEVELS:
        raise errors.BadRequest(f"log_level must be one of {', '.join(LEVELS)}.")
    budget = body.get("budget")
    if budget is not None and not isinstance(budget, int | float):
        raise errors.BadRequest("budget must be a number.")
    return {
        "title": body.get("title"),
        "description": body.get("description"),
        "plan": body.get("plan"),
        "budget": budget,
        "log_level": level,
    }


def _process(body: dict[str, Any]) -> dict[str, Any]:
    process = body.get("process")
    if (
        not isinstance(process, dict)
        or not isinstance(process.get("process_graph"), dict)
        or not process["process_graph"]
    ):
        raise errors.ProcessGraphMissing()
    return process


@bp.post("/jobs")
def create_job():
    user = current_user()
    body = json_object()
    known = {"process", "title", "description", "plan", "budget", "log_level"}
    options = {k: v for k, v in body.items() if k not in known} or None
    job = services().store.create_job(
        user, _process(body), job_options=options, **_job_fields(body)
    )
    resp = Response(status=201)
    resp.headers["Location"] = f"{base_url()}/jobs/{job.id}"
    resp.headers["OpenEO-Identifier"] = job.id
    return resp


@bp.get("/jobs")
def list_jobs():
    user = current_user()
    try:
        limit = max(1, min(int(request.args.get("limit", 100)), 1000))
    except ValueError:
        raise errors.BadRequest("limit must be an integer.") from None
    jobs, more = services().store.jobs(user, limit, request.args.get("after"))
    links = []
    if more:
        links.append(
            {"rel": "next", "href": f"{base_url()}/jobs?limit={limit}&after={jobs[-1].id}"}
        )
    return jsonify({"jobs": [job_summary(j) for j in jobs], "links": links})


@bp.get("/jobs/<job_id>")
def describe_job(job_id: str):
    job = services().store.job(current_user(), job_id)
    return jsonify({**job_summary(job), "process": job.process})


@bp.patch("/jobs/<job_id>")
def update_job(job_id: str):
    user = current_user()
    body = json_object()
    store = services().store
    store.job(user, job_id)
    check_editable(body, EDITABLE)
    fields = {k: v for k, v in _job_fields(body).items() if k in body}
    if "process" in body:
        fields["process"] = _process(body)
    if fields and not store.update_job(user, job_id, fields):
        raise errors.JobLocked()
    return Response(status=204)


@bp.delete("/jobs/<job_id>")
def delete_job(job_id: str):
    user = current_user()
    store = services().store
    store.cancel(user, job_id)  # a queued or running job stops first
    store.delete_job(user, job_id)
    shutil.rmtree(services().settings.results_dir / job_id, ignore_errors=True)
    return Response(status=204)


@bp.post("/jobs/<job_id>/results")
def start_job(job_id: str):
    services().store.queue(current_user(), job_id)
    return Response(status=202)


@bp.delete("/jobs/<job_id>/results")
def cancel_job(job_id: str):
    services().store.cancel(current_user(), job_id)
    return Response(status=204)


@bp.get("/jobs/<job_id>/results")
def job_results(job_id: str):
    svc = services()
    job = svc.store.job(current_user(), job_id)
    if job.status != "finished":
        raise errors.JobNotFinished()
    if not job.results:
        raise errors.ResultLinkExpired(
            f"The results were deleted {svc.settings.results_days:g} days after the job "
            "finished. Start the job again to compute them anew."
        )
    base = base_url()
    root = base.rsplit("/openeo/", 1)[0]
    results = job.results
    assets = {}
    expires = None
    # Previews first: the Web Editor opens a tab per asset and shows the last one, and a map
    # drawn in a hidden tab stays blank, so the data must come last.
    ordered = sorted(
        results.get("assets", {}).items(), key=lambda kv: "thumbnail" not in kv[1].get("roles", ())
    )
    for name, meta in ordered:
        expires, signature = svc.signer.sign(job.id, name)
        assets[name] = {
            "href": f"{root}/download/{job.id}/{name}?expires={expires}&signature={signature}",
            **meta,
        }
    bbox = results.get("bbox")
    geometry = None
    if bbox:
        w, s, e, n = bbox
        geometry = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    props: dict[str, Any] = {
        "datetime": None,
        "title": job.title,
        "description": job.description,
        **without_unset(timestamps(job)),
        "openeo:status": job.status,
    }
    if results.get("start_datetime"):
        props["start_datetime"] = results["start_datetime"]
        props["end_datetime"] = results["end_datetime"]
    else:
        props["datetime"] = iso(job.finished)
    if expires:
        props["expires"] = iso(dt.datetime.fromtimestamp(expires, dt.UTC))
    doc: dict[str, Any] = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": job.id,
        "stac_extensions": [
            "https://stac-extensions.github.io/file/v2.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "geometry": geometry,
        "properties": props,
        "assets": assets,
        "links": [
            {
                "rel": "self",
                "href": f"{base}/jobs/{job.id}/results",
                "type": "application/geo+json",
            },
            {"rel": "job", "href": f"{base}/jobs/{job.id}", "type": "application/json"},
        ],
    }
    if any(
        "classification:classes" in b for a in assets.values() for b in a.get("raster:bands", [])
    ):
        doc["stac_extensions"].append(
            "https://stac-extensions.github.io/classification/v2.0.0/schema.json"
        )
    if any("mlm:name" in a for a in assets.values()):
        doc["stac_extensions"].append("https://stac-extensions.github.io/mlm/v1.4.0/schema.json")
    if bbox:
        doc["bbox"] = bbox
    return jsonify(doc)


@bp.get("/jobs/<job_id>/logs")
def job_logs(job_id: str):
    store = services().store
    job = store.job(current_user(), job_id)
    level = request.args.get("level", "debug")
    if level not in LEVELS:
        raise errors.BadRequest(f"level must be one of {', '.join(LEVELS)}.")
    level = max(level, job.log_level or "debug", key=LEVELS.index)
    offset = request.args.get("offset")
    try:
        after = int(offset) if offset not in (None, "") else None
        limit = max(1, min(int(request.args.get("limit", 100)), 1000))
    except ValueError:
        raise errors.BadRequest("offset and limit must be integers.") from None
    rows, more = store.logs(job.id, after, level, limit)
    logs = []
    for row in rows:
        entry: dict[str, Any] = {
            "id": str(row.id),
            "level": row.level,
            "message": row.message,
            "time": iso(row.time),
        }
        if row.code:
            entry["code"] = row.code
        if row.data:
            entry["data"] = row.data
            if row.data.get("node"):
                entry["path"] = [{"node_id": row.data["node"]}]
        logs.append(entry)
    links = []
    if more:
        links.append(
            {
                "rel": "next",
                "href": f"{base_url()}/jobs/{job.id}/logs?offset="
                f"{rows[-1].id}&level={level}&limit={limit}",
            }
        )
    return jsonify({"level": level, "logs": logs, "links": links})


@bp.get("/jobs/<job_id>/estimate")
def estimate(job_id: str):
    user = current_user()
    svc = services()
    job = svc.store.job(user, job_id)
    ctx = context_for(svc.settings, svc.catalog, svc.store, user, dry_run=True)
    value = executor.evaluate(job.process["process_graph"], ctx)
    # downloads_included left out: unlimited, its default (null trips the spec's validators)
    return jsonify({"costs": 0, "size": executor.result_bytes(value, ctx)})


@downloads.get("/download/<job_id>/<asset>")
def download(job_id: str, asset: str):
    svc = services()
    svc.signer.check(job_id, asset, request.args.get("expires"), request.args.get("signature"))
    path = svc.settings.results_dir / job_id / asset
    if not path.is_file():
        raise errors.NotFound("The result file does not exist (any more).")
    return send_file(path, mimetype=media_type(path), download_name=asset)
