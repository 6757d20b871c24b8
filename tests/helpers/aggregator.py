"""The real openeo-aggregator (from PyPI) on loopback, in front of cropcube servers.

It runs from its own virtual environment (`make aggregator-deps`: it pins its own Flask and
gunicorn), with a configuration file as a federation's operator writes one.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.scene import REPO
from helpers.serverctl import free_port, stop_process, wait_until_up

AGGREGATOR_VENV = REPO / ".cache" / "aggregator-venv"

CONFIG = """\
from openeo_aggregator.config import AggregatorBackendConfig
from openeo_driver.users.oidc import OidcProvider

config = AggregatorBackendConfig(
    id="cropcube-federation",
    capabilities_title="cropcube federation",
    aggregator_backends={backends},
    oidc_providers=[OidcProvider(id={id}, issuer={issuer}, title={title}, scopes={scopes})],
    memoizer={{"type": "null"}},
)
"""


@dataclass
class Aggregator:
    url: str  # its API root
    process: subprocess.Popen
    log: Path
    config: Path


def aggregator_config(backends: dict[str, str], provider: dict[str, Any]) -> str:
    """The Python configuration file the aggregator reads (OPENEO_BACKEND_CONFIG): the
    members by id and the OIDC provider they share (README, "Joining a federation")."""
    fields = {k: json.dumps(provider[k]) for k in ("id", "issuer", "title", "scopes")}
    return CONFIG.format(backends=json.dumps(backends), **fields)


def start_aggregator(tmp: Path, backends: dict[str, str], provider: dict[str, Any]) -> Aggregator:
    gunicorn = AGGREGATOR_VENV / "bin" / "gunicorn"
    assert gunicorn.exists(), "run `make aggregator-deps` (the README's test command does)"
    config = tmp / "aggregator_config.py"
    config.write_text(aggregator_config(backends, provider))
    port = free_port()
    log = tmp / "aggregator.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))},
        "OPENEO_BACKEND_CONFIG": str(config),
        "OPENEO_AGGREGATOR_SIMPLE_LOGGING": "1",
    }
    command = [
        str(gunicorn),
        *("--bind", f"127.0.0.1:{port}", "--threads", "8", "--timeout", "300"),
        "openeo_aggregator.app:create_app()",
    ]
    with log.open("w") as out:  # the child keeps its own copy of the file
        proc = subprocess.Popen(command, env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
    root = f"http://127.0.0.1:{port}"
    wait_until_up(proc, f"{root}/openeo/1.2/", log, "openeo-aggregator")
    return Aggregator(f"{root}/openeo/1.2", proc, log, config)


def stop_aggregator(agg: Aggregator) -> None:
    stop_process(agg.process)
