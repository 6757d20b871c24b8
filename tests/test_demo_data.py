"""The embedded demo collection looks like Sentinel-2 L2A to downstream code."""

from __future__ import annotations

import datetime as dt
import json
import os

import numpy as np
import rasterio
from shapely.geometry import shape

from core.classes import CROP_CLASSES
from demo.build import build_demo_data


def _items(catalog):
    return sorted(
        (json.loads(p.read_text()) for p in (catalog.parent / "SENTINEL2_L2A").glob("*/*.json")),
        key=lambda i: i["properties"]["datetime"],
    )


def test_acquisitions_follow_sentinel_2a_and_2b_over_two_tracks(demo_catalog):
    items = _items(demo_catalog)
    times = [
        dt.datetime.fromisoformat(i["properties"]["datetime"].replace("Z", "+00:00")) for i in items
    ]
    assert times == sorted(times) and len({t.date() for t in times}) == len(times)
    assert times[0].date() == dt.date(2021, 9, 1) and times[-1].date() >= dt.date(2022, 12, 28)
    gaps = [(b.date() - a.date()).days for a, b in zip(times, times[1:], strict=False)]
    assert set(gaps) == {2, 3} and gaps[::2] == [3] * len(gaps[::2])
    props = [i["properties"] for i in items]
    for track in (22, 65):  # each track every 5 days, 2A and 2B in turn (10-day repeat each)
        own = [
            (t, p) for t, p in zip(times, props, strict=True) if p["sat:relative_orbit"] == track
        ]
        assert {(b[0].date() - a[0].date()).days for a, b in zip(own, own[1:], strict=False)} == {5}
        assert [p["platform"] for _, p in own[:4]] == ["sentinel-2a", "sentinel-2b"] * 2
        minutes = {t.hour * 60 + t.minute for t, _ in own}
        assert minutes <= (set(range(608, 613)) if track == 22 else set(range(618, 623)))
    june = {t.date() for t in times if t.year == 2022 and t.month == 6}
    assert dt.date(2022, 6, 1) in june and len({d.isocalendar().week for d in june}) == 5
    assert all(
        i["id"].startswith("S2" + p["platform"][-1].upper())
        for i, p in zip(items, props, strict=True)
    )
    for item, t in zip(items, times, strict=True):
        new = t.date() >= dt.date(2022, 1, 25)
        assert item["properties"]["s2:processing_baseline"] == ("04.00" if new else "03.01")
        raster = item["assets"]["B04"]["raster:bands"][0]
        assert raster["offset"] == (-0.1 if new else 0.0) and raster["scale"] == 0.0001
        assert raster["nodata"] == 0 and raster["data_type"] == "uint16"
        assert 0 <= item["properties"]["eo:cloud_cover"] <= 100
        assert item["properties"]["proj:epsg"] == 32632
        assert set(item["assets"]) == {
            "B02",
            "B03",
            "B04",
            "B05",
            "B06",
            "B07",
            "B08",
            "B8A",
            "B11",
            "B12",
            "SCL",
        }


def test_band_files_are_cogs_at_their_resolution(demo_catalog):
    folder = next((demo_catalog.parent / "SENTINEL2_L2A").iterdir())
    for band, res, dtype in (("B04", 10, "uint16"), ("B11", 20, "uint16"), ("SCL", 20, "uint8")):
        with rasterio.open(folder / f"{band}.tif") as src:
            assert src.res == (res, res) and src.dtypes[0] == dtype and src.nodata == 0
            assert src.crs.to_epsg() == 32632 and src.descriptions == (band,)
            assert src.profile["tiled"] and src.overviews(1) is not None


def _read(folder, band):
    with rasterio.open(folder / f"{band}.tif") as src:
        return src.read(1)


def test_scl_codes_match_what_the_pixels_show(demo_catalog):
    seen = set()
    for item in _items(demo_catalog):
        folder = demo_catalog.parent / "SENTINEL2_L2A" / item["id"]
        scl = _read(folder, "SCL")
        offset = -item["assets"]["B02"]["raster:bands"][0]["offset"] * 10000
        blue = (_read(folder, "B02")[::2, ::2].astype(float) - offset) / 10000
        seen |= set(np.unique(scl).tolist())
        if (scl == 9).any():
            assert np.median(blue[scl == 9]) > 0.3  # thick clouds are bright
        if (scl == 3).any() and (scl == 4).any() and not (scl == 11).any():
            # shadows darken what they fall on; on a snowy day that may be snow, which in
            # shadow still outshines lit fields
            assert np.median(blue[scl == 3]) < np.median(blue[scl == 4]) + 0.01
        if (scl == 0).any():
            assert (_read(folder, "B02")[::2, ::2][scl == 0] == 0).all()
    assert {0, 3, 4, 5, 6, 8, 9, 10, 11} <= seen


