"""ndvi_forecast: forecasts and gap filling through the server scored against NDVI read
straight from the COGs, outputs and metadata, bad inputs, the UDF in the client's local
runner, the training pieces, the train command and training through openEO."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import openeo
import pytest
import requests
import xarray as xr

from helpers.jobs import assert_parameter_invalid
from helpers.reference import read_stack
from helpers.scene import TEST_BOX
from training.ndvi_lstm import sample_windows
from udfs import ndvi_forecast as nf

REPO = Path(__file__).resolve().parent.parent
UDF_FILE = REPO / "udfs" / "ndvi_forecast.py"
MASK = (0, 1, 3, 8, 9, 10, 11)
SMALL = {"west": 679720, "east": 680120, "south": 5151520, "north": 5151920, "crs": 32632}


def _monthly_truth(
    catalog: Path, start: str, end: str, box: dict, max_cloud: float = 100, track: int | None = None
) -> np.ndarray:
    """Monthly mean NDVI of clear observations, by hand from the COGs: (months, y, x);
    only scenes with eo:cloud_cover <= max_cloud (and of one relative orbit)."""
    times, stack = read_stack(catalog, start, end, box, ["B04", "B08", "SCL"])
    props = {
        p["datetime"][:19]: p
        for p in (
            json.loads(f.read_text())["properties"]
            for f in (catalog.parent / "SENTINEL2_L2A").glob("*/*.json")
        )
    }
    ndvi = (stack["B08"] - stack["B04"]) / (stack["B08"] + stack["B04"])
    ndvi[np.isin(stack["SCL"], MASK)] = np.nan
    item = [props[t.strftime("%Y-%m-%dT%H:%M:%S")] for t in times]
    ndvi[
        [
            p["eo:cloud_cover"] > max_cloud or track not in (None, p["sat:relative_orbit"])
            for p in item
        ]
    ] = np.nan
    month = np.array([(t.year - int(start[:4])) * 12 + t.month - int(start[5:7]) for t in times])
    out = np.full((month.max() + 1,) + ndvi.shape[1:], np.nan)
    for m in range(month.max() + 1):
        clear = np.isfinite(ndvi[month == m])
        total = np.nansum(ndvi[month == m], axis=0)
        out[m] = np.where(clear.any(axis=0), total / np.maximum(clear.sum(axis=0), 1), np.nan)
    return out


def _persistence(series: np.ndarray) -> np.ndarray:
    """The last clear month of each pixel: (months, y, x) -> (y, x)."""
    last = np.full(series.shape[1:], np.nan)
    for month in series:
        last = np.where(np.isfinite(month), month, last)
    return last


def test_forecast_beats_persistence_on_an_unseen_scene(connection, demo_catalog, tmp_path):
    """A year of the test scene (another seed than the demo model's) -> September 2022."""
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        temporal_extent=["2021-09-01", "2022-09-01"],
        bands=["B04", "B08", "SCL"],
        spatial_extent=TEST_BOX,
    )
    cube.process("ndvi_forecast", data=cube, horizon=2, model="demo", uncertainty=True).download(
        tmp_path / "f.nc", format="netCDF"
    )
    with xr.open_dataset(tmp_path / "f.nc") as ds:
        assert [str(t)[:10] for t in ds["t"].values] == ["2022-09-01", "2022-10-01"]
        assert {"NDVI", "NDVI_q10", "NDVI_q90"} <= set(ds.data_vars)
        ndvi, q10, q90 = (ds[b].values for b in ("NDVI", "NDVI_q10", "NDVI_q90"))
    history = _monthly_truth(demo_catalog, "2021-09-01", "2022-09-01", TEST_BOX)
    truth = _monthly_truth(demo_catalog, "2022-09-01", "2022-11-01", TEST_BOX)
    assert ndvi.shape == truth.shape
    assert (q10 <= ndvi + 1e-6).all() and (ndvi <= q90 + 1e-6).all()
    ok = np.isfinite(truth[0])
    assert ok.mean() > 0.3
    model_mae = np.abs(ndvi[0][ok] - truth[0][ok]).mean()
    persistence_mae = np.abs(_persistence(history)[ok] - truth[0][ok]).mean()
    print(f"September 2022: model MAE {model_mae:.4f}, persistence {persistence_mae:.4f}")
    assert model_mae < 0.8 * persistence_mae, (model_mae, persistence_mae)
    inside = (truth[0][ok] >= q10[0][ok]) & (truth[0][ok] <= q90[0][ok])
    print(f"inside the 10-90 % range: {inside.mean():.3f}")
    # measured 0.91 (calibrated; 0.90 in the network's own range): most, not all
    assert 0.75 < inside.mean() < 0.97, inside.mean()


