"""One way to build the context a process graph runs in, for every place that runs one
(synchronous results, batch jobs, estimates): the user's processes, models and results."""

from __future__ import annotations

from backend.model_store import model_loader
from backend.own_results import job_folder
from backend.store import Store
from core.settings import Settings
from processes.context import ExecutionContext
from sources.catalog import Catalog


def context_for(
    settings: Settings,
    catalog: Catalog,
    store: Store,
    user_id: str | None,
    synchronous: bool = False,
    dry_run: bool = False,
) -> ExecutionContext:
    """The context of one execution for one user; synchronous ones get the value limit, dry
    runs (estimates) train nothing and take unfinished models as planned."""
    return ExecutionContext(
        catalog,
        max_values=settings.sync_max_values if synchronous else None,
        limits=settings.graph_limits,
        url_policy=settings.url_policy,
        udf_limits=settings.udf_limits,
        user_processes=store.processes(user_id) if user_id is not None else {},
        load_model=model_loader(settings, store, user_id, dry_run),
        job_folder=job_folder(settings, store, user_id),
        dry_run=dry_run,
    )
