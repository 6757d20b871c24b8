"""Every setting, read from CROPCUBE_* environment variables, with the defaults a laptop needs."""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any


def _list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _optional_int(value: str) -> int | None:
    return int(value) if value.strip() else None


def _map(value: str) -> dict[str, str]:
    """'A=b, C=d' -> {'A': 'b', 'C': 'd'}."""
    pairs = (p.partition("=") for p in value.split(",") if p.strip())
    return {k.strip(): v.strip() for k, _, v in pairs}


@dataclass(frozen=True)
class OidcProvider:
    """An OpenID Connect provider whose tokens log users in (listed by GET /credentials/oidc).

    `audience`, when set, is the `aud` a JWT access token must name; `default_clients` are
    the openEO API's public clients ({"id", "grant_types", "redirect_urls"});
    `authorization_parameters` (API 1.3) what clients must add to the authorization request
    (e.g. {"prompt": "consent"})."""

    id: str
    issuer: str
    title: str
    scopes: tuple[str, ...] = ("openid",)
    description: str = ""
    audience: str = ""
    default_clients: tuple[dict[str, Any], ...] = ()
    authorization_parameters: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> OidcProvider:
        missing = {"id", "issuer", "title"} - doc.keys()
        unknown = doc.keys() - {f.name for f in fields(cls)}
        if missing or unknown:
            wrong = [
                f"{what} {', '.join(sorted(keys))}"
                for what, keys in (("missing", missing), ("unknown", unknown))
                if keys
            ]
            raise ValueError(f"OIDC provider {doc.get('id', '?')!r}: {'; '.join(wrong)}")
        if not str(doc["id"]).replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"OIDC provider id {doc['id']!r}: letters, digits, - and _ only")
        return cls(
            **{
                **doc,
                "issuer": doc["issuer"].rstrip("/"),
                "scopes": tuple(doc.get("scopes", ("openid",))),
                "default_clients": tuple(doc.get("default_clients", ())),
                "authorization_parameters": tuple(
                    (str(k), str(v)) for k, v in doc.get("authorization_parameters", {}).items()
                ),
            }
        )

    def listed(self) -> dict[str, Any]:
        """What GET /credentials/oidc says of it (the audience stays with the server)."""
        doc: dict[str, Any] = {
            "id": self.id,
            "issuer": self.issuer,
            "title": self.title,
            "scopes": list(self.scopes),
        }
        optional = {
            "description": self.description,
            "default_clients": list(self.default_clients),
            "authorization_parameters": dict(self.authorization_parameters),
        }
        return {**doc, **{k: v for k, v in optional.items() if v}}


def _oidc_providers(value: str) -> tuple[OidcProvider, ...]:
    """A JSON list of providers, or the path of a file holding one."""
    text = value.strip()
    if not text:
        return ()
    if not text.startswith(("[", "{")):
        text = Path(text).read_text()
    docs = json.loads(text)
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise ValueError("expected a JSON list of providers, each an object")
    return tuple(OidcProvider.from_json(d) for d in docs)


def setting(
    default: Any, doc: str, parse: Callable[[str], Any] = str, shown: str | None = None
) -> Any:
    """A Settings field: its default, what it means, how its variable is parsed, and the
    default as the docs show it (when the value itself says little)."""
    meta = {"doc": doc, "parse": parse, "shown": shown}
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


class SettingsError(ValueError):
    """A CROPCUBE_* variable that cannot be read, named with what is wrong."""


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
        return any(fnmatch.fnmatch(host, p.lower()) for p in self.allowed_hosts) or self.trusted(
            host
        )

    def trusted(self, host: str) -> bool:
        return any(fnmatch.fnmatch(host.lower(), p.lower()) for p in self.trusted_hosts)


@dataclass(frozen=True)
class GraphLimits:
    """The most nodes (child graphs included) and levels of child graphs a graph may have."""

    max_nodes: int = 10_000
    max_depth: int = 32


