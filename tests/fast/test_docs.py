"""The documentation site builds without a warning, and the README's links lead somewhere."""

from __future__ import annotations

import re
import subprocess
import sys

from core.settings import Settings, documented, env_name
from helpers.scene import REPO


def test_the_site_builds_strictly(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    settings = (tmp_path / "site" / "guide" / "settings" / "index.html").read_text()
    assert all(f"<code>{name}</code>" in settings for name, _, _ in documented())
    horizon = (tmp_path / "site" / "crop" / "ndvi_forecast" / "index.html").read_text()
    assert "<code>horizon</code>" in horizon  # the parameter table from the spec


def test_every_setting_is_documented_and_read():
    names = {name for name, _, _ in documented()}
    from dataclasses import fields

    assert names == {env_name(f.name) for f in fields(Settings)}
    assert all(doc for _, _, doc in documented())


def test_readme_links_point_at_files():
    text = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(((?!https?:)[^)#]+)", text)
    assert targets, "the README links to the docs"
    missing = [t for t in targets if not (REPO / t).exists()]
    assert missing == []
    assert len(text.splitlines()) <= 160  # the front door, not the whole house


def test_the_federation_config_shown_is_the_one_the_tests_use():
    from helpers.aggregator import aggregator_config

    shown = aggregator_config(
        {"s2": "http://127.0.0.1:8081/", "labels": "http://127.0.0.1:8082/"},
        {
            "id": "local",
            "issuer": "http://127.0.0.1:8090",
            "title": "Test provider (oidc-provider)",
            "scopes": ["openid", "profile"],
        },
    )
    for page in (REPO / "README.md", REPO / "docs" / "guide" / "federation.md"):
        assert f"```python\n{shown}```" in page.read_text(), page
