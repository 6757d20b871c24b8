"""The real `openeo` Python client against a real server: discovery and synchronous results."""

from __future__ import annotations

import numpy as np
import rasterio
import xarray as xr

from helpers.reference import ndvi_stack
from helpers.scene import TEST_BOX


def test_connect_and_discover(connection):
    assert connection.describe_account()["user_id"] == "alice"
    assert set(connection.list_collection_ids()) == {"SENTINEL2_L2A", "CROP_LABELS"}
    meta = connection.describe_collection("SENTINEL2_L2A")
    for dim in ("x", "y"):
        assert meta["cube:dimensions"][dim]["axis"] == dim
        assert meta["cube:dimensions"][dim]["reference_system"] == 32632
    bands = {b["name"]: b for b in meta["summaries"]["eo:bands"]}
    assert bands["B08"]["common_name"] == "nir" and bands["B04"]["center_wavelength"] == 0.665
    assert "SCL" in bands and len(bands) == 11
    processes = {p["id"] for p in connection.list_processes()}
    assert {
        "load_collection",
        "save_result",
        "ndvi",
        "reduce_dimension",
        "filter_bbox",
        "filter_temporal",
        "aggregate_temporal_period",
    } <= processes
    assert {"load_stac", "run_udf", "apply_neighborhood"} <= processes


def _ndvi_max_cube(connection):
    cube = connection.load_collection(
        "SENTINEL2_L2A", bands=["B04", "B08"], temporal_extent=["2022-05-01", "2022-08-01"]
    )
    cube = cube.filter_bbox(**TEST_BOX).filter_temporal("2022-06-01", "2022-07-01")
    return cube.ndvi(nir="B08", red="B04").reduce_dimension(dimension="t", reducer="max")


def test_ndvi_gtiff_matches_cogs(connection, demo_catalog, tmp_path):
    out = tmp_path / "ndvi.tif"
    _ndvi_max_cube(connection).download(out, format="GTiff")
    expected = np.nanmax(ndvi_stack(demo_catalog, "2022-06-01", "2022-07-01", TEST_BOX), axis=0)
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 32632
        assert src.transform.c == TEST_BOX["west"] and src.transform.f == TEST_BOX["north"]
        assert src.res == (10.0, 10.0)
        got = src.read(1)
    assert got.shape == expected.shape == (84, 96)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert np.isfinite(got).mean() > 0.9


def test_ndvi_netcdf_matches_cogs(connection, demo_catalog, tmp_path):
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2022-06-01", "2022-07-01"],
        bands=["red", "nir"],
    )
    cube = cube.ndvi(nir="B08", red="B04")
    out = tmp_path / "ndvi.nc"
    cube.download(out, format="netCDF")
    expected = ndvi_stack(demo_catalog, "2022-06-01", "2022-07-01", TEST_BOX)
    with xr.open_dataset(out) as ds:
        assert "spatial_ref" in ds and "32632" in ds["spatial_ref"].attrs["crs_wkt"]
        assert ds.attrs["Conventions"].startswith("CF-")
        var = next(v for v in ds.data_vars if v != "spatial_ref")
        got = ds[var].transpose("t", "y", "x").values
        assert ds.sizes["t"] == expected.shape[0] == 12  # 2A and 2B over two tracks
        assert str(ds.t.values[0])[:10] == "2022-06-01"
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_gtiff_band_descriptions_name_band_and_date(connection, tmp_path):
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2022-06-01", "2022-06-07"],
        bands=["B04", "SCL"],
    )
    out = tmp_path / "stack.tif"
    cube.download(out, format="GTiff")
    with rasterio.open(out) as src:
        assert src.descriptions == (
            "2022-06-01T10:20:18 B04",
            "2022-06-01T10:20:18 SCL",
            "2022-06-03T10:10:55 B04",
            "2022-06-03T10:10:55 SCL",
            "2022-06-06T10:20:55 B04",
            "2022-06-06T10:20:55 SCL",
        )
        scl = src.read(2)
    assert set(np.unique(scl)) <= set(range(12))


def test_scalar_result_is_json(connection):
    assert (
        connection.execute(
            {"add": {"process_id": "add", "arguments": {"x": 2, "y": 3}, "result": True}}
        )
        == 5
    )
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2022-06-01", "2022-06-10"],
        bands=["B04"],
    )
    dims = cube.process("dimension_labels", data=cube, dimension="t")
    labels = [np.datetime64(label.rstrip("Z")) for label in dims.execute()]
    assert labels == [
        np.datetime64(t)
        for t in (
            "2022-06-01T10:20:18",
            "2022-06-03T10:10:55",
            "2022-06-06T10:20:55",
            "2022-06-08T10:09:32",
        )
    ]


def test_cloud_cover_filter(connection, demo_catalog):
    import json

    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2021-09-01", "2022-01-01"],
        bands=["B04"],
        max_cloud_cover=20,
    )
    labels = cube.process("dimension_labels", data=cube, dimension="t").execute()
    items = [
        json.loads(p.read_text())["properties"]
        for p in (demo_catalog.parent / "SENTINEL2_L2A").glob("*/*.json")
    ]
    expected = sorted(
        p["datetime"][:19]
        for p in items
        if p["eo:cloud_cover"] <= 20 and p["datetime"] < "2022-01-01"
    )
    assert [label[:19] for label in labels] == expected
    assert 0 < len(expected) < 48  # of 49 dates
