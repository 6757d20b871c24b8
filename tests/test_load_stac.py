"""load_stac in process: a static catalog and a paged items endpoint served over HTTP on
loopback (range requests, as COG readers need), compared pixel for pixel with
load_collection; and the URLs it must refuse. Own job results: tests/test_standard_graphs.py."""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pystac
import pytest

from backend import executor
from core import errors
from core.settings import Settings
from helpers.range_http import RangeHandler
from processes.context import ExecutionContext
from sources.catalog import Catalog
from sources.safe_urls import UrlPolicy

BOX = {"west": 679720, "east": 680680, "south": 5151080, "north": 5151920, "crs": 32632}
JUNE = ["2022-06-01", "2022-06-15"]


class _Handler(RangeHandler):
    """The demo catalog's files with byte ranges (tests/range_http.py), and an OGC API
    Features `items` endpoint over the demo items (bbox and datetime filters, `limit`,
    `next` links) under /api/."""

    items: list[pystac.Item] = []
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.hits.append(self.path)
        parts = urlsplit(self.path)
        if parts.path == "/api/collections/SENTINEL2_L2A":
            return self._json(
                {
                    "type": "Collection",
                    "id": "SENTINEL2_L2A",
                    "links": [{"rel": "items", "href": "/api/collections/SENTINEL2_L2A/items"}],
                }
            )
        if parts.path == "/api/collections/SENTINEL2_L2A/items":
            return self._items(parse_qs(parts.query))
        return super().do_GET()

    def _items(self, query: dict[str, list[str]]) -> None:
        start, end = query["datetime"][0].split("/")
        found = [
            i
            for i in self.items
            if (start == ".." or start <= i.properties["datetime"])
            and (end == ".." or i.properties["datetime"] < end)
        ]
        limit, page = int(query["limit"][0]), int(query.get("page", ["0"])[0])
        base = f"http://{self.headers['Host']}"
        features = []
        for item in found[page * limit : (page + 1) * limit]:
            doc = item.to_dict()
            for asset in doc["assets"].values():
                asset["href"] = f"{base}/SENTINEL2_L2A/{item.id}/{Path(asset['href']).name}"
            features.append(doc)
        links = []
        if (page + 1) * limit < len(found):
            q = "&".join(f"{k}={v[0]}" for k, v in query.items() if k != "page")
            links.append({"rel": "next", "href": f"{self.path.split('?')[0]}?{q}&page={page + 1}"})
        self._json({"type": "FeatureCollection", "features": features, "links": links})

    def _json(self, doc: dict) -> None:
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def stac_http(demo_catalog: Path):
    _Handler.items = list(
        pystac.Catalog.from_file(str(demo_catalog)).get_child("SENTINEL2_L2A").get_items()
    )
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_Handler, directory=str(demo_catalog.parent))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def catalog(demo_catalog: Path) -> Catalog:
    return Catalog(Settings.from_env(stac_url=str(demo_catalog)))


def _run(catalog: Catalog, process: str, policy: UrlPolicy, **arguments):
    graph = {"l": {"process_id": process, "arguments": arguments, "result": True}}
    return executor.evaluate(graph, ExecutionContext(catalog, url_policy=policy))


TRUSTED = UrlPolicy(trusted_hosts=("127.0.0.1",))


@pytest.mark.parametrize(
    "path", ["/SENTINEL2_L2A/collection.json", "/catalog.json", "/api/collections/SENTINEL2_L2A"]
)
def test_load_stac_equals_load_collection(catalog, stac_http, path):
    _Handler.hits.clear()
    args = {"spatial_extent": BOX, "temporal_extent": JUNE, "bands": ["B04", "B8A", "SCL"]}
    got = _run(catalog, "load_stac", TRUSTED, url=stac_http + path, **args).compute()
    want = _run(catalog, "load_collection", TRUSTED, id="SENTINEL2_L2A", **args).compute()
    assert got.dims == want.dims and got.shape == want.shape and got.sizes["t"] == 6
    np.testing.assert_array_equal(got["t"].values, want["t"].values)
    assert list(got["bands"].values) == ["B04", "B8A", "SCL"]
    np.testing.assert_allclose(got.values, want.values, equal_nan=True)
    if path.startswith("/api"):  # the API filtered and paged (limit 100: one page here)
        assert any("datetime=2022-06-01" in h for h in _Handler.hits)


