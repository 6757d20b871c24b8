"""A STAC API behind load_collection: stac-fastapi-pgstac on PostgreSQL + PostGIS, loaded
with the demo items, against the same items as a static catalog. A year of items needs
many pages of the API; every page must arrive, and the cube must be the same."""

from __future__ import annotations

import datetime as dt

import numpy as np
import openeo
import pytest
import rasterio

from helpers.range_http import serve_directory
from helpers.scene import TEST_BOX
from helpers.serverctl import USERS, start_server, stop_server
from helpers.stac_api import stac_api
from sources.stac_source import StacSource

YEAR = ["2021-09-01", "2022-09-01"]


@pytest.fixture(scope="module")
def api(demo_catalog, tmp_path_factory):
    files, base = serve_directory(demo_catalog.parent)  # the COGs, as an object store
    try:
        with stac_api(demo_catalog, tmp_path_factory.mktemp("stac-api"), base) as (url, n):
            yield url, n, base
    finally:
        files.shutdown()


@pytest.fixture(scope="module")
def api_server(api, tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("api-server"), {"CROPCUBE_STAC_URL": api[0]})
    yield srv
    stop_server(srv)


def test_a_year_of_items_arrives_over_many_pages(api, demo_catalog):
    url, count, base = api
    bbox = (11.0, 46.0, 12.0, 47.0)
    start, end = (dt.datetime.fromisoformat(d).replace(tzinfo=dt.UTC) for d in YEAR)
    source = StacSource(url, page_size=20)
    found = source.search("SENTINEL2_L2A", bbox, start, end)
    static = StacSource(str(demo_catalog)).search("SENTINEL2_L2A", bbox, start, end)
    assert len(found) > 100 and count > len(found)
    assert sorted(i.id for i in found) == sorted(i.id for i in static)
    pages = source.pages_read
    assert pages >= len(found) / 20  # 20 a page: every page was followed
    again = source.search("SENTINEL2_L2A", bbox, start, end)
    assert [i.id for i in again] == [i.id for i in found] and source.pages_read == pages
    source.cache_s = 0  # the cache expired: the API is asked again
    source.search("SENTINEL2_L2A", bbox, start, end)
    assert source.pages_read == 2 * pages
    root = demo_catalog.parent.as_posix()
    first = {i.id: i for i in static}
    for item in found:  # the same assets, through the database, on the object store
        href = first[item.id].assets["B04"].get_absolute_href()
        assert item.assets["B04"].href == href.replace(root, base)


def _year_labels_and_ndvi(url: str, path):
    con = openeo.connect(url).authenticate_basic("alice", USERS["alice"])
    cube = con.load_collection(
        "SENTINEL2_L2A", spatial_extent=TEST_BOX, temporal_extent=YEAR, bands=["B04", "B08"]
    )
    labels = cube.process("dimension_labels", data=cube, dimension="t").execute()
    cube.ndvi().reduce_dimension(dimension="t", reducer="median").download(path, format="GTiff")
    with rasterio.open(path) as src:
        return labels, src.read(1), src.transform


def test_load_collection_over_the_api_equals_the_static_catalog(api_server, server, tmp_path):
    labels, ndvi, transform = _year_labels_and_ndvi(api_server.url, tmp_path / "api.tif")
    labels_static, ndvi_static, transform_static = _year_labels_and_ndvi(
        server.url, tmp_path / "static.tif"
    )
    assert len(labels) > 100 and labels == labels_static
    assert transform == transform_static
    np.testing.assert_array_equal(ndvi, ndvi_static)


def test_collection_metadata_comes_from_the_api(api_server):
    con = openeo.connect(api_server.url)
    assert "SENTINEL2_L2A" in con.list_collection_ids()
    extent = con.describe_collection("SENTINEL2_L2A")["extent"]["temporal"]["interval"][0]
    assert extent[0].startswith("2021-09-01")
