"""Standard graphs through a real server: every result shape in every format that can hold
it, per-parcel time series from aggregate_spatial, the R client's reducers, URLs that must
not reach the server's own network, and graphs too large or too deep."""

from __future__ import annotations

import csv
import http.server
import io
import json
import threading

import numpy as np
import pyproj
import pytest
import rasterio
import requests
import shapely.geometry
import shapely.ops
import xarray as xr
from rasterio.features import geometry_mask

from helpers.scene import TEST_BOX
from helpers.serverctl import USERS

SMALL = {"west": 679720, "east": 679920, "south": 5151080, "north": 5151280, "crs": 32632}
JUNE = ["2022-06-01", "2022-06-20"]


def _post(server, auth_headers, graph: dict) -> requests.Response:
    return requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": graph}},
        headers=auth_headers,
        timeout=120,
    )


def _load(box=SMALL) -> dict:
    return {
        "process_id": "load_collection",
        "arguments": {
            "id": "SENTINEL2_L2A",
            "spatial_extent": box,
            "temporal_extent": JUNE,
            "bands": ["B04", "B08"],
        },
    }


def _reduce(node: str, dim: str) -> dict:
    return {
        "process_id": "reduce_dimension",
        "arguments": {
            "data": {"from_node": node},
            "dimension": dim,
            "reducer": {
                "process_graph": {
                    "m": {
                        "process_id": "max",
                        "arguments": {"data": {"from_parameter": "data"}},
                        "result": True,
                    }
                }
            },
        },
    }


def _shape_graph(reduced: list[str], fmt: str) -> dict:
    graph, prev = {"lc": _load()}, "lc"
    for i, dim in enumerate(reduced):
        graph[f"r{i}"] = _reduce(prev, dim)
        prev = f"r{i}"
    graph["save"] = {
        "process_id": "save_result",
        "arguments": {"data": {"from_node": prev}, "format": fmt},
        "result": True,
    }
    return graph


SHAPES = {"t-bands": [], "bands": ["t"], "t": ["bands"], "neither": ["t", "bands"]}
# (shape, format) -> the number of values per pixel the file must hold, or None: refused
# (JUNE holds 8 dates: 2A and 2B over two tracks; 2 bands)
EXPECTED = {
    "GTiff": {"t-bands": 16, "bands": 2, "t": 8, "neither": 1},
    "netCDF": {"t-bands": 16, "bands": 2, "t": 8, "neither": 1},
    "JSON": {"t-bands": 16, "bands": 2, "t": 8, "neither": 1},
    "GeoJSON": dict.fromkeys(SHAPES),
    "CSV": dict.fromkeys(SHAPES),
}


def _values_per_pixel(fmt: str, content: bytes, tmp_path) -> int:
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(content)
    if fmt == "GTiff":
        with rasterio.open(path) as src:
            assert src.width == src.height == 20
            return src.count
    if fmt == "netCDF":
        ds = xr.open_dataset(path)
        n = sum(
            int(np.prod([ds[v].sizes[d] for d in ds[v].dims if d not in ("x", "y")]))
            for v in ds.data_vars
            if {"x", "y"} <= set(ds[v].dims)
        )
        ds.close()
        return n
    doc = json.loads(content)
    assert doc["dims"][-2:] == ["y", "x"]
    return int(np.prod(np.shape(doc["data"])[:-2]))


@pytest.mark.parametrize("fmt", list(EXPECTED))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_result_shape_in_every_format(server, auth_headers, tmp_path, shape, fmt):
    r = _post(server, auth_headers, _shape_graph(SHAPES[shape], fmt))
    want = EXPECTED[fmt][shape]
    if want is None:
        assert r.status_code == 400 and r.json()["code"] == "FormatUnsupported", r.text
        return
    assert r.status_code == 200, r.text
    assert _values_per_pixel(fmt, r.content, tmp_path) == want


def _parcel(west, south, east, north) -> dict:
    tr = pyproj.Transformer.from_crs(32632, 4326, always_xy=True)
    (x0, x1), (y0, y1) = tr.transform([west, east], [south, north])
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


PARCELS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "a"},
            "geometry": _parcel(679800, 5151100, 680000, 5151300),
        },
        {
            "type": "Feature",
            "properties": {"name": "b"},
            "geometry": _parcel(680200, 5151500, 680400, 5151700),
        },
    ],
}


def _timeseries(fmt: str, geometries=PARCELS) -> dict:
    return {
        "lc": _load(TEST_BOX),
        "agg": {
            "process_id": "aggregate_spatial",
            "arguments": {
                "data": {"from_node": "lc"},
                "geometries": geometries,
                "reducer": {
                    "process_graph": {
                        "m": {
                            "process_id": "mean",
                            "arguments": {"data": {"from_parameter": "data"}},
                            "result": True,
                        }
                    }
                },
            },
        },
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "agg"}, "format": fmt},
            "result": True,
        },
    }


