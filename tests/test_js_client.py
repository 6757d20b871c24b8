"""@openeo/js-client from npm, in a Node script: connect, log in, list, computeResult."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import rasterio

from helpers.reference import ndvi_stack
from helpers.scene import TEST_BOX
from helpers.serverctl import USERS

JS_DIR = Path(__file__).resolve().parent / "js"


def test_js_client_end_to_end(server, demo_catalog, tmp_path):
    assert shutil.which("node"), "Node.js is required (the README's test command installs it)"
    assert (JS_DIR / "node_modules" / "@openeo" / "js-client").is_dir(), (
        "run `npm ci --prefix tests/js` (the README's test command does)"
    )
    out = tmp_path / "js.tif"
    proc = subprocess.run(
        ["node", str(JS_DIR / "client_smoke.mjs"), server.root, "alice", USERS["alice"], str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["apiVersion"] == "1.3.0"  # well-known discovery picks the latest
    assert report["user"] == "alice" and report["bearer"] == "bare"
    assert report["collections"] == ["CROP_LABELS", "SENTINEL2_L2A"]
    assert "SCL" in report["s2Bands"] and report["hasNdvi"]
    assert report["resultType"].startswith("image/tiff")
    assert report["errorCode"] == "ProcessUnsupported"
    expected = np.nanmax(ndvi_stack(demo_catalog, "2022-06-01", "2022-07-01", TEST_BOX), axis=0)
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), expected, rtol=1e-5, atol=1e-6, equal_nan=True)
