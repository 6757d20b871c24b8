"""Where load_ml_model finds models: a finished job of the same user, or a URL."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import requests

from backend.own_results import job_folder
from backend.store import Store
from core.errors import ProcessParameterInvalid
from core.settings import Settings
from processes import model_files
from processes.context import JOB_RESULTS_URL, NotYours
from processes.ml_models import planned_model
from sources.safe_urls import UrlPolicy, UrlRefused, fetch

MODEL_FILE = "model.pt"
JOB_DOWNLOAD_URL = re.compile(r"/download/([\w-]+)/model\.pt(\?|$)")
MAX_BYTES = 200 * 2**20


def _invalid(reason: str) -> ProcessParameterInvalid:
    return ProcessParameterInvalid(process="load_ml_model", parameter="id", reason=reason)


def _from_blob(blob: bytes | str, where: str) -> Any:
    try:
        return model_files.load(io.BytesIO(blob) if isinstance(blob, bytes) else blob)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input
        raise _invalid(f"{where} is not a cropcube model file ({type(exc).__name__})") from None


def _fetch(url: str, policy: UrlPolicy) -> requests.Response:
    try:
        return fetch(url, replace(policy, max_bytes=MAX_BYTES))
    except UrlRefused as exc:
        raise _invalid(str(exc)) from None


def _model_href(item: dict, url: str) -> str:
    """The model asset of a STAC item (role mlm:model), as an absolute URL."""
    from urllib.parse import urljoin

    for asset in (item.get("assets") or {}).values():
        if "mlm:model" in (asset.get("roles") or []):
            return urljoin(url, asset["href"])
    raise _invalid(f"{url} is a JSON document without an asset of role mlm:model")


def _planned(store: Store, job_id: str) -> Any | None:
    """The untrained model an unfinished job of the user's will make (its fit_* node), for
    a dry run; None when the job makes no model."""
    job = store.get(job_id)
    graph = (job.process or {}).get("process_graph", {}) if job else {}
    for node in graph.values():
        if str(node.get("process_id", "")).startswith("fit_"):
            return planned_model(node["process_id"], node.get("arguments"))
    return None


def model_loader(
    settings: Settings, store: Store, user_id: str | None, dry_run: bool = False
) -> Callable[[str], Any]:
    """load_ml_model's resolver for one user; in a dry run an unfinished job of the user's
    that trains a model stands for the model it will make."""

    own_folder = job_folder(settings, store, user_id)

    def load(ref: str) -> Any:
        own_job = JOB_RESULTS_URL.search(ref) or JOB_DOWNLOAD_URL.search(ref)
        if own_job:  # our own results or download link: the job, with this user's rights
            ref = own_job.group(1)
        elif ref.startswith(("http://", "https://")):
            r = _fetch(ref, settings.url_policy)
            if "json" in r.headers.get("Content-Type", ""):
                href = _model_href(r.json(), ref)
                r = _fetch(href, settings.url_policy)
            return _from_blob(r.content, ref)
        try:
            path = own_folder(ref) / MODEL_FILE
        except NotYours as exc:  # an id is either a job of the user's or a URL
            missing = str(exc).startswith("no job")
            planned = _planned(store, ref) if dry_run and not missing else None
            if planned is not None:
                return planned
            raise _invalid(f"{exc}, and not an http(s) URL" if missing else str(exc)) from None
        if not path.is_file():
            raise _invalid(f"the results of job {ref} hold no model (save_ml_model)")
        return _from_blob(str(path), f"job {ref}")

    return load
