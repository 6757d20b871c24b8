"""XYZ secondary web services without a server: create, list, edit, own, tiles, bad inputs."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import morecantile
import numpy as np
import pytest
import xarray as xr
from PIL import Image
from pyproj import Transformer

from formats import render
from formats.gtiff import write_gtiff
from helpers.jobs import ndvi_graph
from helpers.scene import TEST_BOX

API = "/openeo/1.2"
TMS = morecantile.tms.get("WebMercatorQuad")


def _tile_over_box(z: int) -> tuple[int, int, int]:
    """The tile at zoom z over the middle of the test box."""
    lon, lat = Transformer.from_crs(32632, 4326, always_xy=True).transform(
        (TEST_BOX["west"] + TEST_BOX["east"]) / 2, (TEST_BOX["south"] + TEST_BOX["north"]) / 2
    )
    tile = TMS.tile(lon, lat, z)
    return tile.x, tile.y, tile.z


def _create(client, headers, graph: dict, **fields) -> str:
    body = {"type": "XYZ", "process": {"process_graph": graph}, **fields}
    r = client.post(f"{API}/services", json=body, headers=headers)
    assert r.status_code == 201, r.data
    return r.headers["OpenEO-Identifier"]


def _rgba(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def test_create_list_patch_delete_and_owner_only(client, alice_headers, bob_headers):
    sid = _create(client, alice_headers, ndvi_graph(), title="NDVI max", configuration={})
    assert len(sid) == 32
    listed = client.get(f"{API}/services", headers=alice_headers).json["services"]
    (mine,) = [s for s in listed if s["id"] == sid]
    assert mine["type"] == "XYZ" and mine["enabled"] is True and mine["title"] == "NDVI max"
    assert mine["url"] == f"http://localhost{API}/services/{sid}/tiles/{{z}}/{{x}}/{{y}}.png"
    doc = client.get(f"{API}/services/{sid}", headers=alice_headers).json
    assert doc["process"]["process_graph"]["ndvi"]["process_id"] == "ndvi"
    assert None not in doc.values() and "description" not in doc  # unset: left out
    # Bob sees nothing of it and can change nothing.
    assert sid not in [
        s["id"] for s in client.get(f"{API}/services", headers=bob_headers).json["services"]
    ]
    for method, body in (("get", None), ("patch", {"title": "mine"}), ("delete", None)):
        r = client.open(
            f"{API}/services/{sid}", method=method.upper(), json=body, headers=bob_headers
        )
        assert (r.status_code, r.json["code"]) == (404, "ServiceNotFound"), method
    assert client.get(f"{API}/services/{sid}", headers=alice_headers).json["title"] == "NDVI max"
    r = client.patch(
        f"{API}/services/{sid}", json={"title": "t2", "enabled": False}, headers=alice_headers
    )
    assert r.status_code == 204
    doc = client.get(f"{API}/services/{sid}", headers=alice_headers).json
    assert doc["title"] == "t2" and doc["enabled"] is False
    x, y, z = _tile_over_box(14)
    r = client.get(f"{API}/services/{sid}/tiles/{z}/{x}/{y}.png")
    assert (r.status_code, r.json["code"]) == (404, "ServiceNotFound")  # disabled
    assert client.delete(f"{API}/services/{sid}", headers=alice_headers).status_code == 204
    assert client.get(f"{API}/services/{sid}", headers=alice_headers).status_code == 404
    assert client.get(f"{API}/services/{sid}/tiles/{z}/{x}/{y}.png").status_code == 404


def test_tiles_of_a_graph_inside_and_outside_the_data(client, alice_headers):
    sid = _create(client, alice_headers, ndvi_graph())
    x, y, z = _tile_over_box(16)
    r = client.get(f"{API}/services/{sid}/tiles/{z}/{x}/{y}.png")  # no credentials needed
    assert r.status_code == 200 and r.mimetype == "image/png"
    rgba = _rgba(r.data)
    assert rgba.shape == (256, 256, 4)
    opaque = rgba[..., 3] == 255
    assert opaque.mean() > 0.5  # the box covers most of a zoom-16 tile (about 600 m)
    grey = rgba[..., 0][opaque]
    assert grey.std() > 10  # a stretch, not one flat colour
    outside = client.get(f"{API}/services/{sid}/tiles/{z}/{x + 40}/{y}.png")
    assert outside.status_code == 200 and (_rgba(outside.data)[..., 3] == 0).all()


def test_a_view_asking_for_many_tiles_at_once_evaluates_the_graph_once(
    app, client, alice_headers, monkeypatch
):
    from backend import tiles
    from backend.api.web_services import SOURCES

    built = []
    real = tiles.build_source

    def slow_build(*args):  # as a long graph is: the other tiles arrive while it evaluates
        built.append(1)
        time.sleep(0.5)
        return real(*args)

    monkeypatch.setattr(tiles, "build_source", slow_build)
    sid = _create(client, alice_headers, ndvi_graph())
    assert len(built) == 1  # creating it evaluates the graph (a bad one fails there)
    r = client.patch(f"{API}/services/{sid}", json={"title": "NDVI"}, headers=alice_headers)
    assert r.status_code == 204  # a changed service is evaluated anew, by the next tile
    x, y, z = _tile_over_box(17)
    wanted = [(x + dx, y + dy) for dx in (0, 1) for dy in (0, 1)]

    def fetch(xy: tuple[int, int]) -> bytes:
        r = app.test_client().get(f"{API}/services/{sid}/tiles/{z}/{xy[0]}/{xy[1]}.png")
        assert r.status_code == 200
        return r.data

    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(fetch, wanted))
    assert len(built) == 2
    source = next(v for k, v in SOURCES._cache.items() if k[0] == sid)
    graph = source.layer.data.__dask_graph__()
    assert len(graph) == source.layer.data.npartitions  # computed once, kept
    assert [fetch(xy) for xy in wanted] == together  # and the same tiles one by one
    assert len(built) == 2


def test_rescale_sets_the_stretch(client, alice_headers):
    x, y, z = _tile_over_box(16)
    tiles = {}
    for rescale in ([-1, 1], [0.9, 1.0]):
        sid = _create(client, alice_headers, ndvi_graph(), configuration={"rescale": rescale})
        tiles[rescale[0]] = _rgba(client.get(f"{API}/services/{sid}/tiles/{z}/{x}/{y}.png").data)
    opaque = tiles[-1][..., 3] == 255
    # NDVI below 0.9 is black with [0.9, 1]; much of it is grey with [-1, 1].
    assert tiles[0.9][..., 0][opaque].mean() < tiles[-1][..., 0][opaque].mean()


BAD = [
    ({"type": "WMTS", "process": {"process_graph": ndvi_graph()}}, 400, "ServiceUnsupported"),
    ({"process": {"process_graph": ndvi_graph()}}, 400, "ServiceUnsupported"),
    ({"type": "XYZ"}, 400, "ProcessGraphMissing"),
    (
        {"type": "XYZ", "process": {"process_graph": ndvi_graph()}, "configuration": {"zoom": 3}},
        400,
        "ServiceConfigInvalid",
    ),
    (
        {
            "type": "XYZ",
            "process": {"process_graph": ndvi_graph()},
            "configuration": {"rescale": [1, 0]},
        },
        400,
        "ServiceConfigInvalid",
    ),
    (
        {
            "type": "XYZ",
            "process": {"process_graph": ndvi_graph()},
            "configuration": {"band": "B99"},
        },
        400,
        "ServiceConfigInvalid",
    ),
    (
        {"type": "XYZ", "process": {"process_graph": ndvi_graph()}, "enabled": "yes"},
        400,
        "BadRequest",
    ),
    (
        {
            "type": "XYZ",
            "process": {
                "process_graph": {
                    "a": {"process_id": "add", "arguments": {"x": 1, "y": 2}, "result": True}
                }
            },
        },
        400,
        "ServiceConfigInvalid",
    ),
    (
        {
            "type": "XYZ",
            "process": {
                "process_graph": {"a": {"process_id": "nope", "arguments": {}, "result": True}}
            },
        },
        400,
        "ProcessUnsupported",
    ),
    (
        {
            "type": "XYZ",
            "process": {
                "process_graph": {
                    "l": {
                        "process_id": "load_stac",
                        "arguments": {"url": "http://localhost/openeo/1.2/jobs/j-none/results"},
                        "result": True,
                    }
                }
            },
        },
        400,
        "ServiceConfigInvalid",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code"), BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)]
)
def test_bad_services_are_refused_and_nothing_is_kept(client, alice_headers, body, status, code):
    before = client.get(f"{API}/services", headers=alice_headers).json["services"]
    r = client.post(f"{API}/services", json=body, headers=alice_headers)
    assert (r.status_code, r.json["code"]) == (status, code), r.json
    assert "Traceback" not in r.json["message"]
    assert client.get(f"{API}/services", headers=alice_headers).json["services"] == before


def test_bad_requests_around_services(client, alice_headers):
    assert client.get(f"{API}/services").status_code == 401
    assert client.post(f"{API}/services", json={"type": "XYZ"}).status_code == 401
    sid = _create(client, alice_headers, ndvi_graph())
    r = client.patch(f"{API}/services/{sid}", json={"type": "WMS"}, headers=alice_headers)
    assert (r.status_code, r.json["code"]) == (400, "PropertyNotEditable")
    r = client.patch(
        f"{API}/services/{sid}", json={"configuration": {"rescale": "x"}}, headers=alice_headers
    )
    assert (r.status_code, r.json["code"]) == (400, "ServiceConfigInvalid")
    for path in ("3/8/0", "3/0/8", "25/0/0"):
        r = client.get(f"{API}/services/{sid}/tiles/{path}.png")
        assert (r.status_code, r.json["code"]) == (400, "BadRequest"), path
    r = client.get(f"{API}/services/{'0' * 32}/tiles/1/0/0.png")
    assert (r.status_code, r.json["code"]) == (404, "ServiceNotFound")
    assert client.get(f"{API}/services/{sid}/logs", headers=alice_headers).json["logs"] == []


CLASSES = [
    {"value": 1, "name": "maize", "color_hint": "F5C518"},
    {"value": 2, "name": "meadow", "color_hint": "2E8B57"},
    {"value": 3, "name": "water", "color_hint": "1E90FF"},
]


def _class_map(path, values: np.ndarray):
    """A one-band class map GTiff at the test box's corner, 10 m pixels."""
    height, width = values.shape[1:]
    cube = xr.DataArray(
        values,
        dims=("bands", "y", "x"),
        coords={
            "bands": ["class"],
            "y": 5151920 - 5 - np.arange(height) * 10.0,
            "x": 679720 + 5 + np.arange(width) * 10.0,
        },
        attrs={"classification:classes": CLASSES},
    ).rio.write_crs(32632)
    write_gtiff(cube, path, {})
    return path