@pytest.fixture(scope="module")
def parcel_truth(server, demo_catalog, tmp_path_factory):
    """Mean B04/B08 per parcel and date, from the GTiff of the same cube with numpy."""
    import openeo

    from helpers.serverctl import USERS

    con = openeo.connect(server.url).authenticate_basic("alice", USERS["alice"])
    path = tmp_path_factory.mktemp("truth") / "cube.tif"
    con.load_collection(
        "SENTINEL2_L2A", spatial_extent=TEST_BOX, temporal_extent=JUNE, bands=["B04", "B08"]
    ).download(path, format="GTiff")
    with rasterio.open(path) as src:
        stack, transform, names = src.read(), src.transform, src.descriptions
    to_utm = pyproj.Transformer.from_crs(4326, 32632, always_xy=True).transform
    means = {}
    for i, feature in enumerate(PARCELS["features"]):
        polygon = shapely.ops.transform(to_utm, shapely.geometry.shape(feature["geometry"]))
        inside = geometry_mask([polygon], stack.shape[1:], transform, invert=True)
        means[i] = dict(zip(names, np.nanmean(stack[:, inside], axis=1), strict=True))
    return means


def test_parcel_time_series_as_json_geojson_csv_and_netcdf(
    server, auth_headers, parcel_truth, tmp_path
):
    r = _post(server, auth_headers, _timeseries("GeoJSON"))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/geo+json")
    features = r.json()["features"]
    assert len(features) == 2
    lon = features[0]["geometry"]["coordinates"][0][0][0]
    assert 11 < lon < 12  # WGS 84, as GeoJSON requires
    for i, feature in enumerate(features):
        for key, want in parcel_truth[i].items():  # "2022-06-03 B04" -> "2022-06-03T..Z B04"
            got = [
                v
                for k, v in feature["properties"].items()
                if k.startswith(key.split()[0]) and k.endswith(key.split()[1])
            ]
            assert got and got[0] == pytest.approx(want, rel=1e-4, abs=1e-5), key

    r = _post(server, auth_headers, _timeseries("CSV"))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[0].keys() == {"feature_index", "t", "B04", "B08"}
    assert len(rows) == 2 * len(parcel_truth[0]) // 2
    first = [row for row in rows if row["feature_index"] == "1"][0]
    want = [
        v for k, v in parcel_truth[1].items() if k.startswith(first["t"][:19]) and k.endswith("B08")
    ]
    assert float(first["B08"]) == pytest.approx(want[0], rel=1e-4)

    r = _post(server, auth_headers, _timeseries("JSON"))
    doc = r.json()
    assert doc["dims"] == ["geometry", "t", "bands"] and doc["crs"] == "EPSG:4326"
    assert np.shape(doc["data"]) == (2, len(parcel_truth[0]) // 2, 2)

    r = _post(server, auth_headers, _timeseries("netCDF"))
    assert r.status_code == 200
    (tmp_path / "ts.nc").write_bytes(r.content)
    ds = xr.open_dataset(tmp_path / "ts.nc")
    assert ds.attrs["Conventions"] == "CF-1.8" and ds["B04"].dims == ("geometry", "t")
    assert "geometry_container" in ds.variables or any(
        "geometry_type" in ds[v].attrs for v in ds.variables
    )
    ds.close()

    r = _post(server, auth_headers, _timeseries("GTiff"))
    assert r.status_code == 400 and r.json()["code"] == "FormatUnsupported"


def test_parcel_time_series_in_a_batch_job(connection, tmp_path, parcel_truth):
    job = connection.create_job({"process_graph": _timeseries("CSV")}, title="parcels")
    job.start_and_wait(max_poll_interval=1)
    out = job.get_results().download_files(tmp_path)
    rows = list(csv.DictReader(open([p for p in out if p.suffix == ".csv"][0])))
    assert len({row["feature_index"] for row in rows}) == 2


@pytest.mark.parametrize("fmt", ["GTiff", "netCDF"])
def test_load_stac_reads_the_users_own_job_results(server, connection, tmp_path, fmt):
    """A finished job's results (time laid into bands in a GeoTIFF, a variable per band in
    netCDF) come back as the cube that was saved; another user's job is not found."""
    import openeo

    cube = connection.load_collection(
        "SENTINEL2_L2A", spatial_extent=SMALL, temporal_extent=JUNE, bands=["B04", "B08"]
    )
    job = cube.save_result(fmt).create_job(title="to reuse")
    job.start_and_wait(max_poll_interval=1)
    url = f"{server.url}/jobs/{job.job_id}/results"
    # the client's load_stac reads the URL itself (without the token) for metadata
    again = connection.datacube_from_process(
        "load_stac", url=url, bands=["B08"], temporal_extent=["2022-06-03", "2022-06-10"]
    )
    got = tmp_path / "again.nc"
    again.download(got, format="netCDF")
    direct = tmp_path / "direct.nc"
    connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=SMALL,
        temporal_extent=["2022-06-03", "2022-06-10"],
        bands=["B08"],
    ).download(direct, format="netCDF")
    with xr.open_dataset(got) as a, xr.open_dataset(direct) as b:
        assert a.sizes["t"] == b.sizes["t"] == 3
        np.testing.assert_array_equal(a["t"].values, b["t"].values)
        np.testing.assert_allclose(a["B08"].values, b["B08"].values, rtol=1e-6)
    bob = openeo.connect(server.url).authenticate_basic("bob", USERS["bob"])
    with pytest.raises(openeo.rest.OpenEoApiError) as caught:
        bob.datacube_from_process("load_stac", url=url).download(
            tmp_path / "theirs.nc", format="netCDF"
        )
    assert caught.value.http_status_code == 400 and "no job" in caught.value.message


