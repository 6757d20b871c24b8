"""monthly_composite: against independent numpy, the standard-process graph, real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openeo
import pandas as pd
import pytest
import requests
import xarray as xr
from scipy import ndimage

from helpers.reference import monthly_median, read_stack
from helpers.scene import TEST_BOX
from helpers.shared import eolearn_cube
from udfs import monthly_composite as mc

UDF_FILE = Path(__file__).resolve().parent.parent / "udfs" / "monthly_composite.py"
MASK = [0, 1, 3, 8, 9, 10, 11]
# A box of 10 m pixels whose edges fall on the 20 m SCL grid.
BOX = {**TEST_BOX, "east": TEST_BOX["west"] + 400, "south": TEST_BOX["north"] - 300}


@pytest.fixture(scope="module")
def year(demo_catalog):
    times, stack = read_stack(demo_catalog, "2021-09-01", "2022-09-01", BOX, ["B04", "B08", "SCL"])
    return times, stack


def _download(con, cube, path) -> xr.DataArray:
    cube.download(path, format="netCDF")
    with xr.open_dataset(path, decode_coords="all") as ds:
        return ds.to_array("bands").transpose("t", "bands", "y", "x").load()


def test_process_equals_independent_numpy(connection, year, tmp_path):
    times, stack = year
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=BOX,
        temporal_extent=["2021-09-01", "2022-09-01"],
        bands=["B04", "B08", "SCL"],
    )
    got = _download(
        connection,
        cube.process("monthly_composite", data=cube, valid_count=True),
        tmp_path / "mc.nc",
    )
    assert list(got.bands.values) == ["B04", "B08", "valid_count"]
    assert [str(t)[:10] for t in got.t.values] == [
        str(m)[:10] for m in pd.date_range("2021-09-01", periods=12, freq="MS").values
    ]
    clear = ~np.isin(stack["SCL"], MASK)
    for band in ("B04", "B08"):
        expected = monthly_median(stack[band], clear, times, "2021-09", 12, fill=True)
        np.testing.assert_allclose(
            got.sel(bands=band).values, expected, rtol=1e-5, atol=1e-6, equal_nan=True
        )
    index = np.array(
        [
            (np.datetime64(t.replace(tzinfo=None), "M") - np.datetime64("2021-09", "M")).astype(int)
            for t in times
        ]
    )
    counts = np.stack([clear[index == m].sum(axis=0) for m in range(12)])
    np.testing.assert_array_equal(got.sel(bands="valid_count").values, counts)


def _standard_graph(box: dict) -> dict:
    nodes = {
        "scl": {
            "process_id": "array_element",
            "arguments": {"data": {"from_parameter": "data"}, "index": 0},
        }
    }
    nodes.update(
        {
            f"eq{c}": {"process_id": "eq", "arguments": {"x": {"from_node": "scl"}, "y": c}}
            for c in MASK
        }
    )
    previous = f"eq{MASK[0]}"
    for c in MASK[1:]:  # or(or(eq0, eq1), eq3) ...
        nodes[f"or{c}"] = {
            "process_id": "or",
            "arguments": {"x": {"from_node": previous}, "y": {"from_node": f"eq{c}"}},
        }
        previous = f"or{c}"
    nodes[previous]["result"] = True
    is_masked = {"process_graph": nodes}
    return {
        "load": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": box,
                "temporal_extent": ["2021-09-01", "2022-09-01"],
                "bands": ["B04", "B08", "SCL"],
                "properties": {
                    "eo:cloud_cover": {
                        "process_graph": {
                            "c": {
                                "process_id": "gt",
                                "arguments": {"x": {"from_parameter": "value"}, "y": CLOUDY},
                                "result": True,
                            }
                        }
                    }
                },
            },
        },
        "scl": {
            "process_id": "filter_bands",
            "arguments": {"data": {"from_node": "load"}, "bands": ["SCL"]},
        },
        "cloud": {
            "process_id": "reduce_dimension",
            "arguments": {"data": {"from_node": "scl"}, "dimension": "bands", "reducer": is_masked},
        },
        "refl": {
            "process_id": "filter_bands",
            "arguments": {"data": {"from_node": "load"}, "bands": ["B04", "B08"]},
        },
        "masked": {
            "process_id": "mask",
            "arguments": {"data": {"from_node": "refl"}, "mask": {"from_node": "cloud"}},
        },
        "monthly": {
            "process_id": "aggregate_temporal_period",
            "arguments": {
                "data": {"from_node": "masked"},
                "period": "month",
                "reducer": {
                    "process_graph": {
                        "m": {
                            "process_id": "median",
                            "arguments": {"data": {"from_parameter": "data"}},
                            "result": True,
                        }
                    }
                },
            },
        },
        "interp": {
            "process_id": "apply_dimension",
            "arguments": {
                "data": {"from_node": "monthly"},
                "dimension": "t",
                "process": {
                    "process_graph": {
                        "i": {
                            "process_id": "array_interpolate_linear",
                            "arguments": {"data": {"from_parameter": "data"}},
                            "result": True,
                        }
                    }
                },
            },
        },
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "interp"}, "format": "netCDF"},
            "result": True,
        },
    }


CLOUDY = 30  # only scenes with more cloud cover than this: months without a clear view


def test_equals_the_standard_process_graph(server, auth_headers, connection, tmp_path):
    r = requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": _standard_graph(BOX)}},
        headers=auth_headers,
        timeout=300,
    )
    assert r.status_code == 200, r.content[:300]
    (tmp_path / "std.nc").write_bytes(r.content)
    with xr.open_dataset(tmp_path / "std.nc", decode_coords="all") as ds:
        std = ds.to_array("bands").transpose("t", "bands", "y", "x").load()
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=BOX,
        temporal_extent=["2021-09-01", "2022-09-01"],
        bands=["B04", "B08", "SCL"],
        properties={"eo:cloud_cover": lambda v: v > CLOUDY},
    )
    ours = _download(connection, cube.process("monthly_composite", data=cube), tmp_path / "o.nc")
    none = _download(
        connection, cube.process("monthly_composite", data=cube, fill="none"), tmp_path / "n.nc"
    )
    assert std.shape == ours.shape == (12, 2, 30, 40)
    # Ours labels months by their first day (the standard path's labels do not survive
    # apply_dimension here).
    assert str(ours.t.values[0])[:10] == "2021-09-01"
    observed = np.isfinite(none.values)
    # Months with clear observations: identical medians.
    np.testing.assert_allclose(ours.values[observed], std.values[observed], rtol=1e-5)
    # Gaps: the standard path interpolates on the month index and leaves edges NaN; we
    # interpolate on dates and fill edges, so interior gaps agree to within the day weights.
    interior = ~observed & np.isfinite(std.values)
    assert interior.any()
    np.testing.assert_allclose(ours.values[interior], std.values[interior], atol=0.02)
    assert np.isnan(std.values).sum() > np.isnan(ours.values).sum()


def test_dilation_equals_numpy(connection, year, tmp_path):
    times, stack = year
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=BOX,
        temporal_extent=["2021-09-01", "2022-09-01"],
        bands=["B04", "B08", "SCL"],
    )
    got = _download(
        connection,
        cube.process("monthly_composite", data=cube, mask_dilation=2, fill="none"),
        tmp_path / "d.nc",
    )
    bad = np.isin(stack["SCL"], MASK)
    cross = np.zeros((1, 3, 3), bool)
    cross[0] = ndimage.generate_binary_structure(2, 1)
    grown = ndimage.binary_dilation(bad, structure=cross, iterations=2)
    expected = monthly_median(stack["B08"], ~grown, times, "2021-09", 12, fill=False)
    # Inside the box the dilation also sees clouds beyond its edge, so compare the interior.
    inner = (slice(None), slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(
        got.sel(bands="B08").values[inner], expected[inner], rtol=1e-5, equal_nan=True
    )
    plain = monthly_median(stack["B08"], ~bad, times, "2021-09", 12, fill=False)
    changed = ~np.isclose(plain[inner], expected[inner], equal_nan=True)
    assert changed.mean() > 0.01  # the dilation made a difference, which the process reproduced


def test_real_sentinel2_ndvi_with_clouds():
    cube = eolearn_cube()
    assert cube.t.to_index().normalize().duplicated().any()  # 2015-12-08 twice
    got = mc.composite(cube.chunk({"y": 40, "x": 40}), start_month=9, valid_count=True).compute()
    first, last = cube.t.values.min(), cube.t.values.max()
    assert str(got.t.values[0])[:10] == "2014-09-01"  # the agricultural year holding July 2015
    assert got.sizes["t"] == 48 and str(got.t.values[-1])[:7] == "2018-08"
    ndvi = cube.sel(bands="NDVI").values
    clear = cube.sel(bands="SCL").values == 4
    expected = monthly_median(ndvi, clear, list(cube.t.values), "2014-09", 48, fill=True)
    np.testing.assert_allclose(
        got.sel(bands="NDVI").values, expected, rtol=1e-5, atol=1e-6, equal_nan=True
    )
    months = (cube.t.values.astype("datetime64[M]") - np.datetime64("2014-09", "M")).astype(int)
    gaps = sorted(set(range(months.min(), months.max() + 1)) - set(months))
    assert gaps  # months without any acquisition, filled from their neighbours
    assert np.isfinite(got.sel(bands="NDVI").values[gaps]).all()
    assert got.sel(bands="valid_count").values[gaps].max() == 0
    assert first < last


@pytest.mark.parametrize("method", ["median", "best"])
def test_chunk_boundaries_leave_no_seams(method):
    """Small odd chunks, dilation across their edges: the same as the whole array at once."""
    # NDVI stands in for red and NIR; "best" only needs some order among observations.
    cube = eolearn_cube().isel(bands=[0, 0, 1]).assign_coords(bands=["B04", "B08", "SCL"])
    args = {"method": method, "mask_dilation": 2}
    whole = mc.composite(cube, **args).values
    chunked = mc.composite(cube.chunk({"y": 17, "x": 23}), **args)
    # computed in 6 x 5 blocks, the output merged back to one (within OUTPUT_PX)
    (blocks,) = [n for n in chunked.data.dask.layers if n.startswith("_with_clear")]
    assert len(chunked.data.dask.layers[blocks]) == 6 * 5
    assert chunked.data.numblocks[2:] == (1, 1)
    np.testing.assert_array_equal(chunked.values, whole)


def test_output_blocks_merge_up_to_a_tile():
    """Half-tile load chunks give whole-tile output blocks; larger ones stay as they are."""
    assert mc.merged_chunks((100, 128, 128, 128, 128, 72)) == (228, 256, 200)
    assert mc.merged_chunks((256, 256, 40)) == (256, 256, 40)
    assert mc.merged_chunks((300, 17, 17)) == (300, 34)
    assert mc.merged_chunks((40, 56)) == (96,)


def test_edge_cases():
    times = pd.to_datetime(
        ["2023-09-05", "2023-10-10", "2024-02-29", "2024-03-15", "2025-02-01"]
    ).values
    values = np.array([1, 2, 5, 7, 9], dtype=np.uint16)[:, None, None, None] * np.ones(
        (5, 1, 2, 2), dtype=np.uint16
    )
    scl = np.full((5, 1, 2, 2), 4, dtype=np.uint16)
    scl[:, 0, 1, 1] = 9  # this pixel is cloudy all the time
    cube = xr.DataArray(
        np.concatenate([values, scl], axis=1),
        dims=("t", "bands", "y", "x"),
        coords={"t": times, "bands": ["B02", "SCL"]},
    )
    got = mc.composite(cube)  # integers in, 18 months spanned
    assert got.dtype == np.float32 and got.sizes["t"] == 24
    series = got.sel(bands="B02").values[:, 0, 0]
    assert series[0] == 1 and series[1] == 2  # September, October
    assert series[5] == 5  # February of the leap year holds the 29th
    assert series[6] == 7
    # November to January: linear on dates between Oct 1 (2) and Feb 1 (5)
    days = np.array([31, 61, 92]) / 123
    np.testing.assert_allclose(series[2:5], 2 + 3 * days, rtol=1e-6)
    assert series[17] == 9 and (series[18:] == 9).all()  # after the last: the nearest
    assert np.isnan(got.sel(bands="B02").values[:, 1, 1]).all()  # never clear: no data
    none = mc.composite(cube, fill="none").sel(bands="B02").values[:, 0, 0]
    assert np.isnan(none[2]) and none[0] == 1


def test_baseline_offset_change_does_not_jump(connection, tmp_path):
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=BOX,
        temporal_extent=["2021-09-01", "2022-09-01"],
        bands=["B04", "B08", "SCL"],
    )
    labels = connection.load_collection("CROP_LABELS", spatial_extent=BOX)
    got = _download(connection, cube.process("monthly_composite", data=cube), tmp_path / "c.nc")
    label_path = tmp_path / "l.tif"
    labels.download(label_path, format="GTiff")
    import rasterio

    with rasterio.open(label_path) as src:
        classes = src.read(1)
    grass = classes == 1  # Grassland: slow change from January to February
    jan, feb = got.sel(bands="B04").values[4][grass], got.sel(bands="B04").values[5][grass]
    # Without harmonisation February would sit 0.1 above January (offset -1000 DN).
    assert abs(np.nanmedian(feb) - np.nanmedian(jan)) < 0.03


def test_udf_file_runs_in_the_client_local_runner():
    cube = eolearn_cube().isel(t=slice(0, 30))
    udf = openeo.UDF(UDF_FILE.read_text(), context={"start_month": 1, "fill": "none"})
    from openeo.udf import execute_local_udf

    result = execute_local_udf(udf, cube).get_datacube_list()[0].get_array()
    direct = mc.composite(cube, start_month=1, fill="none")
    assert str(cube.t.values[-1])[:4] == "2016" and result.sizes["t"] == 24  # 2015 and 2016
    assert list(result.bands.values) == ["NDVI"]
    np.testing.assert_allclose(result.values, direct.values, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"method": "mode"}, "ProcessParameterInvalid"),
        ({"start_month": 13}, "ProcessParameterInvalid"),
        ({"fill": "cubic"}, "ProcessParameterInvalid"),
        ({"mask_dilation": -1}, "ProcessParameterInvalid"),
    ],
)
def test_bad_arguments(server, auth_headers, args, code):
    graph = {
        "load": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": BOX,
                "temporal_extent": ["2022-06-01", "2022-07-01"],
            },
        },
        "mc": {
            "process_id": "monthly_composite",
            "arguments": {"data": {"from_node": "load"}, **args},
            "result": True,
        },
    }
    r = requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": graph}},
        headers=auth_headers,
        timeout=60,
    )
    assert r.status_code == 400 and r.json()["code"] == code, r.content[:300]


def test_cube_without_scl_is_refused(connection):
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=BOX,
        temporal_extent=["2022-06-01", "2022-07-01"],
        bands=["B04"],
    )
    with pytest.raises(openeo.rest.OpenEoApiError) as err:
        connection.execute(cube.process("monthly_composite", data=cube).save_result("GTiff"))
    assert err.value.code == "ProcessParameterInvalid" and "SCL" in err.value.message