def test_default_forecast_of_one_season_is_no_worse_than_persistence(
    connection, demo_catalog, tmp_path
):
    """The issue's user: June to August of one season (the fields being harvested), the
    default model, September asked for; scored against September's clear observations
    beside persistence of the last clear month, on the test scene (never trained on)."""
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        temporal_extent=["2022-06-01", "2022-09-01"],
        bands=["B04", "B08", "SCL"],
        spatial_extent=TEST_BOX,
    )
    cube.process("ndvi_forecast", data=cube, horizon=1, uncertainty=True).download(
        tmp_path / "f.nc", format="netCDF"
    )
    with xr.open_dataset(tmp_path / "f.nc") as ds:
        assert [str(t)[:10] for t in ds["t"].values] == ["2022-09-01"]
        ndvi, q10, q90 = (ds[b].values[0] for b in ("NDVI", "NDVI_q10", "NDVI_q90"))
    history = _monthly_truth(demo_catalog, "2022-06-01", "2022-09-01", TEST_BOX)
    truth = _monthly_truth(demo_catalog, "2022-09-01", "2022-10-01", TEST_BOX)[0]
    ok = np.isfinite(truth) & np.isfinite(history).any(axis=0)
    assert ok.mean() > 0.3
    model_mae = np.abs(ndvi[ok] - truth[ok]).mean()
    persistence_mae = np.abs(_persistence(history)[ok] - truth[ok]).mean()
    inside = ((q10[ok] <= truth[ok]) & (truth[ok] <= q90[ok])).mean()
    print(f"one season -> September: default {model_mae:.4f}, persistence {persistence_mae:.4f}")
    print(f"inside the 10-90 % range: {inside:.3f}")
    # measured 0.0796 against 0.1086 (0.73); 80 % inside the range calibrated on the
    # cube's June-July -> August (76 % inside the network's own range)
    assert model_mae < 0.85 * persistence_mae, (model_mae, persistence_mae)
    assert 0.75 < inside < 0.9, inside


def test_gapfill_keeps_clear_months_and_fills_the_rest(connection, demo_catalog, tmp_path):
    """A year of one track's scenes under 20 % cloud only: January 2022 has none, other
    months lose pixels; the gaps are filled and scored against all clear observations of
    those months (both tracks)."""
    period = ["2021-09-01", "2022-09-01"]
    cube = connection.load_collection(
        "SENTINEL2_L2A",
        temporal_extent=period,
        bands=["B04", "B08", "SCL"],
        spatial_extent=SMALL,
        properties={"eo:cloud_cover": lambda v: v <= 20, "sat:relative_orbit": lambda v: v == 22},
    )
    cube.process(
        "ndvi_forecast", data=cube, mode="gapfill", model="demo", uncertainty=True
    ).download(tmp_path / "g.nc", format="netCDF")
    with xr.open_dataset(tmp_path / "g.nc") as ds:
        assert [str(t)[:7] for t in ds["t"].values] == [
            str(m) for m in np.arange("2021-09", "2022-09", dtype="datetime64[M]")
        ]
        filled, q10, q90 = (ds[b].values for b in ("NDVI", "NDVI_q10", "NDVI_q90"))
    seen = _monthly_truth(demo_catalog, *period, SMALL, max_cloud=20, track=22)
    truth = _monthly_truth(demo_catalog, *period, SMALL)
    kept = np.isfinite(seen)
    assert not kept[4].any() and 0.3 < kept.mean() < 0.95  # January is one gap
    np.testing.assert_allclose(filled[kept], seen[kept], atol=1e-5)
    assert (q10[kept] == filled[kept]).all() and (q90[kept] == filled[kept]).all()
    assert np.isfinite(filled).all() and (np.abs(filled) <= 1).all()
    gap = ~kept & np.isfinite(truth)
    inside = ((q10[gap] <= truth[gap]) & (truth[gap] <= q90[gap])).mean()
    print(f"gaps inside the calibrated 10-90 % range: {inside:.3f}")
    assert 0.75 < inside < 0.95, inside  # measured 0.87 (0.77 in the network's own range)
    days = (
        np.arange("2021-09", "2022-09", dtype="datetime64[M]").astype("datetime64[D]")
        - np.datetime64("2021-09-01")
    ).astype(float)
    linear = np.full(seen.shape, np.nan)
    for yy, xx in np.ndindex(*seen.shape[1:]):
        ok = kept[:, yy, xx]
        linear[:, yy, xx] = np.interp(days, days[ok], seen[ok, yy, xx])
    model_mae = np.abs(filled[gap] - truth[gap]).mean()
    linear_mae = np.abs(linear[gap] - truth[gap]).mean()
    print(f"{gap.sum()} gaps: model MAE {model_mae:.4f}, linear {linear_mae:.4f}")
    # January between two observed months, in a simulated winter: linear interpolation is
    # hard to beat here (README: 0.0213 against 0.0194); the model must stay close to it.
    assert model_mae < min(1.25 * linear_mae, 0.03), (model_mae, linear_mae)