def test_reducers_as_the_r_client_writes_them(server, auth_headers, tmp_path):
    """max(data) in the R client sends "data": [{"from_parameter": "data"}]."""
    outputs = []
    for data in ({"from_parameter": "data"}, [{"from_parameter": "data"}]):
        graph = _shape_graph(["t"], "GTiff")
        graph["r0"]["arguments"]["reducer"]["process_graph"]["m"]["arguments"]["data"] = data
        assert not requests.post(
            f"{server.url}/validation",
            headers=auth_headers,
            json={"process_graph": graph},
            timeout=60,
        ).json()["errors"]
        r = _post(server, auth_headers, graph)
        assert r.status_code == 200, r.text
        (tmp_path / "r.tif").write_bytes(r.content)
        with rasterio.open(tmp_path / "r.tif") as src:
            outputs.append(src.read())
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_apply_dimension_makes_new_bands_with_array_create(connection, tmp_path):
    """One band in, three out: array_create of band math in apply_dimension over bands
    (a 500 before: the new axis came first, where y was), then rename_labels."""
    from openeo.processes import array_create

    labels = connection.load_collection("CROP_LABELS", spatial_extent=SMALL)
    stack = labels.apply_dimension(
        dimension="bands", process=lambda x: array_create([x[0] == 1, x[0] == 16, x[0] * 2])
    ).rename_labels("bands", ["grass", "forest", "double"])
    stack.download(tmp_path / "s.nc", format="netCDF")
    labels.download(tmp_path / "l.nc", format="netCDF")
    with xr.open_dataset(tmp_path / "s.nc") as made, xr.open_dataset(tmp_path / "l.nc") as raw:
        assert {"grass", "forest", "double"} <= set(made.data_vars)
        ids = raw["class"].values
        np.testing.assert_array_equal(made["grass"].values, ids == 1)
        np.testing.assert_array_equal(made["forest"].values, ids == 16)
        np.testing.assert_array_equal(made["double"].values, ids * 2)


def test_a_wrong_type_is_a_400_that_validation_predicts(server, auth_headers):
    graph = {"a": {"process_id": "absolute", "arguments": {"x": "abc"}, "result": True}}
    found = requests.post(
        f"{server.url}/validation", json={"process_graph": graph}, headers=auth_headers, timeout=30
    ).json()["errors"]
    assert [e["code"] for e in found] == ["ProcessParameterInvalid"]
    r = _post(server, auth_headers, graph)
    assert r.status_code == 400 and r.json()["code"] == "ProcessParameterInvalid"
    assert "'x'" in r.json()["message"] and "Traceback" not in r.text


def test_nulls_come_back_as_json_null(server, auth_headers):
    graph = {
        "a": {
            "process_id": "array_apply",
            "arguments": {
                "data": [1, None, -3],
                "process": {
                    "process_graph": {
                        "abs": {
                            "process_id": "absolute",
                            "arguments": {"x": {"from_parameter": "x"}},
                            "result": True,
                        }
                    }
                },
            },
            "result": True,
        }
    }
    r = _post(server, auth_headers, graph)
    assert r.status_code == 200 and r.json() == [1, None, 3]


