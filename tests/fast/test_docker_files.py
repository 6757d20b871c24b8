"""The docker/ files stay consistent with the code (no Docker engine runs here to build them)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from backend.cli import build_parser
from backend.jobs.dask_workers import WORKER_ENVIRONMENT

REPO = Path(__file__).resolve().parents[2]


def test_compose_commands_are_valid_cli_calls():
    compose = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"api", "worker", "db", "scheduler", "dask-worker"} <= set(services)
    for name in ("api", "worker"):
        args = build_parser().parse_args(services[name]["command"])
        assert args.command == {"api": "serve", "worker": "worker"}[name]
        env = services[name]["environment"]
        assert env["CROPCUBE_DASK_SCHEDULER"].endswith(":8786")
        assert "@db:5432/" in env["CROPCUBE_DATABASE_URL"]
    api = build_parser().parse_args(services["api"]["command"])
    assert str(api.port) in [p.split(":")[-1] for p in services["api"]["ports"]]
    assert api.workers == 0  # the worker service runs the jobs
    assert "8786" in services["scheduler"]["command"]
    assert "tcp://scheduler:8786" in services["dask-worker"]["command"]
    assert services["dask-worker"]["environment"] == WORKER_ENVIRONMENT


def test_dockerfile_copies_existing_paths_and_exposes_the_served_port():
    text = (REPO / "docker" / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (\S+)", text, flags=re.M):
        assert (REPO / src).exists(), src
    cmd = re.search(r"^CMD \[(.*)\]", text, flags=re.M).group(1)
    args = build_parser().parse_args([a.strip(' "') for a in cmd.split(",")])
    assert f"EXPOSE {args.port}" in text


def test_dockerfile_copies_every_package_pyproject_installs():
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = re.findall(r"^COPY (\S+)", (REPO / "docker" / "Dockerfile").read_text(), flags=re.M)
    assert sorted(p.rstrip("*") for p in include) == sorted(
        c for c in copied if (REPO / c).is_dir()
    )
