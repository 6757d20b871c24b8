"""How the Dask workers of a cluster should run cropcube's tasks, and the job log's check.

Two of Dask's defaults slow a composite's tasks on a worker (docs/benchmarks.md): the
statistical profiler samples every thread's stack each 10 ms under the GIL, and the nanny
starts its workers with `MALLOC_TRIM_THRESHOLD_=65536`, which also fixes glibc's mmap
threshold at 128 KB, so every block's arrays are mapped, faulted in and unmapped again
instead of reused. The job's own LocalCluster has neither (threads in the job's process).
"""

from __future__ import annotations

import os
from typing import Any

# The environment to start `dask worker` in (docs/guide/jobs.md, docker/compose.yaml).
WORKER_ENVIRONMENT = {
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    # None takes the variable out of what the nanny sets: glibc's own, adaptive thresholds.
    "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": "{'MALLOC_TRIM_THRESHOLD_': None}",
}


def worker_settings() -> dict[str, Any]:
    """The settings of the process it runs in (on each worker, through client.run)."""
    import dask

    return {
        "profiler": bool(dask.config.get("distributed.worker.profile.enabled", False)),
        "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
    }


def advice(per_worker: dict[str, dict[str, Any]]) -> str | None:
    """A log line naming what slows the workers' tasks, or None when nothing does."""
    profiled = sum(1 for s in per_worker.values() if s.get("profiler"))
    trimmed = sorted({s["malloc_trim"] for s in per_worker.values() if s.get("malloc_trim")})
    found = []
    if profiled:
        found.append(f"the statistical profiler on ({profiled} of {len(per_worker)})")
    if trimmed:
        found.append(f"MALLOC_TRIM_THRESHOLD_={'/'.join(trimmed)} (the nanny's default)")
    if not found:
        return None
    return (
        f"The Dask workers run with {' and '.join(found)}, which slow cropcube's tasks; "
        "start them with "
        + " ".join(f'{k}="{v}"' for k, v in WORKER_ENVIRONMENT.items())
        + " (docs/guide/jobs.md)."
    )