def test_ndvi_band_red_nir_and_scl_masking_agree():
    rng = np.random.default_rng(0)
    times = np.array(
        ["2022-01-03", "2022-01-20", "2022-02-11", "2022-03-02", "2022-03-30"],
        dtype="datetime64[ns]",
    )
    red = rng.uniform(0.02, 0.1, (5, 4, 6)).astype(np.float32)
    nir = rng.uniform(0.2, 0.5, (5, 4, 6)).astype(np.float32)
    scl = np.full((5, 4, 6), 4.0, np.float32)
    scl[1] = 9  # a cloudy date: its NDVI must not count
    coords = {"t": times, "y": np.arange(4.0), "x": np.arange(6.0)}
    raw = xr.DataArray(
        np.stack([red, nir, scl], 1),
        dims=("t", "bands", "y", "x"),
        coords={**coords, "bands": ["B04", "B08", "SCL"]},
    )
    ndvi = (nir - red) / (nir + red)
    with_ndvi = xr.DataArray(
        ndvi[:, None], dims=("t", "bands", "y", "x"), coords={**coords, "bands": ["NDVI"]}
    )
    series = nf.monthly(nf.ndvi_of(raw))
    np.testing.assert_allclose(series.values[0], ndvi[0], rtol=1e-6)  # January: date 0 only
    np.testing.assert_allclose(series.values[2], (ndvi[3] + ndvi[4]) / 2, rtol=1e-6)
    a = nf.forecast(raw, "eolearn", horizon=2).values
    only_clear = nf.forecast(with_ndvi.isel(t=[0, 2, 3, 4]), "eolearn", horizon=2).values
    np.testing.assert_allclose(a, only_clear, rtol=1e-5)


