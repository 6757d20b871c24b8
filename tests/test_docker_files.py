"""The docker/ files stay consistent with the code (no Docker engine runs here to build them)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from backend.cli import build_parser

REPO = Path(__file__).resolve().parent.parent


def test_compose_commands_are_valid_cli_calls():
    compose = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())
    assert compose["services"]
    for name, service in compose["services"].items():
        args = build_parser().parse_args(service["command"])
        assert args.command == "serve", name
        published = [p.split(":")[-1] for p in service.get("ports", [])]
        assert str(args.port) in published


def test_dockerfile_copies_existing_paths_and_exposes_the_served_port():
    text = (REPO / "docker" / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (\S+)", text, flags=re.M):
        assert (REPO / src).exists(), src
    cmd = re.search(r'^CMD \[(.*)\]', text, flags=re.M).group(1)
    args = build_parser().parse_args([a.strip(' "') for a in cmd.split(",")])
    assert f"EXPOSE {args.port}" in text
