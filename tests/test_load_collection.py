"""load_collection arguments as users write them: GeoJSON, open time ends, JSON output."""

from __future__ import annotations

import numpy as np
import rasterio
from pyproj import Transformer

from helpers.scene import TEST_BOX


def _lonlat_polygon(points_utm):
    to_ll = Transformer.from_crs(32632, 4326, always_xy=True)
    ring = [list(to_ll.transform(x, y)) for x, y in points_utm]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def test_geojson_polygon_masks_outside_pixels(connection, tmp_path):
    w, e, s, n = TEST_BOX["west"], TEST_BOX["east"], TEST_BOX["south"], TEST_BOX["north"]
    triangle = _lonlat_polygon([(w, s), (e, s), (w, n)])
    feature = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": triangle}],
    }
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=feature,
        temporal_extent=["2022-06-01", "2022-06-05"],
        bands=["B08"],
    )
    out = tmp_path / "tri.tif"
    cube.download(out, format="GTiff")
    with rasterio.open(out) as src:
        data = src.read(1)
        transform = src.transform
    rows, cols = data.shape
    # Pixel centres in the lower-left half are inside, the upper-right corner is outside.
    ys, xs = np.mgrid[0:rows, 0:cols]
    cx = transform.c + (xs + 0.5) * transform.a
    cy = transform.f + (ys + 0.5) * transform.e
    inside = (cx - w) / (e - w) + (cy - s) / (n - s) < 0.97
    outside = (cx - w) / (e - w) + (cy - s) / (n - s) > 1.03
    assert np.isnan(data[outside]).all()
    assert np.isfinite(data[inside]).mean() > 0.9


def test_open_ended_temporal_extent(connection):
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=[None, "2021-09-12"],
        bands=["B04"],
    )
    labels = cube.process("dimension_labels", data=cube, dimension="t").execute()
    assert [label[:10] for label in labels] == [
        "2021-09-01",
        "2021-09-04",
        "2021-09-06",
        "2021-09-09",
        "2021-09-11",
    ]
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2022-12-20", None],
        bands=["B04"],
    )
    labels = cube.process("dimension_labels", data=cube, dimension="t").execute()
    assert [label[:10] for label in labels] == [
        "2022-12-20",
        "2022-12-23",
        "2022-12-25",
        "2022-12-28",
        "2022-12-30",
    ]


def test_json_output_of_a_small_cube(connection):
    box = {**TEST_BOX, "east": TEST_BOX["west"] + 30, "south": TEST_BOX["north"] - 20}
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=box,
        temporal_extent=["2022-06-01", "2022-06-05"],
        bands=["B04", "SCL"],
    )
    doc = connection.execute(cube.save_result(format="JSON"))
    assert doc["dims"] == ["t", "bands", "y", "x"]
    assert doc["coords"]["bands"] == ["B04", "SCL"]
    assert doc["coords"]["x"] == [679725.0, 679735.0, 679745.0]
    assert len(doc["data"][0][0]) == 2 and len(doc["data"][0][0][0]) == 3
    assert all(v in range(12) for row in doc["data"][0][1] for v in row)


def test_labels_collection_loads_without_time(connection, tmp_path):
    out = tmp_path / "labels.tif"
    connection.load_collection("CROP_LABELS", spatial_extent=TEST_BOX).download(out, "GTiff")
    with rasterio.open(out) as src:
        labels = src.read(1)
        assert src.count == 1 and src.shape == (84, 96)
    assert set(np.unique(labels)) <= set(range(21))