def _ndvi_cube(months: int = 20, seed: int = 0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    data = (
        0.5
        + 0.3 * np.sin(2 * np.pi * t / 12)[:, None, None]
        + rng.normal(0, 0.03, (months, 12, 17))
    )
    data[rng.random(data.shape) < 0.3] = np.nan
    data[:, 0, 0] = np.nan  # never clear
    return xr.DataArray(
        data[:, None].astype(np.float32),
        dims=("t", "bands", "y", "x"),
        coords={
            "t": (np.datetime64("2020-03", "M") + t).astype("datetime64[ns]"),
            "bands": ["NDVI"],
            "y": np.arange(12.0),
            "x": np.arange(17.0),
        },
    )


@pytest.mark.parametrize("mode", ["forecast", "gapfill"])
def test_chunked_equals_whole(mode):
    cube = _ndvi_cube()
    whole = nf.forecast(cube, "eolearn", 4, mode, uncertainty=True)
    chunked = nf.forecast(cube.chunk({"y": 5, "x": 6}), "eolearn", 4, mode, uncertainty=True)
    np.testing.assert_allclose(chunked.values, whole.values, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert np.isnan(whole.values[:, :, 0, 0]).all()  # no clear month: no prediction
    assert np.isfinite(whole.values[:, :, 1:, 1:]).all()


def test_short_and_long_cubes():
    """3 months (shorter than the 12-month history) and 40 months (several windows)."""
    short = nf.forecast(_ndvi_cube(3), "eolearn", 6)
    assert short.sizes["t"] == 6 and str(short["t"].values[0])[:7] == "2020-06"
    long = nf.forecast(_ndvi_cube(40), "eolearn", mode="gapfill")
    assert long.sizes["t"] == 40 and np.isfinite(long.values[:, :, 1:, 1:]).all()


def test_udf_file_runs_in_the_client_local_runner():
    from openeo.udf import execute_local_udf

    cube = _ndvi_cube()
    udf = openeo.UDF(UDF_FILE.read_text(), context={"horizon": 3, "uncertainty": True})
    result = execute_local_udf(udf, cube).get_datacube_list()[0].get_array()
    direct = nf.forecast(cube, horizon=3, uncertainty=True)  # both: the default model
    assert list(result.bands.values) == ["NDVI", "NDVI_q10", "NDVI_q90"]
    np.testing.assert_allclose(result.values, direct.values, equal_nan=True)


def test_interpolation_input_by_hand():
    values = np.array([[np.nan, 0.2, np.nan, np.nan, 0.5, np.nan], [np.nan] * 6])
    got = nf.interpolate(values)
    np.testing.assert_allclose(got[0], [0.2, 0.2, 0.3, 0.4, 0.5, 0.5])
    np.testing.assert_array_equal(got[1], np.zeros(6))


def test_training_windows_hide_only_clear_months():
    rng = np.random.default_rng(0)
    series = rng.uniform(0, 1, (50, 30)).astype(np.float32)
    series[rng.random(series.shape) < 0.3] = np.nan
    inputs, targets, calendar = sample_windows(series, 2, rng, 4000, history=12)
    assert inputs.shape == targets.shape == calendar.shape == (4000, 18)
    hidden = np.isfinite(targets)
    assert not np.isfinite(inputs[hidden]).any()  # a target is never an input
    forecast = hidden[:, 12:].any(axis=1) & ~hidden[:, :12].any(axis=1)
    assert 0.4 < forecast.mean() < 0.6  # about half the windows forecast
    gap_share = hidden[~forecast].sum() / (hidden | np.isfinite(inputs))[~forecast].sum()
    assert 0.15 < gap_share < 0.35, gap_share
    assert set(np.unique(calendar)) == set(range(12))


@pytest.mark.parametrize(
    ("change", "parameter", "words"),
    [
        ({"horizon": 0}, "horizon", "less than the minimum of 1"),
        ({"horizon": 7}, "horizon", "greater than the maximum of 6"),
        ({"horizon": "3"}, "horizon", "is not of type integer"),
        ({"mode": "hindcast"}, "mode", "is not one of ['forecast', 'gapfill']"),
        ({"model": "timesen2crop"}, "model", "is not one of ['mixed', 'eolearn', 'demo']"),
        ({"uncertainty": "yes"}, "uncertainty", "is not of type boolean"),
        ({"bands": ["B02", "SCL"]}, "data", "red (B04) and near-infrared"),
    ],
)
def test_bad_inputs_get_openeo_errors(server, auth_headers, change, parameter, words):
    graph = {
        "load": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": SMALL,
                "temporal_extent": ["2022-01-01", "2022-06-01"],
                "bands": change.get("bands", ["B04", "B08", "SCL"]),
            },
        },
        "nf": {
            "process_id": "ndvi_forecast",
            "arguments": {
                "data": {"from_node": "load"},
                **{k: v for k, v in change.items() if k != "bands"},
            },
            "result": True,
        },
    }
    assert_parameter_invalid(server.url, auth_headers, graph, parameter, words)


