"""@openeo/js-client from npm, in a Node script: connect, log in, list, computeResult."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

from helpers.reference import ndvi_stack
from helpers.scene import TEST_BOX
from helpers.serverctl import USERS

JS_DIR = Path(__file__).resolve().parent / "js"


@pytest.mark.parametrize(
    ("where", "version", "bearer"),
    [("root", "1.3.0", "bare"), ("/openeo/1.2", "1.2.0", "prefixed")],
    ids=["discovered-1.3", "1.2"],
)
def test_js_client_end_to_end(server, demo_catalog, tmp_path, where, version, bearer):
    """From the server's root, well-known discovery picks 1.3 (tokens go bare, as its JWT
    conformance class says); from 1.2's URL, the prefixed tokens of 1.2."""
    assert shutil.which("node"), "Node.js is required (the README's test command installs it)"
    assert (JS_DIR / "node_modules" / "@openeo" / "js-client").is_dir(), (
        "run `npm ci --prefix tests/js` (the README's test command does)"
    )
    out = tmp_path / "js.tif"
    proc = subprocess.run(
        [
            "node",
            str(JS_DIR / "client_smoke.mjs"),
            server.root if where == "root" else server.root + where,
            "alice",
            USERS["alice"],
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["apiVersion"] == version
    assert report["user"] == "alice" and report["bearer"] == bearer
    assert report["collections"] == ["CROP_LABELS", "SENTINEL2_L2A"]
    assert "SCL" in report["s2Bands"] and report["hasNdvi"]
    assert report["resultType"].startswith("image/tiff")
    assert report["errorCode"] == "ProcessUnsupported"
    expected = np.nanmax(ndvi_stack(demo_catalog, "2022-06-01", "2022-07-01", TEST_BOX), axis=0)
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), expected, rtol=1e-5, atol=1e-6, equal_nan=True)
