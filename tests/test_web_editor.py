"""The openEO Web Editor 0.15.1 (../shared/openeo-web-editor) in headless Chromium against a
real server: the crop processes are found without ticking "experimental", and the crop chain
draws its class map when run directly, as a batch job and as an XYZ service."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.classes import COLOURS
from helpers.serverctl import USERS
from helpers.shared import shared_path

JS_DIR = Path(__file__).resolve().parent / "js"
CHROMIUM = Path("/usr/bin/chromium")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature of the base class
        pass


@pytest.fixture(scope="module")
def editor_url():
    """The built editor, served from its folder on a free loopback port."""
    handler = functools.partial(_QuietHandler, directory=str(shared_path("openeo-web-editor")))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _class_pixels(path: Path) -> tuple[float, int]:
    """The share of a screenshot's pixels that have a class colour, and how many colours."""
    rgb = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    hexes = np.array([f"{r:02X}{g:02X}{b:02X}" for r, g, b in rgb])
    hits = np.isin(hexes, list(COLOURS.values()))
    return float(hits.mean()), len(set(hexes[hits]))


@pytest.mark.heavy
def test_the_web_editor_finds_runs_and_maps_the_crop_chain(server, editor_url, tmp_path):
    assert CHROMIUM.exists(), "Debian's chromium is needed (the README's test command installs it)"
    assert shutil.which("node") and (JS_DIR / "node_modules" / "playwright-core").is_dir(), (
        "run `npm ci --prefix tests/js` (the README's test command does)"
    )
    proc = subprocess.run(
        [
            "node",
            str(JS_DIR / "web_editor.mjs"),
            editor_url,
            server.root,
            "alice",
            USERS["alice"],
            str(tmp_path),
            json.dumps(list(COLOURS.values())),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in report, report
    assert report["user"]
    assert report["lstmListed"] and not report["experimentalTicked"]
    assert report["serviceType"] == "XYZ"
    # The data comes last among the job's results, so the editor shows its map, not the
    # quick look.
    assert report["resultTabs"][-1] == "result.tif", report["resultTabs"]
    for name in ("direct", "batch", "xyz"):
        share, colours = _class_pixels(tmp_path / f"{name}.png")
        # The 380 m block fills a good part of the map, in several crops' colours; a blank,
        # black or one-colour map fails here.
        assert share > 0.1 and colours >= 5, (name, share, colours)