def test_train_command_writes_model_card_and_evaluation(tmp_path):
    out = tmp_path / "model"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "train",
            "ndvi",
            "--dataset",
            "eolearn",
            "--out",
            str(out),
            "--epochs",
            "2",
            "--steps",
            "20",
            "--hidden",
            "8",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("pixel-disjoint", "time-disjoint"):
        row = metrics["evaluation"][split]["forecast"]["1"]
        assert row["lstm"]["n"] == row["persistence"]["n"] > 10000
        assert metrics["evaluation"][split]["gapfill"]["linear"]["n"] > 1000
        # As a user meets it: short histories too, beside the product's baselines.
        by_history = metrics["evaluation"][split]["by_history"]
        assert {"2", "3", "6", "12"} <= set(by_history)
        row = by_history["2"]["1"]
        assert {"lstm", "persistence", "damped_trend", "seasonal"} == set(row["mae"])
        assert row["n"] > 1000 and 0 < row["coverage"]["lstm"] < 1
    card = (out / "MODEL_CARD.md").read_text()
    assert "eo-learn example patch" in card and "| time-disjoint | 6 |" in card
    assert "**time-disjoint**: MAE of lstm" in card and "| 2 months |" in card
    model = nf.NDVIModel.load(out / "model.pt")
    assert model.network.config["hidden"] == 8 and model.meta["data"]["months"]


def test_train_through_openeo_then_forecast_with_the_job_model(
    connection, server, auth_headers, tmp_path
):
    """fit_ndvi_forecaster (batch job) -> model.pt with MLM -> load_ml_model -> forecast."""
    from openeo.internal.graph_building import PGNode
    from openeo.rest.mlmodel import MlModel

    cube = connection.load_collection(
        "SENTINEL2_L2A",
        temporal_extent=["2021-09-01", "2022-12-31"],
        bands=["B04", "B08", "SCL"],
        spatial_extent=SMALL,
    )
    fitted = MlModel(
        PGNode("fit_ndvi_forecaster", data=cube, epochs=2, hidden=8, seed=1), connection=connection
    )
    job = fitted.create_job(title="fit ndvi")
    job.start_and_wait(max_poll_interval=1)
    asset = job.get_results().get_metadata()["assets"]["model.pt"]
    assert asset["mlm:tasks"] == ["regression"] and asset["mlm:input"][0]["bands"] == ["NDVI"]
    forecast = cube.process(
        "ndvi_forecast", data=cube, horizon=1, model=connection.load_ml_model(job.job_id)
    )
    forecast.download(tmp_path / "own.nc", format="netCDF")
    with xr.open_dataset(tmp_path / "own.nc") as ds:
        assert str(ds["t"].values[0])[:7] == "2023-01"
        assert np.isfinite(ds["NDVI"].values).mean() > 0.9
    # An NDVI model in lstm_classify is refused, not crashed on.
    graph = {
        "m": {"process_id": "load_ml_model", "arguments": {"id": job.job_id}},
        "s2": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": SMALL,
                "temporal_extent": ["2021-09-01", "2022-09-01"],
                "bands": ["B04", "SCL"],
            },
        },
        "c": {
            "process_id": "lstm_classify",
            "arguments": {"data": {"from_node": "s2"}, "model": {"from_node": "m"}},
            "result": True,
        },
    }
    r = requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": graph}},
        headers=auth_headers,
        timeout=120,
    )
    assert r.status_code == 400 and r.json()["code"] == "ProcessParameterInvalid", r.text
    assert "NDVIModel, not a crop classifier (fit_lstm_classifier)" in r.json()["message"]


def test_fit_refuses_a_short_cube(server, auth_headers):
    graph = {
        "s2": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": SMALL,
                "temporal_extent": ["2022-01-01", "2022-06-01"],
                "bands": ["B04", "B08", "SCL"],
            },
        },
        "fit": {
            "process_id": "fit_ndvi_forecaster",
            "arguments": {"data": {"from_node": "s2"}},
            "result": True,
        },
    }
    r = requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": graph}},
        headers=auth_headers,
        timeout=120,
    )
    assert r.status_code == 400 and "at least 12 are needed" in r.json()["message"], r.text
