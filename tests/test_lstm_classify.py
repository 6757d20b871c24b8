"""lstm_classify: the README chain through the server, outputs, metadata, bad inputs, the
UDF in the client's local runner, the TimeSen2Crop loader and the training command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import openeo
import pytest
import rasterio
import requests
import xarray as xr
from PIL import Image

from core.classes import class_table
from helpers.jobs import assert_parameter_invalid
from helpers.reference import monthly_median
from helpers.timesen2crop import TILES
from helpers.timesen2crop import make as make_timesen2crop
from training import timesen2crop
from udfs import lstm_classify as lc

REPO = Path(__file__).resolve().parent.parent
UDF_FILE = REPO / "udfs" / "lstm_classify.py"
YEAR = ["2021-09-01", "2022-09-01"]
BANDS = [*lc.BANDS, "SCL"]


def _crop_map(connection, **kwargs):
    cube = connection.load_collection("SENTINEL2_L2A", temporal_extent=YEAR, bands=BANDS)
    composites = cube.process("monthly_composite", data=cube)
    return composites.process("lstm_classify", data=composites, **kwargs)


def _labels(connection, path: Path, box: dict | None = None) -> np.ndarray:
    connection.load_collection("CROP_LABELS", spatial_extent=box).download(path, format="GTiff")
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.fixture(scope="module")
def crop_map(server, tmp_path_factory):
    """The README chain on the whole test scene as a batch job, once:
    load -> composite -> classify -> GTiff; returns the file, the labels, the results."""
    connection = openeo.connect(server.url).authenticate_basic("alice", "alice-pw")
    folder = tmp_path_factory.mktemp("crop-map")
    job = _crop_map(connection).create_job(out_format="GTiff", title="crop map")
    job.start_and_wait(max_poll_interval=1)
    results = job.get_results()
    (path,) = [p for p in results.download_files(folder / "job") if p.suffix == ".tif"]
    return path, _labels(connection, folder / "labels.tif"), results.get_metadata()


def test_readme_chain_scores_against_the_label_raster(crop_map):
    path, labels, _ = crop_map
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "uint8" and src.count == 1 and src.nodata == 255
        classes = src.read(1)
        assert src.descriptions[0] == "class"
        tags = src.tags(1)
        colours = src.colormap(1)
    assert classes.shape == labels.shape
    crops = labels < 16
    accuracy = (classes[crops] == labels[crops]).mean()
    # A scene of another seed than the one the bundled model was trained on.
    assert accuracy > 0.9, accuracy
    assert tags["CLASS_2"] == "Maize" and tags["CLASS_12"] == "Winter wheat"
    assert colours[2][:3] == (0xF5, 0xC5, 0x18)


def test_confidence_and_probabilities(connection, tmp_path):
    box = {"west": 679720, "east": 680120, "south": 5151520, "north": 5151920, "crs": 32632}
    cube = connection.load_collection(
        "SENTINEL2_L2A", temporal_extent=YEAR, bands=BANDS, spatial_extent=box
    )
    composites = cube.process("monthly_composite", data=cube)
    result = composites.process(
        "lstm_classify", data=composites, output=["class", "confidence", "probabilities"]
    )
    result.download(tmp_path / "p.nc", format="netCDF")
    with xr.open_dataset(tmp_path / "p.nc") as ds:
        names = [v for v in ds.data_vars if v != "spatial_ref"]
        cls, conf = ds["class"].values, ds["confidence"].values
        proba = np.stack([ds[f"probability:{c}"].values for c in lc.bundled("demo").classes])
    assert names[:2] == ["class", "confidence"] and len(names) == 18
    np.testing.assert_allclose(proba.sum(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(conf, proba.max(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(cls, proba.argmax(axis=0))


def test_png_class_map_with_legend(connection, tmp_path):
    box = {"west": 679720, "east": 680120, "south": 5151520, "north": 5151920, "crs": 32632}
    cube = connection.load_collection(
        "SENTINEL2_L2A", temporal_extent=YEAR, bands=BANDS, spatial_extent=box
    )
    composites = cube.process("monthly_composite", data=cube)
    classes = composites.process("lstm_classify", data=composites)
    classes.download(tmp_path / "m.png", format="PNG")
    classes.download(tmp_path / "m.tif", format="GTiff")
    with rasterio.open(tmp_path / "m.tif") as src:
        ids = src.read(1)
    image = np.asarray(Image.open(tmp_path / "m.png").convert("RGB"))
    assert image.shape[0] >= ids.shape[0] and image.shape[1] > ids.shape[1] + 40  # legend
    table = {c["value"]: c["color_hint"] for c in class_table(lc.bundled("demo").classes)}
    for value in np.unique(ids):
        colour = tuple(int(table[int(value)][i : i + 2], 16) for i in (0, 2, 4))
        assert (image[: ids.shape[0], : ids.shape[1]][ids == value] == colour).all()


def test_job_result_carries_the_classes(crop_map):
    results = crop_map[2]
    assert any("classification" in e for e in results["stac_extensions"])
    (data,) = [a for a in results["assets"].values() if "data" in a["roles"]]
    bands = data["raster:bands"]
    classes = bands[0]["classification:classes"]
    assert classes[0] == {"value": 0, "name": "Legumes", "color_hint": "9C6ADE"}
    assert len(classes) == 16


@pytest.mark.parametrize(
    ("change", "parameter", "words"),
    [
        (
            {"temporal_extent": ["2022-06-01", "2022-06-20"], "composite": False},
            "data",
            "time steps",
        ),
        ({"bands": ["B04", "B08", "SCL"]}, "data", "lacks the band"),
        ({"model": "timesen2crop"}, "model", "is not one of ['demo']"),
        ({"output": ["class", "colour"]}, "output", "'colour' is not one of"),
        ({"engine": "tensorflow"}, "engine", "is not one of ['torch', 'onnxruntime']"),
    ],
)
def test_bad_inputs_get_openeo_errors(server, auth_headers, change, parameter, words):
    box = {"west": 679720, "east": 679920, "south": 5151720, "north": 5151920, "crs": 32632}
    graph = {
        "load": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": box,
                "temporal_extent": change.get("temporal_extent", YEAR),
                "bands": change.get("bands", BANDS),
            },
        },
        "mc": {"process_id": "monthly_composite", "arguments": {"data": {"from_node": "load"}}},
        "lc": {
            "process_id": "lstm_classify",
            "arguments": {
                "data": {"from_node": "mc" if change.get("composite", True) else "load"},
                **{k: change[k] for k in ("model", "output", "engine") if k in change},
            },
            "result": True,
        },
    }
    assert_parameter_invalid(server.url, auth_headers, graph, parameter, words)


def test_png_refuses_many_bands(server, auth_headers):
    box = {"west": 679720, "east": 679920, "south": 5151720, "north": 5151920, "crs": 32632}
    graph = {
        "load": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": box,
                "temporal_extent": ["2022-06-01", "2022-06-06"],
                "bands": ["B02", "B03", "B04", "B08"],
            },
        },
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "load"}, "format": "PNG"},
            "result": True,
        },
    }
    r = requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": graph}},
        headers=auth_headers,
        timeout=120,
    )
    assert r.status_code == 400 and r.json()["code"] == "FormatUnsupported", r.text


def _composite_cube(seed: int = 0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    data = rng.uniform(0.01, 0.5, size=(12, 9, 20, 30)).astype(np.float32)
    data[:, :, 0, 0] = np.nan
    return xr.DataArray(
        data,
        dims=("t", "bands", "y", "x"),
        coords={
            "t": np.arange("2021-09", "2022-09", dtype="datetime64[M]").astype("datetime64[ns]"),
            "bands": list(lc.BANDS),
            "y": np.arange(20.0),
            "x": np.arange(30.0),
        },
    )


def test_udf_file_runs_in_the_client_local_runner():
    from openeo.udf import execute_local_udf

    cube = _composite_cube()
    udf = openeo.UDF(UDF_FILE.read_text(), context={"output": ["class", "confidence"]})
    result = execute_local_udf(udf, cube).get_datacube_list()[0].get_array()
    direct = lc.classify(cube, "demo", ("class", "confidence"))
    assert list(result.bands.values) == ["class", "confidence"]
    np.testing.assert_allclose(result.values, direct.values, equal_nan=True)
    assert direct.values[0, 0, 0] == lc.CLASS_NODATA  # missing input -> no-data class


def test_chunked_equals_whole():
    cube = _composite_cube(1)
    whole = lc.classify(cube, "demo", ("class", "probabilities")).values
    chunked = lc.classify(cube.chunk({"y": 7, "x": 11}), "demo", ("class", "probabilities"))
    np.testing.assert_allclose(chunked.values, whole, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_onnxruntime_engine_equals_torch():
    cube = _composite_cube(2)
    torch_out = lc.classify(cube, "demo", ("probabilities",)).values
    onnx_out = lc.classify(
        cube.chunk({"y": 10}), "demo", ("probabilities",), engine="onnxruntime"
    ).values
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-5, equal_nan=True)


def test_timesen2crop_loader_reads_the_layout(tmp_path):
    root = make_timesen2crop(tmp_path / "ts2c", classes=3, per_class=5)
    samples = timesen2crop.load(root)
    assert samples.features.shape == (3 * 3 * 5, 12, 9)
    assert sorted(set(samples.groups)) == sorted(TILES)
    by_tile = {t: set(samples.split[samples.groups == t]) for t in TILES}
    assert by_tile == {"33UWP": {"train"}, "33TVN": {"val"}, "33UVP": {"test"}}
    # One pixel against an independent monthly median of its clear rows (B04 = column B4).
    tile = root / "33UWP"
    dates = [line for line in (tile / "dates.csv").read_text().split()[1:]]
    times = np.array([np.datetime64(f"{d[:4]}-{d[4:6]}-{d[6:]}") for d in dates])
    rows = np.loadtxt(tile / "1" / "3.csv", delimiter=",", skiprows=1)
    expected = monthly_median(
        rows[:, 2][:, None, None],
        (rows[:, 9] == 0)[:, None, None],
        list(times),
        "2017-09",
        12,
        fill=True,
    )[:, 0, 0]
    got = samples.features[(samples.groups == "33UWP") & (samples.labels == 1)][3, :, 2]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert samples.labels.tolist().count(2) == 15


def test_timesen2crop_loader_names_a_broken_file(tmp_path):
    root = make_timesen2crop(tmp_path / "ts2c", classes=1, per_class=2)
    bad = root / "33TVN" / "0" / "1.csv"
    bad.write_text(bad.read_text().replace("B11", "B10"))
    with pytest.raises(ValueError, match="1.csv: expected columns"):
        timesen2crop.load(root)


def test_train_command_writes_model_card_metrics_and_figure(tmp_path):
    root = make_timesen2crop(tmp_path / "ts2c", classes=3, per_class=40)
    out = tmp_path / "model"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "train",
            "lstm",
            "--dataset",
            f"timesen2crop:{root}",
            "--out",
            str(out),
            "--epochs",
            "30",
            "--batch-size",
            "8",
            "--lr",
            "0.01",
            "--hidden",
            "16",
            "--layers",
            "1",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "LSTM" in run.stdout and "random forest" in run.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["test"] == {"pixels": 120, "groups": 1}
    assert metrics["metrics"]["LSTM"]["overall_accuracy"] > 0.9  # three separable curves
    card = (out / "MODEL_CARD.md").read_text()
    assert f"TimeSen2Crop at {root}" in card and "33UVP" in card
    assert Image.open(out / "confusion_matrix.png").size[0] > 300
    model = lc.LSTMModel.load(out / "model.pt")
    assert model.network.config["hidden"] == 16 and model.classes[2] == "Maize"


TRAIN_BOX = {"west": 679720, "east": 680680, "south": 5151080, "north": 5151920, "crs": 32632}


def test_train_through_openeo_then_classify_with_the_job_model(connection, tmp_path):
    """Composites -> fit_lstm_classifier (batch job) -> load_ml_model -> lstm_classify."""
    from openeo.internal.graph_building import PGNode
    from openeo.rest.mlmodel import MlModel

    cube = connection.load_collection(
        "SENTINEL2_L2A", temporal_extent=YEAR, bands=BANDS, spatial_extent=TRAIN_BOX
    )
    composites = cube.process("monthly_composite", data=cube)
    labels = connection.load_collection("CROP_LABELS", spatial_extent=TRAIN_BOX)
    fitted = MlModel(
        PGNode(
            "fit_lstm_classifier",
            predictors=composites,
            target=labels,
            epochs=80,
            hidden=32,
            layers=1,
            seed=1,
        ),
        connection=connection,
    )
    job = fitted.create_job(title="fit")
    job.start_and_wait(max_poll_interval=1)
    results = job.get_results().get_metadata()
    asset = results["assets"]["model.pt"]
    assert "mlm:model" in asset["roles"] and asset["mlm:architecture"] == "LSTM"
    assert asset["mlm:input"][0]["bands"] == list(lc.BANDS)
    assert any("mlm" in e for e in results["stac_extensions"])

    for ref in (job.job_id, asset["href"]):  # by job id, and by the signed asset URL
        classified = composites.process(
            "lstm_classify", data=composites, model=connection.load_ml_model(ref)
        )
        classified.download(tmp_path / "own.tif", format="GTiff")
        with rasterio.open(tmp_path / "own.tif") as src:
            classes = src.read(1)
        truth = _labels(connection, tmp_path / "l.tif", TRAIN_BOX)
        assert truth.shape == classes.shape
        crops = truth < 16
        # Trained and scored on the same small area: it must have learnt the fields.
        assert (classes[crops] == truth[crops]).mean() > 0.8


def test_load_ml_model_bad_references(server, auth_headers, connection):
    other = openeo.connect(server.url).authenticate_basic("bob", "bob-pw")
    job = other.load_collection("CROP_LABELS").create_job(out_format="GTiff")
    for ref, words in (
        (job.job_id, "no job"),
        ("j-doesnotexist", "no job"),
        (f"{server.url}/nothing.pt", "is not allowed here"),
    ):
        graph = {"m": {"process_id": "load_ml_model", "arguments": {"id": ref}, "result": True}}
        r = requests.post(
            f"{server.url}/result",
            json={"process": {"process_graph": graph}},
            headers=auth_headers,
            timeout=60,
        )
        assert r.status_code == 400 and r.json()["code"] == "ProcessParameterInvalid", r.text
        assert words in r.json()["message"]


def test_fit_refuses_a_target_off_the_grid(server, auth_headers):
    small = {**TRAIN_BOX, "east": TRAIN_BOX["west"] + 200}
    graph = {
        "s2": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": small,
                "temporal_extent": YEAR,
                "bands": BANDS,
            },
        },
        "mc": {"process_id": "monthly_composite", "arguments": {"data": {"from_node": "s2"}}},
        "lab": {
            "process_id": "load_collection",
            "arguments": {
                "id": "CROP_LABELS",
                "spatial_extent": TRAIN_BOX,
                "temporal_extent": None,
            },
        },
        "fit": {
            "process_id": "fit_lstm_classifier",
            "arguments": {"predictors": {"from_node": "mc"}, "target": {"from_node": "lab"}},
            "result": True,
        },
    }
    r = requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": graph}},
        headers=auth_headers,
        timeout=120,
    )
    assert r.status_code == 400 and "predictors' grid" in r.json()["message"], r.text


def test_fit_on_geojson_parcels_synchronously(server, auth_headers, demo_catalog):
    """A GeoJSON target (the demo's parcels, EPSG:4326); POST /result returns the model file."""
    import io

    import torch

    parcels = json.loads(
        (demo_catalog.parent / "CROP_LABELS" / "labels" / "parcels.geojson").read_text()
    )
    graph = {
        "s2": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": TRAIN_BOX,
                "temporal_extent": YEAR,
                "bands": BANDS,
            },
        },
        "mc": {"process_id": "monthly_composite", "arguments": {"data": {"from_node": "s2"}}},
        "fit": {
            "process_id": "fit_lstm_classifier",
            "arguments": {
                "predictors": {"from_node": "mc"},
                "target": parcels,
                "epochs": 3,
                "hidden": 8,
                "layers": 1,
            },
            "result": True,
        },
    }
    r = requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": graph}},
        headers=auth_headers,
        timeout=300,
    )
    assert r.status_code == 200, r.text
    model = lc.LSTMModel.from_dict(torch.load(io.BytesIO(r.content), weights_only=True))
    assert model.network.config["hidden"] == 8 and model.classes[12] == "Winter wheat"
    assert model.meta["source"] == "fit_lstm_classifier (openEO)"
    bad = {**graph["fit"]["arguments"], "target_property": "crop"}
    r = requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": {**graph, "fit": {**graph["fit"], "arguments": bad}}}},
        headers=auth_headers,
        timeout=300,
    )
    assert r.status_code == 400 and "no property 'crop'" in r.json()["message"], r.text
