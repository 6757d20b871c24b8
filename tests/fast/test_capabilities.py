"""Discovery documents, CORS and the endpoints list, as clients and browsers read them."""

from __future__ import annotations

from pyproj import Transformer

API = "/openeo/1.2"


def test_well_known_and_capabilities(client):
    versions = client.get("/.well-known/openeo").json["versions"]
    assert versions == [
        {"url": "http://localhost/openeo/1.2/", "api_version": "1.2.0", "production": False},
        {"url": "http://localhost/openeo/1.3/", "api_version": "1.3.0", "production": False},
    ]
    for prefix, version in (("/openeo/1.2", "1.2.0"), ("/openeo/1.3", "1.3.0")):
        caps = client.get(f"{prefix}/").json
        assert caps["api_version"] == version and caps["id"] == "cropcube"
        assert caps["stac_version"] and caps["backend_version"] and caps["title"]
        assert caps["type"] == "Catalog"
        assert f"https://api.openeo.org/{version}" in caps["conformsTo"]
        assert caps["conformsTo"] == client.get(f"{prefix}/conformance").json["conformsTo"]
        links = {link["rel"]: link["href"] for link in caps["links"]}
        assert links["self"] == f"http://localhost{prefix}/"
        assert links["web-editor"] == "https://editor.openeo.org/?server=http%3A%2F%2Flocalhost"
        endpoints = {e["path"]: set(e["methods"]) for e in caps["endpoints"]}
        assert endpoints["/result"] == {"POST"}
        assert endpoints["/collections/{collection_id}"] == {"GET"}
        # Every listed endpoint answers with something other than 404/405.
        for path, methods in endpoints.items():
            url = prefix + path.replace("{collection_id}", "SENTINEL2_L2A")
            for method in methods:
                r = client.open(url, method=method)
                assert r.status_code not in (404, 405), (method, path, r.status_code)
    # Both versions list the same endpoints; 1.3 adds bare (JWT) bearer tokens.
    assert client.get(f"{API}/").json["endpoints"] == client.get("/openeo/1.3/").json["endpoints"]
    jwt_class = "https://api.openeo.org/1.3.0/authentication/jwt"
    assert jwt_class in client.get("/openeo/1.3/conformance").json["conformsTo"]
    assert jwt_class not in client.get(f"{API}/conformance").json["conformsTo"]


def test_file_formats_udf_runtimes_service_types(client):
    formats = client.get(f"{API}/file_formats").json
    assert {"GTiff", "netCDF", "JSON", "PNG", "GeoJSON", "CSV"} <= set(formats["output"])
    assert "compression" in formats["output"]["GTiff"]["parameters"]
    python = client.get(f"{API}/udf_runtimes").json["Python"]
    assert python["type"] == "language" and python["default"] in python["versions"]
    libraries = python["versions"][python["default"]]["libraries"]
    wanted = {"numpy", "xarray", "pandas", "scipy", "torch", "onnxruntime", "openeo"}
    assert wanted <= set(libraries)
    assert all(lib["version"][0].isdigit() for lib in libraries.values())
    xyz = client.get(f"{API}/service_types").json["XYZ"]
    assert set(xyz["configuration"]) == {"band", "rescale"} and xyz["process_parameters"] == []
    conf = client.get(f"{API}/conformance").json
    assert "https://api.openeo.org/1.2.0" in conf["conformsTo"]


def test_cors_on_every_response_and_preflight(client):
    for url in (f"{API}/", f"{API}/nowhere", f"{API}/me"):
        r = client.get(url)
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        exposed = r.headers["Access-Control-Expose-Headers"]
        for h in ("Location", "OpenEO-Identifier", "OpenEO-Costs", "Link"):
            assert h in exposed
    r = client.options(
        f"{API}/result",
        headers={"Origin": "https://editor.openeo.org", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 204
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"


def test_collection_documents(client):
    coll = client.get(f"{API}/collections/SENTINEL2_L2A").json
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
    q = client.get(f"{API}/collections/SENTINEL2_L2A/queryables")
    assert q.headers["Content-Type"].startswith("application/schema+json")
    assert "eo:cloud_cover" in q.json["properties"]
    labels = client.get(f"{API}/collections/CROP_LABELS").json
    assert set(labels["cube:dimensions"]) == {"x", "y", "bands"}


def test_process_list_is_what_the_specs_say(client):
    listed = client.get(f"{API}/processes").json["processes"]
    ids = [p["id"] for p in listed]
    assert len(ids) == len(set(ids)) and {
        "monthly_composite",
        "lstm_classify",
        "ndvi_forecast",
        "unet_segment",
    } <= set(ids)
    for spec in listed:
        assert spec["description"] and "returns" in spec and "parameters" in spec, spec["id"]


def test_unknown_top_level_fields_are_ignored(client, alice_headers):
    body = {
        "process": {
            "process_graph": {
                "a": {"process_id": "multiply", "arguments": {"x": 6, "y": 7}, "result": True}
            }
        },
        "plan": None,
        "budget": None,
        "log_level": "info",
        "something_new": {"x": 1},
    }
    r = client.post(f"{API}/result", json=body, headers=alice_headers)
    assert r.status_code == 200 and r.json == 42
    assert r.headers["Content-Type"].startswith("application/json")


def test_crop_processes_are_listed_by_default_with_examples_a_client_can_load(client):
    """The Web Editor hides experimental processes; its process pages link example graphs."""
    specs = {p["id"]: p for p in client.get(f"{API}/processes").json["processes"]}
    for pid in ("monthly_composite", "lstm_classify", "ndvi_forecast", "unet_segment"):
        spec = specs[pid]
        assert not spec.get("experimental") and "crop mapping" in spec["categories"], pid
        examples = [link for link in spec["links"] if link["rel"] == "example"]
        assert examples, pid
        for link in examples:
            assert link["href"].startswith(f"http://localhost{API}/process_examples/")
            graph = client.get(link["href"].removeprefix("http://localhost")).json
            assert pid in {n["process_id"] for n in graph["process_graph"].values()}
            r = client.post(f"{API}/validation", json={"process_graph": graph["process_graph"]})
            assert r.json["errors"] == [], (link["href"], r.json)
    r = client.get(f"{API}/process_examples/nothing.json")
    assert (r.status_code, r.json["code"]) == (404, "NotFound")