@dataclass(frozen=True)
class UdfLimits:
    """How run_udf runs users' code: the sandbox ('auto': bubblewrap, refused where it
    cannot run; 'subprocess': plain child processes, for trusted users only; 'off'), and
    what one call of a UDF on one chunk may take."""

    sandbox: str = "auto"
    timeout_s: float = 300.0
    cpu_s: float = 600.0
    memory_mb: int = 4096
    tmp_mb: int = 256
    workers: int = 0  # UDF processes at once per server or job process; 0: one per core
    idle_s: float = 10.0
    hidden: tuple[str, ...] = ()  # paths never shown to a UDF (the data dir)

    @property
    def processes(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Each field is one CROPCUBE_<NAME> environment variable, read
    by `from_env` (the only place they are read); the docs' settings table is made from
    these declarations."""

    data_dir: Path = setting(
        Path("data"),
        "users, token secret, job results, demo data (also `--data-dir`)",
        Path,
        shown="./data",
    )
    stac_url: str = setting(
        "", "STAC `catalog.json` (path or URL) or STAC API root", shown="the demo catalog"
    )
    collection_map: dict[str, str] = setting(
        {}, "`OPENEO_ID=stac-id,...` where the openEO and STAC collection ids differ", _map
    )
    public_url: str = setting(
        "", "base URL clients see, behind a proxy", shown="the request's host"
    )
    sync_max_values: int = setting(
        100_000_000, "most values (pixels x dates x bands) one `POST /result` may load", int
    )
    token_ttl_s: int = setting(24 * 3600, "lifetime of a login token (s)", int)
    oidc_providers: tuple[OidcProvider, ...] = setting(
        (),
        "OpenID Connect providers: a JSON list (or the path of a JSON file) of `{id, issuer, "
        "title, scopes, audience, default_clients}` ([auth](auth.md))",
        _oidc_providers,
        shown="none",
    )
    oidc_cache_s: float = setting(
        300.0, "how long a provider's discovery document and keys are reused (s)", float
    )
    oidc_key_cooldown_s: float = setting(
        10.0,
        "least time between two fetches of a provider's keys for tokens naming an unknown key (s)",
        float,
    )
    dask_chunk_px: int = setting(1024, "spatial chunk size of loaded cubes (px)", int)
    stac_page_size: int = setting(100, "items per page asked of a STAC API", int)
    stac_cache_s: float = setting(60.0, "how long a STAC API search's items are reused (s)", float)
    read_threads: int = setting(
        16, "concurrent requests per read block for remote (HTTP) COGs; local: one", int
    )
    read_cache_mb: int = setting(
        384, "read blocks kept per process for the chunks that share them (MB)", int
    )
    demo_size: int | None = setting(
        None,
        "demo scene width and height (10 m px); unset: the scene the data dir holds",
        _optional_int,
        shown="500",
    )
    demo_seed: int | None = setting(
        None, "demo scene seed; unset: the scene the data dir holds", _optional_int, shown="42"
    )
    database_url: str = setting(
        "", "job store; `postgresql+psycopg://...` for PostgreSQL", shown="SQLite in the data dir"
    )
    workers: int = setting(2, "job workers `serve` starts (also `serve --workers N`)", int)
    http_workers: int = setting(1, "gunicorn worker processes of the API", int)
    http_threads: int = setting(8, "threads per API worker process", int)
    job_heartbeat_s: float = setting(2.0, "heartbeat interval of a running job (s)", float)
    job_stale_s: float = setting(
        30.0, "a running job without heartbeat this long is marked error (s)", float
    )
    job_poll_s: float = setting(1.0, "how often an idle worker looks for queued jobs (s)", float)
    job_threads: int = setting(
        0, "Dask threads per job on the LocalCluster (0: cores / workers)", int
    )
    dask_scheduler: str = setting("", "address of an existing dask.distributed scheduler")
    results_days: float = setting(30.0, "days job results are kept", float)
    signed_url_ttl_s: int = setting(7 * 24 * 3600, "lifetime of result download links (s)", int)
    url_allowed_hosts: tuple[str, ...] = setting(
        ("*",),
        "host patterns (comma-separated, `fnmatch`) that URLs in arguments "
        "(load_stac, load_ml_model, geometries) may name; public addresses only",
        _list,
    )
    url_trusted_hosts: tuple[str, ...] = setting(
        (),
        "host patterns whose loopback or private addresses may be fetched (a STAC API "
        "in your own network)",
        _list,
    )
    graph_max_nodes: int = setting(
        10_000, "most nodes in a process graph, child graphs included", int
    )
    graph_max_depth: int = setting(32, "most levels of child process graphs (callbacks)", int)
    udf_sandbox: str = setting(
        "auto",
        "how run_udf runs users' code: `auto` (bubblewrap; refused where it cannot run), "
        "`subprocess` (plain child processes without isolation: trusted users only), `off`",
    )
    udf_timeout_s: float = setting(300.0, "wall time of one UDF call on one chunk (s)", float)
    udf_cpu_s: float = setting(600.0, "CPU time of one UDF call on one chunk (s)", float)
    udf_memory_mb: int = setting(4096, "memory of one UDF process with its children (MiB)", int)
    udf_tmp_mb: int = setting(256, "size of a UDF's private temporary folder (MiB)", int)
    udf_workers: int = setting(
        0, "UDF processes at once per API or job process (0: one per core)", int
    )
    udf_idle_s: float = setting(
        10.0, "how long a UDF process waits for the next chunk of its request (s)", float
    )

    @property
    def url_policy(self) -> UrlPolicy:
        return UrlPolicy(self.url_allowed_hosts, self.url_trusted_hosts)

    @property
    def graph_limits(self) -> GraphLimits:
        return GraphLimits(self.graph_max_nodes, self.graph_max_depth)

    @property
    def udf_limits(self) -> UdfLimits:
        return UdfLimits(
            self.udf_sandbox,
            self.udf_timeout_s,
            self.udf_cpu_s,
            self.udf_memory_mb,
            self.udf_tmp_mb,
            self.udf_workers,
            self.udf_idle_s,
            (str(self.data_dir),),
        )

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
        """The settings from CROPCUBE_* variables; overrides that are not None win."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(env_name(f.name))
            if raw is not None:
                try:
                    values[f.name] = f.metadata["parse"](raw)
                except (ValueError, OSError) as exc:
                    raise SettingsError(f"{env_name(f.name)}: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = Path(str(values.get("data_dir", "data"))).resolve()
        return cls(**values)  # type: ignore[arg-type]


def env_name(field_name: str) -> str:
    return f"CROPCUBE_{field_name.upper()}"


def documented() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) of every setting, for the docs."""
    rows = []
    for f in fields(Settings):
        default = f.metadata.get("shown")
        if default is None:
            value = f.default_factory() if f.default_factory is not MISSING else f.default
            default = (
                ",".join(value)
                if isinstance(value, tuple)
                else ",".join(f"{k}={v}" for k, v in value.items())
                if isinstance(value, dict)
                else str(value)
            )
        rows.append((env_name(f.name), default, f.metadata["doc"]))
    return rows
