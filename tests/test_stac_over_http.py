"""A STAC catalog over HTTP goes through the same loader as the local one, with equal results."""

from __future__ import annotations

import numpy as np
import openeo
import pytest
import rasterio

from helpers.range_http import serve_directory
from helpers.scene import TEST_BOX
from helpers.serverctl import USERS, start_server, stop_server


@pytest.fixture(scope="module")
def http_server(demo_catalog, tmp_path_factory):
    files, base = serve_directory(demo_catalog.parent)
    srv = start_server(
        tmp_path_factory.mktemp("http-server"), {"CROPCUBE_STAC_URL": f"{base}/catalog.json"}
    )
    yield srv
    stop_server(srv)
    files.shutdown()


def _ndvi(url: str, path):
    con = openeo.connect(url).authenticate_basic("alice", USERS["alice"])
    cube = con.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2022-03-01", "2022-04-01"],
        bands=["B04", "B08"],
    )
    cube.ndvi().reduce_dimension(dimension="t", reducer="median").download(path, format="GTiff")
    with rasterio.open(path) as src:
        return src.read(1), src.transform


def test_http_catalog_equals_local_catalog(http_server, server, tmp_path):
    over_http, t_http = _ndvi(http_server.url, tmp_path / "http.tif")
    local, t_local = _ndvi(server.url, tmp_path / "local.tif")
    assert t_http == t_local
    assert np.isfinite(local).mean() > 0.5
    np.testing.assert_array_equal(over_http, local)
    con = openeo.connect(http_server.url)
    assert set(con.list_collection_ids()) == {"SENTINEL2_L2A", "CROP_LABELS"}
