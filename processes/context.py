"""What a running process graph shares with the processes it calls (set per execution)."""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.settings import GraphLimits, UdfLimits
from sources.catalog import Catalog
from sources.safe_urls import UrlPolicy

# Our own links to a job's results: read as the job itself, with the rights of the user asking.
JOB_RESULTS_URL = re.compile(r"/openeo/1\.[23]/jobs/([\w-]+)/results/?$")


class NotYours(Exception):
    """No finished job of this user by that reference (job_folder); the message is safe to
    show."""


@dataclass
class SaveRequest:
    """One save_result call: the data, the output format and its options."""

    data: Any
    format: str
    options: dict[str, Any]


@dataclass
class ExecutionContext:
    """Per-execution state: the catalog, limits, saved results and load_collection filters."""

    catalog: Catalog
    max_values: int | None = None
    user_processes: dict[str, dict] = field(default_factory=dict)
    limits: GraphLimits = field(default_factory=GraphLimits)
    url_policy: UrlPolicy = field(default_factory=UrlPolicy)  # URLs in arguments
    udf_limits: UdfLimits = field(default_factory=UdfLimits)  # run_udf's sandbox
    saved: list[SaveRequest] = field(default_factory=list)
    loaded_times: list[Any] = field(default_factory=list)  # t labels of every loaded cube
    load_model: Callable[[str], Any] | None = None  # load_ml_model: job id or URL -> model
    job_folder: Callable[[str], Path] | None = None  # load_stac: own job id -> its results
    log: Callable[[str, str], None] = lambda level, message: None  # a batch job's log
    # An estimate: build the graph's lazy result without training (fit_* give untrained
    # models of the asked shape) and without waiting for models still being made.
    dry_run: bool = False


current: contextvars.ContextVar[ExecutionContext] = contextvars.ContextVar("cropcube_execution")
