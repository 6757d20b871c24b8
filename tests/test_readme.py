"""The README's Python example runs as written against a real server and writes an NDVI COG."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import rasterio

from helpers.serverctl import USERS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_ndvi_example(server, tmp_path, monkeypatch):
    text = README.read_text()
    block = re.search(r"<!-- ndvi-example.*?-->\n```python\n(.*?)```", text, re.S).group(1)
    assert 'con = openeo.connect("http://127.0.0.1:8080")' in block
    code = block.replace("http://127.0.0.1:8080", server.root).replace(
        'authenticate_basic("demo", "demo")', f'authenticate_basic("alice", "{USERS["alice"]}")'
    )
    assert len(block.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    with rasterio.open(tmp_path / "ndvi.tif") as src:
        assert src.crs.to_epsg() == 32632 and src.shape == (84, 96)
        ndvi = src.read(1)
    finite = ndvi[np.isfinite(ndvi)]
    assert finite.size > 0.9 * ndvi.size and finite.min() >= -1 and finite.max() <= 1
    assert finite.mean() > 0.3  # June farmland is green