def test_class_map_tiles_have_exactly_the_class_colours(tmp_path):
    values = np.random.default_rng(1).integers(1, 4, size=(1, 300, 400)).astype(np.uint8)
    values[0, :20] = 255  # no-data
    path = _class_map(tmp_path / "classes.tif", values)
    layer = render.file_layer(path)
    assert layer.style.colormap is not None
    x, y, z = _tile_over_box(14)
    rgba = _rgba(render.file_tile(path, layer, x, y, z))
    colours = {tuple(p) for p in rgba.reshape(-1, 4) if p[3] == 255}
    wanted = {(*bytes.fromhex(c["color_hint"]), 255) for c in CLASSES}
    assert colours == wanted
    assert (rgba[..., 3] == 0).any()  # no-data and beyond the raster are transparent
    quick = _rgba(render.file_quicklook(path))
    assert {tuple(p) for p in quick.reshape(-1, 4) if p[3] == 255} == wanted


def test_a_small_result_gets_an_enlarged_quick_look(tmp_path):
    values = np.random.default_rng(2).integers(1, 4, size=(1, 30, 40)).astype(np.uint8)
    path = _class_map(tmp_path / "small.tif", values)
    quick = _rgba(render.file_quicklook(path))
    assert quick.shape == (210, 280, 4)  # 7 x 7 screen pixels per raster pixel
    colour = {(*bytes.fromhex(c["color_hint"]), 255): c["value"] for c in CLASSES}
    shown = np.vectorize(lambda *p: colour[p])(*quick[3::7, 3::7].transpose(2, 0, 1))
    np.testing.assert_array_equal(shown, values[0])
