"""Where load_ml_model finds models: a finished job of the same user, or a URL."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import requests

from backend.errors import ProcessParameterInvalid
from backend.jobs.store import Store
from backend.settings import Settings
from processes import model_files

MODEL_FILE = "model.pt"
JOB_RESULTS_URL = re.compile(r"/openeo/1\.2/jobs/([\w-]+)/results/?$")
MAX_BYTES = 200 * 2**20


def _invalid(reason: str) -> ProcessParameterInvalid:
    return ProcessParameterInvalid(process="load_ml_model", parameter="id", reason=reason)


def _from_blob(blob: bytes | str, where: str) -> Any:
    try:
        return model_files.load(io.BytesIO(blob) if isinstance(blob, bytes) else blob)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input
        raise _invalid(f"{where} is not a cropcube model file ({type(exc).__name__})") from None


def _fetch(url: str) -> requests.Response:
    try:
        r = requests.get(url, timeout=60)
    except requests.RequestException as exc:
        raise _invalid(f"could not fetch {url}: {type(exc).__name__}") from None
    if r.status_code != 200 or len(r.content) > MAX_BYTES:
        raise _invalid(f"fetching {url} answered HTTP {r.status_code}")
    return r


def _model_href(item: dict, url: str) -> str:
    """The model asset of a STAC item (role mlm:model), as an absolute URL."""
    from urllib.parse import urljoin

    for asset in (item.get("assets") or {}).values():
        if "mlm:model" in (asset.get("roles") or []):
            return urljoin(url, asset["href"])
    raise _invalid(f"{url} is a JSON document without an asset of role mlm:model")


def model_loader(settings: Settings, store: Store, user_id: str | None
                 ) -> Callable[[str], Any]:
    """load_ml_model's resolver for one user."""

    def load(ref: str) -> Any:
        own_job = JOB_RESULTS_URL.search(ref)
        if own_job:  # our own /jobs/<id>/results: the job, with this user's rights
            ref = own_job.group(1)
        elif ref.startswith(("http://", "https://")):
            r = _fetch(ref)
            if "json" in r.headers.get("Content-Type", ""):
                href = _model_href(r.json(), ref)
                r = _fetch(href)
            return _from_blob(r.content, ref)
        job = store.get(ref)
        if job is None or job.user_id != user_id:
            raise _invalid(f"no job '{ref}' of yours, and not an http(s) URL")
        if job.status != "finished":
            raise _invalid(f"job {ref} is {job.status}, not finished")
        path = settings.results_dir / ref / MODEL_FILE
        if not path.is_file():
            raise _invalid(f"the results of job {ref} hold no model (save_ml_model)")
        return _from_blob(str(path), f"job {ref}")

    return load