def test_crop_phenology_shows_in_ndvi(demo_catalog):
    labels = _read(demo_catalog.parent / "CROP_LABELS" / "labels", "labels")
    monthly: dict[int, dict[int, list[float]]] = {}
    for item in [i for i in _items(demo_catalog) if i["properties"]["datetime"] < "2022-09"]:
        folder = demo_catalog.parent / "SENTINEL2_L2A" / item["id"]
        month = int(item["properties"]["datetime"][5:7])
        clear = np.isin(np.repeat(np.repeat(_read(folder, "SCL"), 2, 0), 2, 1), [4, 5])
        red = _read(folder, "B04").astype(float)
        nir = _read(folder, "B08").astype(float)
        off = -item["assets"]["B04"]["raster:bands"][0]["offset"] * 10000
        ndvi = ((nir - off) - (red - off)) / ((nir - off) + (red - off))
        for cls in (CROP_CLASSES.index("Winter wheat"), CROP_CLASSES.index("Maize")):
            sel = clear & (labels == cls)
            if sel.sum() > 20:
                monthly.setdefault(cls, {}).setdefault(month, []).append(np.median(ndvi[sel]))
    peak = {cls: max(m, key=lambda k: np.mean(m[k])) for cls, m in monthly.items()}
    assert peak[CROP_CLASSES.index("Winter wheat")] in (4, 5, 6)
    assert peak[CROP_CLASSES.index("Maize")] in (7, 8)


def test_ground_truth_parcels_match_label_raster(demo_catalog):
    folder = demo_catalog.parent / "CROP_LABELS" / "labels"
    parcels = json.loads((folder / "parcels.geojson").read_text())["features"]
    assert len(parcels) > 50
    assert {p["properties"]["class_id"] for p in parcels} == set(range(16))
    from pyproj import Transformer

    to_utm = Transformer.from_crs(4326, 32632, always_xy=True)
    with rasterio.open(folder / "labels.tif") as src:
        labels = src.read(1)
        for feat in parcels[:200]:
            point = shape(feat["geometry"]).representative_point()
            x, y = to_utm.transform(point.x, point.y)
            row, col = src.index(x, y)
            assert labels[row, col] == feat["properties"]["class_id"]
            assert feat["properties"]["class_name"] == CROP_CLASSES[labels[row, col]]


def test_deterministic_per_seed(tmp_path):
    a = build_demo_data(tmp_path / "a", size=100, seed=3)
    b = build_demo_data(tmp_path / "b", size=100, seed=3)
    c = build_demo_data(tmp_path / "c", size=100, seed=4)
    item = sorted((a.parent / "SENTINEL2_L2A").iterdir())[40].name
    bands = [_read(p.parent / "SENTINEL2_L2A" / item, "B08") for p in (a, b, c)]
    np.testing.assert_array_equal(bands[0], bands[1])
    assert not np.array_equal(bands[0], bands[2])
    # A second build with the same parameters reuses the cached catalog.
    mtime = a.stat().st_mtime
    assert build_demo_data(tmp_path / "a", size=100, seed=3) == a and a.stat().st_mtime == mtime


def test_a_data_dir_keeps_the_scene_it_was_built_with(tmp_path):
    """demo-data --size --seed, then serve on that data dir: the user's scene stays."""
    import subprocess
    import sys

    import requests

    from helpers.serverctl import start_server, stop_server

    data = tmp_path / "data"
    cli = [sys.executable, "-m", "backend.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROPCUBE_")}
    subprocess.run(
        [*cli, "demo-data", "--size", "100", "--seed", "5", "--data-dir", str(data)],
        check=True,
        capture_output=True,
        env=env,
    )
    manifest = data / "stac" / "demo-manifest.json"
    built = manifest.read_text()
    catalog_mtime = (data / "stac" / "catalog.json").stat().st_mtime_ns
    server = start_server(data, {})
    try:
        coll = requests.get(f"{server.url}/collections/SENTINEL2_L2A", timeout=30).json()
    finally:
        stop_server(server)
    assert "building the demo data" not in server.log.read_text()
    assert manifest.read_text() == built
    assert (data / "stac" / "catalog.json").stat().st_mtime_ns == catalog_mtime
    west, _, east, _ = coll["extent"]["spatial"]["bbox"][0]
    assert 0.01 < east - west < 0.02  # 1 km (100 px of 10 m) at 46.5 N, not the default 5 km
    # Asking for another seed rebuilds, keeping the size it holds.
    out = subprocess.run(
        [*cli, "demo-data", "--seed", "6", "--data-dir", str(data)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert "building the demo data (100 x 100 px" in out and "seed 6" in out
    assert json.loads(manifest.read_text())["seed"] == 6
