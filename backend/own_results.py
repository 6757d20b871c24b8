"""A user's own finished job, by id or by our results URL, with the rights of that user:
what load_ml_model and load_stac read locally instead of over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from backend.store import Store
from core.settings import Settings
from processes.context import NotYours


def job_folder(settings: Settings, store: Store, user_id: str | None) -> Callable[[str], Path]:
    """A resolver: job id -> the folder of that finished job's results, for this user only."""

    def folder(job_id: str) -> Path:
        job = store.get(job_id)
        if job is None or job.user_id != user_id:
            raise NotYours(f"no job '{job_id}' of yours")
        if job.status != "finished":
            raise NotYours(f"job {job_id} is {job.status}, not finished")
        return settings.results_dir / job_id

    return folder
