"""Every setting, read from CROPCUBE_* environment variables, with the defaults a laptop needs."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"CROPCUBE_{name}", default)


def _list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _optional_int(value: str) -> int | None:
    return int(value) if value.strip() else None


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs may be fetched: host patterns (fnmatch, '*' for any public host) and the
    hosts whose private addresses are trusted (for a STAC API inside one's own network)."""

    allowed_hosts: tuple[str, ...] = ("*",)
    trusted_hosts: tuple[str, ...] = ()
    max_bytes: int = 200 * 2**20
    timeout_s: float = 60.0

    def host_allowed(self, host: str) -> bool:
        host = host.lower()
        return any(fnmatch.fnmatch(host, p.lower()) for p in self.allowed_hosts) or \
            self.trusted(host)

    def trusted(self, host: str) -> bool:
        return any(fnmatch.fnmatch(host.lower(), p.lower()) for p in self.trusted_hosts)


@dataclass(frozen=True)
class GraphLimits:
    """The most nodes (child graphs included) and levels of child graphs a graph may have."""

    max_nodes: int = 10_000
    max_depth: int = 32


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; `from_env` is the only place environment variables are read."""

    data_dir: Path = Path("data")
    # STAC catalog (catalog.json, local or http) or STAC API root; default: the demo catalog.
    stac_url: str = ""
    # openEO collection id -> STAC collection id, where they differ ("A=b,C=d").
    collection_map: dict[str, str] = field(default_factory=dict)
    public_url: str = ""  # base URL clients see, when behind a proxy
    sync_max_values: int = 100_000_000  # pixels x dates x bands loaded by one POST /result
    token_ttl_s: int = 24 * 3600
    dask_chunk_px: int = 1024
    # The demo scene's size (10 m px) and seed; None: the one the data dir holds (500, 42
    # when it holds none). Setting either rebuilds the demo data when it differs.
    demo_size: int | None = None
    demo_seed: int | None = None
    database_url: str = ""  # default: SQLite in the data dir; or postgresql+psycopg://...
    workers: int = 2  # job worker processes `serve` starts
    http_workers: int = 1  # gunicorn worker processes of the API
    http_threads: int = 8  # threads per API worker process
    job_heartbeat_s: float = 2.0
    job_stale_s: float = 30.0  # a running job without heartbeat this long is marked error
    job_poll_s: float = 1.0
    job_threads: int = 0  # dask threads per job on the LocalCluster (0: cores / workers)
    dask_scheduler: str = ""  # address of an existing dask.distributed scheduler
    results_days: float = 30.0  # how long job results are kept
    signed_url_ttl_s: int = 7 * 24 * 3600
    # URLs users give (load_stac, load_ml_model, geometries): host patterns that may be
    # fetched, and hosts whose private addresses are trusted (default: public hosts only)
    url_allowed_hosts: tuple[str, ...] = ("*",)
    url_trusted_hosts: tuple[str, ...] = ()
    graph_max_nodes: int = 10_000  # nodes in a process graph, child graphs included
    graph_max_depth: int = 32  # levels of child process graphs (callbacks)

    @property
    def url_policy(self) -> UrlPolicy:
        return UrlPolicy(self.url_allowed_hosts, self.url_trusted_hosts)

    @property
    def graph_limits(self) -> GraphLimits:
        return GraphLimits(self.graph_max_nodes, self.graph_max_depth)

    @property
    def users_file(self) -> Path:
        return self.data_dir / "users.json"

    @property
    def secret_file(self) -> Path:
        return self.data_dir / "secret.key"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'cropcube.db'}"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def catalog_url(self) -> str:
        return self.stac_url or str(self.data_dir / "stac" / "catalog.json")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        mapping = {}
        for pair in filter(None, _env("COLLECTION_MAP", "").split(",")):
            key, _, value = pair.partition("=")
            mapping[key.strip()] = value.strip()
        values: dict[str, object] = dict(
            data_dir=Path(_env("DATA_DIR", "data")).resolve(),
            stac_url=_env("STAC_URL", ""),
            collection_map=mapping,
            public_url=_env("PUBLIC_URL", ""),
            sync_max_values=int(_env("SYNC_MAX_VALUES", "100000000")),
            token_ttl_s=int(_env("TOKEN_TTL_S", str(24 * 3600))),
            dask_chunk_px=int(_env("DASK_CHUNK_PX", "1024")),
            demo_size=_optional_int(_env("DEMO_SIZE", "")),
            demo_seed=_optional_int(_env("DEMO_SEED", "")),
            database_url=_env("DATABASE_URL", ""),
            workers=int(_env("WORKERS", "2")),
            http_workers=int(_env("HTTP_WORKERS", "1")),
            http_threads=int(_env("HTTP_THREADS", "8")),
            job_heartbeat_s=float(_env("JOB_HEARTBEAT_S", "2")),
            job_stale_s=float(_env("JOB_STALE_S", "30")),
            job_poll_s=float(_env("JOB_POLL_S", "1")),
            job_threads=int(_env("JOB_THREADS", "0")),
            dask_scheduler=_env("DASK_SCHEDULER", ""),
            results_days=float(_env("RESULTS_DAYS", "30")),
            signed_url_ttl_s=int(_env("SIGNED_URL_TTL_S", str(7 * 24 * 3600))),
            url_allowed_hosts=_list(_env("URL_ALLOWED_HOSTS", "*")),
            url_trusted_hosts=_list(_env("URL_TRUSTED_HOSTS", "")),
            graph_max_nodes=int(_env("GRAPH_MAX_NODES", "10000")),
            graph_max_depth=int(_env("GRAPH_MAX_DEPTH", "32")),
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in overrides and overrides["data_dir"] is not None:
            values["data_dir"] = Path(str(overrides["data_dir"])).resolve()
        return cls(**values)  # type: ignore[arg-type]
