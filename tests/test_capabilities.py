"""Discovery documents, CORS and the endpoints list, as clients and browsers see them."""

from __future__ import annotations

import requests
from pyproj import Transformer


def test_well_known_and_capabilities(server):
    versions = requests.get(f"{server.root}/.well-known/openeo", timeout=30).json()["versions"]
    assert versions == [{"url": f"{server.url}/", "api_version": "1.2.0", "production": False}]
    caps = requests.get(f"{server.url}/", timeout=30).json()
    assert caps["api_version"] == "1.2.0" and caps["id"] == "cropcube"
    assert caps["stac_version"] and caps["backend_version"] and caps["title"]
    endpoints = {e["path"]: set(e["methods"]) for e in caps["endpoints"]}
    assert endpoints["/result"] == {"POST"}
    assert endpoints["/collections/{collection_id}"] == {"GET"}
    # Every listed endpoint answers with something other than 404/405.
    for path, methods in endpoints.items():
        url = server.url + path.replace("{collection_id}", "SENTINEL2_L2A")
        for method in methods:
            r = requests.request(method, url, timeout=60)
            assert r.status_code not in (404, 405), (method, path, r.status_code)


def test_file_formats_udf_runtimes_service_types(server):
    formats = requests.get(f"{server.url}/file_formats", timeout=30).json()
    assert {"GTiff", "netCDF", "JSON"} <= set(formats["output"])
    assert "compression" in formats["output"]["GTiff"]["parameters"]
    assert requests.get(f"{server.url}/udf_runtimes", timeout=30).json() == {}
    assert requests.get(f"{server.url}/service_types", timeout=30).json() == {}
    conf = requests.get(f"{server.url}/conformance", timeout=30).json()
    assert "https://api.openeo.org/1.2.0" in conf["conformsTo"]


def test_cors_on_every_response_and_preflight(server):
    for url in (f"{server.url}/", f"{server.url}/nowhere", f"{server.url}/me"):
        r = requests.get(url, timeout=30)
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        exposed = r.headers["Access-Control-Expose-Headers"]
        for h in ("Location", "OpenEO-Identifier", "OpenEO-Costs", "Link"):
            assert h in exposed
    r = requests.options(f"{server.url}/result", headers={
        "Origin": "https://editor.openeo.org", "Access-Control-Request-Method": "POST"},
        timeout=30)
    assert r.status_code == 204
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"


def test_collection_documents(server):
    coll = requests.get(f"{server.url}/collections/SENTINEL2_L2A", timeout=30).json()
    assert coll["id"] == "SENTINEL2_L2A" and coll["stac_version"]
    dims = coll["cube:dimensions"]
    assert set(dims) == {"x", "y", "t", "bands"}
    assert dims["t"]["type"] == "temporal"
    assert coll["extent"]["temporal"]["interval"][0][0].startswith("2021-09-01")
    assert coll["extent"]["temporal"]["interval"][0][1] >= "2022-12-27"
    west, south, east, north = coll["extent"]["spatial"]["bbox"][0]
    lon, lat = Transformer.from_crs(32632, 4326, always_xy=True).transform(680200, 5151500)
    assert west < lon < east and south < lat < north  # the test suite's box near Bolzano
    gsd = {b["name"]: b["gsd"] for b in coll["summaries"]["eo:bands"]}
    assert gsd["B04"] == 10 and gsd["B11"] == 20
    q = requests.get(f"{server.url}/collections/SENTINEL2_L2A/queryables", timeout=30)
    assert q.headers["Content-Type"].startswith("application/schema+json")
    assert "eo:cloud_cover" in q.json()["properties"]
    labels = requests.get(f"{server.url}/collections/CROP_LABELS", timeout=30).json()
    assert set(labels["cube:dimensions"]) == {"x", "y", "bands"}


def test_unknown_top_level_fields_are_ignored(server, auth_headers):
    body = {"process": {"process_graph": {"a": {"process_id": "multiply",
                                                "arguments": {"x": 6, "y": 7}, "result": True}}},
            "plan": None, "budget": None, "log_level": "info", "something_new": {"x": 1}}
    r = requests.post(f"{server.url}/result", json=body, headers=auth_headers, timeout=30)
    assert r.status_code == 200 and r.json() == 42
    assert r.headers["Content-Type"].startswith("application/json")
