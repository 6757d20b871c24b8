"""The openEO Web Editor 0.15.1 (../shared/openeo-web-editor) in headless Chromium against a
real server: the crop processes are found without ticking "experimental", and the crop chain
draws its class map when run directly, as a batch job and as an XYZ service; a float result
(NDVI maximum) is drawn stretched, directly and from a batch job."""

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
from helpers.jobs import ndvi_graph
from helpers.serverctl import USERS
from helpers.shared import shared_path

JS_DIR = Path(__file__).resolve().parent / "js"
CHROMIUM = Path("/usr/bin/chromium")


class _Handler(SimpleHTTPRequestHandler):
    """The editor's files, and under /graphs/ the graphs the test opens in it."""

    graphs: Path

    def translate_path(self, path: str) -> str:
        if path.startswith("/graphs/"):
            return str(self.graphs / Path(path).name)
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the signature of the base class
        pass


@pytest.fixture(scope="module")
def editor_url(tmp_path_factory):
    """The built editor, served from its folder on a free loopback port."""
    graphs = tmp_path_factory.mktemp("graphs")
    (graphs / "ndvi_max.json").write_text(json.dumps({"process_graph": ndvi_graph()}))
    handler = type("Handler", (_Handler,), {"graphs": graphs})
    serve = functools.partial(handler, directory=str(shared_path("openeo-web-editor")))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), serve)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)


def _class_pixels(path: Path) -> tuple[float, int]:
    """The share of a screenshot's pixels that have a class colour, and how many colours."""
    rgb = _pixels(path)
    hexes = np.array([f"{r:02X}{g:02X}{b:02X}" for r, g, b in rgb])
    hits = np.isin(hexes, list(COLOURS.values()))
    return float(hits.mean()), len(set(hexes[hits]))


def _grey_pixels(path: Path) -> tuple[float, int]:
    """The share of a screenshot's pixels that are grey (neither white nor black), and how
    many grey levels: a stretched single band."""
    rgb = _pixels(path).astype(int)
    grey = (rgb.max(axis=1) - rgb.min(axis=1) <= 2) & (rgb[:, 0] > 5) & (rgb[:, 0] < 250)
    return float(grey.mean()), len(np.unique(rgb[grey, 0]))


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
            f"{editor_url}/graphs/ndvi_max.json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in report, (report["error"], report)
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
    # NDVI maximum, a float GTiff: drawn in greys from the file's (or STAC's) statistics, not
    # a white map or a black square.
    for name in ("ndvi_direct", "ndvi_batch"):
        share, levels = _grey_pixels(tmp_path / f"{name}.png")
        assert share > 0.1 and levels >= 30, (name, share, levels)