def test_load_stac_item_and_common_names(catalog, stac_http):
    item = "S2A_32TPS_20220601_0_L2A"
    cube = _run(
        catalog,
        "load_stac",
        TRUSTED,
        spatial_extent=BOX,
        bands=["red", "nir08"],
        url=f"{stac_http}/SENTINEL2_L2A/{item}/{item}.json",
    ).compute()
    assert cube.sizes["t"] == 1 and str(cube["t"].values[0])[:10] == "2022-06-01"
    assert list(cube["bands"].values) == ["B04", "B8A"]
    assert 0 < float(cube.sel(bands="B04").mean()) < 0.5  # reflectance, scale and offset applied


def test_load_stac_no_items_in_the_extent(catalog, stac_http):
    with pytest.raises(errors.NoDataAvailable):
        _run(
            catalog,
            "load_stac",
            TRUSTED,
            url=f"{stac_http}/SENTINEL2_L2A/collection.json",
            temporal_extent=["2030-01-01", "2030-02-01"],
        )


@pytest.mark.parametrize(
    "why, url, policy",
    [
        ("loopback by default", "/SENTINEL2_L2A/collection.json", UrlPolicy()),
        (
            "host not in the allowed list",
            "/catalog.json",
            UrlPolicy(allowed_hosts=("stac.example.org",)),
        ),
        ("not STAC", "/SENTINEL2_L2A/S2A_32TPS_20220601_0_L2A/B04.tif", TRUSTED),
        ("missing document", "/nothing.json", TRUSTED),
    ],
)
def test_load_stac_refuses_urls(catalog, stac_http, why, url, policy):
    with pytest.raises(errors.ProcessParameterInvalid) as caught:
        _run(catalog, "load_stac", policy, url=stac_http + url)
    text = caught.value.message
    assert "'url'" in text and "load_stac" in text, why
    assert "Traceback" not in text and "II*" not in text


def test_load_stac_refuses_assets_on_private_hosts(catalog, stac_http):
    """Only the trusted name is trusted (localhost is not), and a trusted catalog may still
    not point its assets at a private address."""
    item = _Handler.items[0].id
    with pytest.raises(errors.ProcessParameterInvalid) as caught:
        _run(
            catalog,
            "load_stac",
            UrlPolicy(trusted_hosts=("127.0.0.1",)),
            url=f"{stac_http}/api/collections/SENTINEL2_L2A".replace("127.0.0.1", "localhost"),
        )
    assert "not allowed" in caught.value.message
    doc = json.loads((Path(_Handler.items[0].get_self_href())).read_text())
    doc["assets"]["B04"]["href"] = "http://10.1.2.3/B04.tif"
    served = Path(_Handler.items[0].get_self_href()).parent.parent / "private.json"
    served.write_text(json.dumps(doc))
    try:
        with pytest.raises(errors.ProcessParameterInvalid) as caught:
            _run(catalog, "load_stac", TRUSTED, url=f"{stac_http}/SENTINEL2_L2A/private.json")
    finally:
        served.unlink()
    assert f"item {item} has an asset at a URL that is not allowed" in caught.value.message


def test_load_stac_url_must_be_http(catalog, demo_catalog):
    with pytest.raises(errors.ProcessParameterInvalid) as caught:
        _run(catalog, "load_stac", TRUSTED, url=f"file://{demo_catalog}")
    assert "'url'" in caught.value.message
