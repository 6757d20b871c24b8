"""run_udf through the real `openeo` client against a real server: the client's documented
UDF examples checked against numpy on the COGs, our own UDF files against the named
processes, and as batch jobs. Hostile UDFs are in test_udf_sandbox.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openeo
import pytest
import xarray as xr
from scipy import ndimage
from scipy.signal import savgol_filter

from helpers.reference import read_stack
from helpers.scene import TEST_BOX

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent / "udf_examples"
SPAN = ["2022-05-01", "2022-08-01"]
BANDS = ["B04", "B08"]


def _cube(connection):
    return connection.load_collection(
        "SENTINEL2_L2A", spatial_extent=TEST_BOX, temporal_extent=SPAN, bands=BANDS
    )


@pytest.fixture(scope="module")
def reference(demo_catalog) -> xr.DataArray:
    """The same cube read straight from the COGs with rasterio: (t, bands, y, x)."""
    times, stack = read_stack(demo_catalog, *SPAN, TEST_BOX, BANDS)
    data = np.stack([stack[b] for b in BANDS], axis=1)
    t = np.array([np.datetime64(w.replace(tzinfo=None), "ns") for w in times])
    return xr.DataArray(data, dims=("t", "bands", "y", "x"), coords={"t": t, "bands": BANDS})


def _download(cube, path: Path) -> xr.DataArray:
    cube.download(path, format="netCDF")
    with xr.open_dataset(path) as ds:
        bands = [v for v in ds.data_vars if v != "spatial_ref"]
        return (
            ds[bands]
            .to_array("bands")
            .transpose("t", "bands", "y", "x", missing_dims="ignore")
            .load()
        )


def test_the_runtime_is_listed(connection):
    runtimes = connection.list_udf_runtimes()
    python = runtimes["Python"]
    assert python["default"] == "3.11"
    assert "run_udf" in {p["id"] for p in connection.list_processes()}


def test_rescale_in_apply(connection, reference, tmp_path):
    udf = openeo.UDF.from_file(EXAMPLES / "rescale.py")
    got = _download(_cube(connection).apply(process=udf), tmp_path / "r.nc")
    np.testing.assert_allclose(
        got.values, reference.values * 1e-4, rtol=1e-5, atol=1e-9, equal_nan=True
    )
    assert list(got.bands.values) == BANDS


def test_savitzky_golay_smoothing_in_apply_dimension(connection, reference, tmp_path):
    udf = openeo.UDF.from_file(EXAMPLES / "smooth_savitzky_golay.py")
    cube = _cube(connection).apply_dimension(process=udf, dimension="t")
    got = _download(cube, tmp_path / "s.nc")
    expected = savgol_filter(reference.interpolate_na(dim="t").values, 5, 2, axis=0)
    np.testing.assert_allclose(got.values, expected, rtol=1e-4, atol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(got.t.values, reference.t.values)  # the labels survive


def test_timeseries_udf_in_apply_dimension(connection, reference, tmp_path):
    udf = openeo.UDF.from_file(EXAMPLES / "demean_timeseries.py")
    got = _download(
        _cube(connection).apply_dimension(process=udf, dimension="t"), tmp_path / "d.nc"
    )
    # openeo's runner hands each series over as a numpy array: a NaN makes its mean NaN
    expected = reference.values - reference.values.mean(axis=0)
    np.testing.assert_allclose(got.values, expected, rtol=1e-4, atol=1e-5, equal_nan=True)


def test_reducer_udf(connection, reference, tmp_path):
    udf = openeo.UDF.from_file(EXAMPLES / "percentile_reducer.py", context={"q": 0.9})
    cube = _cube(connection).reduce_dimension(dimension="t", reducer=udf)
    cube.download(tmp_path / "q.nc", format="netCDF")
    with xr.open_dataset(tmp_path / "q.nc") as ds:
        assert "t" not in ds.dims
        got = np.stack([ds[b].values for b in BANDS])
    expected = np.nanquantile(reference.values, 0.9, axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_apply_neighborhood_gives_each_block_its_margin(connection, reference, tmp_path):
    """32 px blocks with 8 px overlap over an 84 x 96 px box: a 5 x 5 maximum needs 2 px
    from the neighbours, so the blocks together equal the filter over the whole box."""
    udf = openeo.UDF.from_file(EXAMPLES / "neighbourhood_max.py")
    cube = _cube(connection).apply_neighborhood(
        process=udf,
        size=[{"dimension": d, "value": 32, "unit": "px"} for d in ("x", "y")],
        overlap=[{"dimension": d, "value": 8, "unit": "px"} for d in ("x", "y")],
    )
    got = _download(cube, tmp_path / "n.nc")
    expected = ndimage.maximum_filter(
        np.nan_to_num(reference.values, nan=-1.0), size=(1, 1, 5, 5), mode="constant", cval=-1.0
    )
    np.testing.assert_allclose(got.values, expected, rtol=1e-6)


def _named_and_udf(connection, process: str, context: dict, cube):
    named = cube.process(process, data=cube, **context)
    udf = openeo.UDF.from_file(REPO / "udfs" / f"{process}.py", context=context)
    through_udf = cube.process(
        "run_udf", data=cube, udf=udf.code, runtime=udf.get_runtime(connection), context=context
    )
    return named, through_udf


YEAR = ["2021-09-01", "2022-09-01"]
TEN = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]


@pytest.mark.parametrize(
    ("process", "context"),
    [
        ("monthly_composite", {"method": "median"}),
        ("lstm_classify", {"output": ["class", "confidence"]}),
        ("unet_segment", {}),
        ("ndvi_forecast", {"horizon": 2, "model": "demo"}),
    ],
)
def test_our_udf_files_through_run_udf_equal_the_named_processes(
    connection, tmp_path, process, context
):
    bands = ["B04", "B08", "SCL"] if process == "ndvi_forecast" else [*TEN, "SCL"]
    cube = connection.load_collection(
        "SENTINEL2_L2A", spatial_extent=TEST_BOX, temporal_extent=YEAR, bands=bands
    )
    if process in ("lstm_classify", "unet_segment"):
        cube = cube.process("monthly_composite", data=cube)
    named, through_udf = _named_and_udf(connection, process, context, cube)
    a = _download(named, tmp_path / "named.nc")
    b = _download(through_udf, tmp_path / "udf.nc")
    assert a.dims == b.dims and a.shape == b.shape
    for dim in a.dims:
        if dim in ("t", "bands"):
            np.testing.assert_array_equal(a[dim].values, b[dim].values)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_run_udf_in_a_batch_job(connection, reference, tmp_path):
    udf = openeo.UDF.from_file(EXAMPLES / "rescale.py")
    job = _cube(connection).apply(process=udf).create_job(out_format="netCDF", title="udf")
    job.start_and_wait(max_poll_interval=1)
    (path,) = [p for p in job.get_results().download_files(tmp_path) if p.suffix == ".nc"]
    with xr.open_dataset(path) as ds:
        got = np.stack([ds[b].values for b in BANDS], axis=1)
    np.testing.assert_allclose(got, reference.values * 1e-4, rtol=1e-5, atol=1e-9, equal_nan=True)