def test_big_and_deep_graphs(server, auth_headers):
    chain = {"n0": {"process_id": "add", "arguments": {"x": 0, "y": 1}}}
    for i in range(1, 2000):
        chain[f"n{i}"] = {
            "process_id": "add",
            "arguments": {"x": {"from_node": f"n{i - 1}"}, "y": 1},
        }
    chain["n1999"]["result"] = True
    r = _post(server, auth_headers, chain)
    assert r.status_code == 200 and r.json() == 2000

    wide = {f"n{i}": {"process_id": "add", "arguments": {"x": i, "y": 1}} for i in range(5000)}
    wide["n4999"]["result"] = True
    r = _post(server, auth_headers, wide)
    assert r.status_code == 200 and r.json() == 5000

    huge = {f"n{i}": {"process_id": "add", "arguments": {"x": i, "y": 1}} for i in range(20000)}
    huge["n0"]["result"] = True
    r = _post(server, auth_headers, huge)
    assert r.status_code == 400 and r.json()["code"] == "ProcessGraphComplexity"

    deep: dict = {
        "x": {"process_id": "absolute", "arguments": {"x": {"from_parameter": "x"}}, "result": True}
    }
    for _ in range(200):
        deep = {
            "a": {
                "process_id": "array_apply",
                "arguments": {"data": [1], "process": {"process_graph": deep}},
                "result": True,
            }
        }
    for url in (f"{server.url}/result", f"{server.url}/validation"):
        body = (
            {"process": {"process_graph": deep}}
            if url.endswith("result")
            else {"process_graph": deep}
        )
        r = requests.post(url, json=body, headers=auth_headers, timeout=60)
        codes = (
            [r.json().get("code")]
            if url.endswith("result")
            else [e["code"] for e in r.json()["errors"]]
        )
        assert codes == ["ProcessGraphComplexity"], r.text


class _Secret(http.server.BaseHTTPRequestHandler):
    """A server only the backend's own network reaches: whoever fetches gets a secret."""

    hits = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).hits += 1
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/x")
            self.end_headers()
            return
        body = b'{"type": "FeatureCollection", "features": [], "secret": "s3cr3t"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def internal_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Secret)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Secret.hits = 0
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_urls_users_give_do_not_reach_the_servers_network(server, auth_headers, internal_server):
    """load_ml_model and load_url (geometries for aggregate_spatial) refuse them all."""
    port = internal_server.rsplit(":", 1)[1]
    urls = [
        f"{internal_server}/model.json",
        f"http://localhost:{port}/x",
        f"http://[::1]:{port}/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/x",
        "file:///etc/passwd",
        "http://127.0.0.1:1/closed",
    ]
    for url in urls:
        by_url = _timeseries("JSON", {"from_node": "url"})
        by_url["url"] = {"process_id": "load_url", "arguments": {"url": url, "format": "GeoJSON"}}
        for graph in (
            {"m": {"process_id": "load_ml_model", "arguments": {"id": url}, "result": True}},
            by_url,
        ):
            r = _post(server, auth_headers, graph)
            assert r.status_code == 400, (url, r.text)
            doc = r.json()
            assert doc["code"] == "ProcessParameterInvalid", doc
            text = doc["message"]
            assert "s3cr3t" not in text and "HTTP" not in text and "refused" not in text.lower()
            assert any(
                w in text
                for w in (
                    "not allowed",
                    "only http and https",
                    "not an http(s) URL",
                    "does not match",
                )
            ), text
    r = _post(server, auth_headers, _timeseries("JSON", f"{internal_server}/x"))
    assert r.status_code == 400 and "'geometries'" in r.json()["message"]
    assert _Secret.hits == 0


def test_the_url_policy_follows_redirects_hop_by_hop(internal_server):
    from sources.safe_urls import UrlPolicy, UrlRefused, fetch

    trusted = UrlPolicy(trusted_hosts=("127.0.0.1",))
    assert b"s3cr3t" in fetch(f"{internal_server}/x", trusted).content
    with pytest.raises(UrlRefused, match="not allowed"):
        fetch(f"{internal_server}/x", UrlPolicy())
    with pytest.raises(UrlRefused, match="not allowed"):
        fetch(f"{internal_server}/x", UrlPolicy(allowed_hosts=("example.org",)))
    port = internal_server.rsplit(":", 1)[1]
    # localhost is trusted, the address it redirects to is not: the second hop is refused.
    with pytest.raises(UrlRefused, match="not allowed"):
        fetch(f"http://localhost:{port}/redirect", UrlPolicy(trusted_hosts=("localhost",)))
    assert (
        b"s3cr3t"
        in fetch(f"http://localhost:{port}/x", UrlPolicy(trusted_hosts=("localhost",))).content
    )
