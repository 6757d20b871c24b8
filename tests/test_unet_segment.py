"""unet_segment: tiling without seams, edges, the UDF in the client's local runner, the
U-Net's configurations, and the training pieces (label thinning, scores, SimSiam)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openeo
import pytest
import torch
import xarray as xr

from helpers.jobs import assert_parameter_invalid
from helpers.scene import TEST_BOX
from training import unet as tu
from training.config import SSLConfig
from training.unet_data import Scene
from udfs import unet_segment as us

REPO = Path(__file__).resolve().parent.parent
UDF_FILE = REPO / "udfs" / "unet_segment.py"


def _model(times: int = 1, classes: int = 4, seed: int = 0, **kwargs) -> us.UNetModel:
    torch.manual_seed(seed)
    net = us.UNet(times * len(us.BANDS), classes, **{"widths": (8, 16, 32), **kwargs})
    with torch.no_grad():  # untrained but not trivial: spread the batch-norm statistics
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return us.UNetModel(net, [f"class {i}" for i in range(classes)], us.BANDS, times)


def _cube(ny: int = 300, nx: int = 260, times: int | None = None, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = ((times,) if times else ()) + (len(us.BANDS), ny, nx)
    data = rng.uniform(0, 0.5, shape).astype(np.float32)
    data[..., 5, 7] = np.nan
    dims = (("t",) if times else ()) + ("bands", "y", "x")
    coords = {"bands": list(us.BANDS), "y": np.arange(ny) * -10.0, "x": np.arange(nx) * 10.0}
    if times:
        coords["t"] = np.arange("2022-01", "2023-01", dtype="datetime64[M]")[:times].astype(
            "datetime64[ns]"
        )
    return xr.DataArray(data, dims=dims, coords=coords)


@pytest.mark.parametrize(("tile", "overlap"), [(64, 16), (32, 0), (128, 64)])
def test_one_chunk_equals_many_no_seams(tile, overlap):
    model, cube = _model(), _cube()
    whole = us.segment(cube, model, ("class", "probabilities"), tile, overlap).values
    chunks = cube.chunk({"y": 37, "x": 100})
    for block_px in (None, 64):  # the cube's 9 x 3 odd chunks; 64 px blocks
        chunked = us.segment(
            chunks, model, ("class", "probabilities"), tile, overlap, block_px
        ).values
        np.testing.assert_allclose(chunked, whole, atol=1e-6, equal_nan=True)
    assert whole[0, 5, 7] == us.CLASS_NODATA and np.isnan(whole[1:, 5, 7]).all()
    probs = whole[1:]
    ok = np.isfinite(probs).all(axis=0)
    np.testing.assert_allclose(probs.sum(axis=0)[ok], 1.0, atol=1e-5)
    assert ok.sum() == cube.sizes["y"] * cube.sizes["x"] - 1


def test_blending_smooths_tile_edges():
    """Without overlap the probabilities jump where tiles meet (the network sees no
    context across the edge); with overlap and blending the jump there is like any other
    step between neighbouring pixels."""
    model, cube = _model(seed=3), _cube(256, 256, seed=3)
    hard = us.segment(cube, model, ("probabilities",), 64, 0).values
    soft = us.segment(cube, model, ("probabilities",), 64, 32).values
    edge = lambda p: np.nanmean(np.abs(p[:, 63, :] - p[:, 64, :]))  # noqa: E731
    inner = lambda p: np.nanmean(np.abs(p[:, 31, :] - p[:, 32, :]))  # noqa: E731
    assert edge(hard) > 1.5 * inner(hard)  # a visible seam where tiles meet
    assert edge(soft) < 1.2 * inner(soft)  # blended away


def test_tile_grid_and_weights_by_hand():
    assert us.tile_origins(300, 64, 16) == [0, 48, 96, 144, 192, 236]
    assert us.tile_origins(64, 64, 16) == [0] and us.tile_origins(20, 64, 16) == [0]
    w = us.blend_weights(8, 2)
    np.testing.assert_allclose(w[0, :], [0.0625, 0.1875, 0.25, 0.25, 0.25, 0.25, 0.1875, 0.0625])
    assert w[4, 4] == 1.0


def test_cube_smaller_than_a_tile_and_several_dates():
    small = us.segment(_cube(20, 30), _model(), ("probabilities",), 64, 16).values
    assert small.shape == (4, 20, 30) and np.isfinite(small).sum() == 4 * (600 - 1)
    stacked = _model(times=3)
    out = us.segment(_cube(40, 40, times=3).chunk({"x": 20}), stacked, ("class",), 32, 8)
    assert out.dtype == np.uint8 and out.shape == (1, 40, 40)
    with pytest.raises(ValueError, match="1 time step"):
        us.segment(_cube(40, 40), stacked)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_configurations_and_multilabel(norm):
    model = _model(classes=3, norm=norm, dropout=0.2, widths=(4, 8), multilabel=True)
    probs = us.segment(_cube(50, 50), model, ("probabilities", "confidence"), 16, 4).values
    assert probs.shape == (4, 50, 50)
    ok = np.isfinite(probs[0])
    assert not np.allclose(probs[:3].sum(axis=0)[ok], 1.0)  # sigmoids: independent classes
    with pytest.raises(ValueError, match="not a class"):
        us.segment(_cube(50, 50), model, ("class",), 16, 4)


def test_udf_file_runs_in_the_client_local_runner(tmp_path):
    from openeo.udf import execute_local_udf

    model = _model()
    model.save(tmp_path / "m.pt")
    cube = _cube(100, 90)
    udf = openeo.UDF(
        UDF_FILE.read_text(),
        context={
            "model": str(tmp_path / "m.pt"),
            "output": ["class", "confidence"],
            "tile_size": 32,
            "overlap": 8,
        },
    )
    result = execute_local_udf(udf, cube).get_datacube_list()[0].get_array()
    direct = us.segment(cube, model, ("class", "confidence"), 32, 8)
    assert list(result.bands.values) == ["class", "confidence"]
    np.testing.assert_allclose(result.values, direct.values, atol=1e-6, equal_nan=True)


def test_label_thinning_scores_and_simsiam_by_hand():
    labels = np.full((64, 96), 255)
    labels[:40, :70] = 1
    kept = tu.keep_fraction(labels, 0.34, seed=0)
    blocks = {(r // 32, c // 32) for r, c in zip(*np.nonzero(kept != 255), strict=True)}
    assert len(blocks) == 2 and set(np.unique(kept)) == {1, 255}  # of 6 labelled blocks
    truth = np.array([[0, 0, 1, 255]])
    scores = tu.iou_scores(truth, np.array([[0, 1, 1, 0]]), ["a", "b", "c"])
    assert scores["iou_per_class"] == {"a": 0.5, "b": 0.5} and scores["miou"] == 0.5
    assert scores["overall_accuracy"] == 2 / 3
    rng = np.random.default_rng(0)
    scene = Scene(
        rng.uniform(0, 0.5, (20, 120, 64)).astype(np.float32),
        rng.integers(0, 3, (120, 64)),
        ["a", "b", "c"],
        bands=tuple("abcdefghij"),
        times=2,
    )
    net, history = tu.fit_simsiam(
        scene, SSLConfig(widths="4,8", patch=16, batch_size=8, steps=3, epochs=2)
    )
    assert len(history) == 2 and -1 <= history[-1]["loss"] <= 1
    assert net.config["in_channels"] == 20 and float(net.std.min()) > 0


def test_simsiam_views_shift_the_season_and_fine_tuning_takes_the_encoder():
    """A view blends each month with its neighbour by at most `time_shift` and scales all
    channels by one gain; a backbone gives the fine-tuning its encoder and normalisation,
    not its untrained decoder."""
    months = np.arange(1.0, 4.0).repeat(2)[:, None, None] * np.ones((6, 2, 2))  # 3 x 2 bands
    plain = SSLConfig(time_shift=0.0, gain=0.0, noise=0.0)
    assert np.allclose(tu._view(months, 3, plain, np.random.default_rng(0)), months)
    rng, largest = np.random.default_rng(1), 0.0
    for _ in range(20):
        view = tu._view(months, 3, SSLConfig(time_shift=0.3, gain=0.0, noise=0.0), rng)
        largest = max(largest, float(np.abs(view - months).max()))
        assert np.allclose(view[0::2], view[1::2])  # both bands of a month alike
    assert 0.1 < largest <= 0.3 + 1e-9
    gained = tu._view(months, 3, SSLConfig(time_shift=0.0, gain=0.15, noise=0.0), rng)
    ratio = gained / months
    assert np.allclose(ratio, ratio.flat[0]) and 0.85 <= ratio.flat[0] <= 1.15
    net = us.UNet(20, 3, (4, 8))
    part = tu.pretrained_part(us.UNetModel(net, ["a", "b", "c"], tuple("abcdefghij"), 2))
    assert {"mean", "std"} <= set(part) and any(k.startswith("encoder.") for k in part)
    assert not any(k.startswith(("up.", "decode.", "head.")) for k in part)


def test_labels_cut_at_each_labels_threshold_and_the_dates_choose_the_model():
    """Labels are 1 from each label's own threshold, 255 where the input is missing; the
    cube's number of dates picks the bundled model, other numbers are refused."""
    proba = np.array([[[0.2, 0.6, 0.9]], [[0.9, 0.1, 0.1]]], np.float32)  # 2 labels, 1 x 3
    proba[:, 0, 2] = np.nan
    labels = us._outputs(proba, ("labels",), np.array([0.5, 0.05], np.float32))
    assert labels.dtype == np.uint8 and labels[:, 0].tolist() == [[0, 1, 255], [1, 1, 255]]
    both = us._outputs(proba, ("labels", "probabilities"), np.array([0.5, 0.5], np.float32))
    assert both.dtype == np.float32 and np.isnan(both[:, 0, 2]).all()
    assert both[:2, 0, :2].tolist() == [[0, 1], [1, 0]]
    assert us.default_model(_cube(40, 40)) == "scene_demo"
    assert us.default_model(_cube(40, 40, times=12)) == "demo"
    with pytest.raises(ValueError, match="3 time step"):
        us.default_model(_cube(40, 40, times=3))
    model = _model(classes=3, multilabel=True)
    model.meta["thresholds"] = [0.3, 0.5, 0.7]
    cube = _cube(70, 50)
    out = us.segment(cube, model, tile_size=32, overlap=8)
    assert out.dtype == np.uint8 and list(out.bands.values) == [
        f"label:class {i}" for i in range(3)
    ]
    proba = us.segment(cube, model, ("probabilities",), 32, 8).values
    cut = np.where(np.isnan(proba), 255, proba >= np.array([0.3, 0.5, 0.7])[:, None, None])
    assert (out.values == cut).all() and out.values[0, 5, 7] == 255
    with pytest.raises(ValueError, match="not a class"):
        us.segment(cube, model, ("class",), 32, 8)
    with pytest.raises(ValueError, match="multi-label model"):
        us.segment(cube, _model(), ("labels",), 32, 8)
    assert model.stac_mlm()["mlm:output"][0]["name"] == "labels"


def test_scenes_of_many_images_f1_and_thresholds_by_hand():
    """A label raster serves every image; F1 counts known pixels only; the threshold per
    label is the one with the best F1 on validation."""
    scene = Scene(np.zeros((3, 10, 20, 8), np.float32), np.zeros((20, 8), np.int64), ["a"])
    assert scene.labels.shape == (3, 20, 8) and scene.part("val")[0].shape == (3, 10, 2, 8)
    stack = np.full((2, 2, 64, 96), 255, np.uint8)
    stack[:, :, :40, :70] = 1
    kept = tu.keep_fraction(stack, 0.34, seed=0)
    assert (kept[0] == kept[1]).all() and (kept[:, 0] == kept[:, 1]).all()
    blocks = {(r // 32, c // 32) for r, c in zip(*np.nonzero(kept[0, 0] != 255), strict=True)}
    assert len(blocks) == 2  # of the 6 labelled blocks
    truth = np.array([[[1, 1, 0, 255]], [[0, 0, 0, 1]]], np.uint8)[None]  # (1, 2 labels, 4)
    yes = np.array([[[1, 0, 1, 1]], [[0, 0, 0, 0]]], np.uint8)[None]
    scores = tu.f1_scores(truth, yes, ["a", "b"])
    # a: 1 hit, 2 true, 2 said yes where known -> 0.5; b: 0 hits -> 0
    assert scores["f1_per_label"] == {"a": 0.5, "b": 0.0} and scores["mean_f1"] == 0.25
    assert scores["accuracy"] == 4 / 7
    proba = np.array([[[0.9, 0.37, 0.32, 0.99]], [[0.1, 0.2, 0.1, 0.6]]], np.float32)[None]
    assert tu.best_thresholds(truth, proba) == [0.35, 0.25]


def test_label_bands_carry_colour_tables_and_a_legend(tmp_path):
    """GTiff: a 0/1 colour table and class tags per label band, 255 no-data; PNG: the
    labels over one another (the sky's on top) with a legend."""
    import rasterio
    from PIL import Image

    from core.classes import COLOURS, class_table
    from formats.gtiff import write_gtiff
    from formats.png import hex_rgb, write_png

    names = ["Cropland", "Cloud"]
    values = np.array([[[1, 1, 0, 255]], [[0, 1, 0, 255]]], np.uint8).repeat(4, axis=1)
    cube = xr.DataArray(
        values,
        dims=("bands", "y", "x"),
        coords={
            "bands": [f"label:{n}" for n in names],
            "y": 5151000.0 - 10 * np.arange(4),
            "x": 679000.0 + 10 * np.arange(4),
        },
        attrs={"classification:classes": class_table(names), "crs": "EPSG:32632"},
    ).rio.write_crs("EPSG:32632")
    write_gtiff(cube, tmp_path / "l.tif", {})
    with rasterio.open(tmp_path / "l.tif") as src:
        assert src.descriptions == ("label:Cropland", "label:Cloud") and src.nodata == 255
        assert src.tags(2)["CLASS_1"] == "Cloud" and src.tags(2)["CLASS_0"] == "not Cloud"
        assert src.tags(2)["CLASS_1_COLOR"] == COLOURS["Cloud"]  # TIFF: no colour table
        assert src.tags(1)["CLASS_1_COLOR"] == COLOURS["Cropland"]  # for several bands
    write_gtiff(cube.isel(bands=[1]), tmp_path / "one.tif", {})
    with rasterio.open(tmp_path / "one.tif") as src:
        assert src.colormap(1)[1][:3] == hex_rgb(COLOURS["Cloud"])
        assert src.colormap(1)[0][:3] == (255, 255, 255)
    write_png(cube, tmp_path / "l.png", {})
    picture = np.asarray(Image.open(tmp_path / "l.png").convert("RGB"))
    assert tuple(picture[0, 0]) == hex_rgb(COLOURS["Cropland"])
    assert tuple(picture[0, 1]) == hex_rgb(COLOURS["Cloud"])  # both hold: the cloud shows
    assert picture.shape[1] > 4  # the legend beside the map


YEAR = ["2021-09-01", "2022-09-01"]
S2 = [*us.BANDS, "SCL"]


def _composites(connection, box=None):
    cube = connection.load_collection(
        "SENTINEL2_L2A", temporal_extent=YEAR, bands=S2, spatial_extent=box
    )
    return cube.process("monthly_composite", data=cube)


def test_readme_chain_scores_against_the_label_raster(connection, tmp_path):
    """The bundled model on the test server's scene (another seed than its training)."""
    import rasterio

    composites = _composites(connection, TEST_BOX)
    composites.process("unet_segment", data=composites).download(tmp_path / "s.tif", format="GTiff")
    connection.load_collection("CROP_LABELS", spatial_extent=TEST_BOX).download(
        tmp_path / "labels.tif", format="GTiff"
    )
    with rasterio.open(tmp_path / "s.tif") as src, rasterio.open(tmp_path / "labels.tif") as lab:
        assert src.dtypes[0] == "uint8" and src.descriptions[0] == "class"
        pred, truth = src.read(1), lab.read(1)
    scores = tu.iou_scores(np.where(truth > 20, 255, truth), pred, us.bundled("demo").classes)
    print(f"test scene: mIoU {scores['miou']:.4f}, OA {scores['overall_accuracy']:.4f}")
    # measured: mIoU 0.8849, OA 0.9530 (the held-out area of its own scene: 0.8621, 0.8933)
    assert scores["overall_accuracy"] > 0.9 and scores["miou"] > 0.75, scores


@pytest.mark.parametrize(
    ("change", "parameter", "words"),
    [
        ({"tile_size": 30}, "tile_size", "multiple of 4"),
        ({"overlap": 100}, "overlap", "half the tile size"),
        ({"output": ["class", "edges"]}, "output", "'edges' is not one of"),
        ({"model": "sentinel"}, "model", "is not one of ['demo', 'scene_demo', 'multi"),
        ({"model": "ssl_demo"}, "model", "is not one of ['demo', 'scene_demo', 'multi"),
        ({"composite": False}, "data", "the bundled models take 1 (scene_demo) or 12 (demo)"),
        ({"composite": False, "model": "demo"}, "data", "time step(s); the model needs 12"),
        ({"model": "scene_demo"}, "data", "the cube has 12 time step(s); the model needs 1"),
        ({"output": ["labels"]}, "output", "labels come from a multi-label model"),
        ({"model": "multilabel_demo", "output": ["class"]}, "output", "gives labels, not a"),
        ({"bands": ["B02", "B03", "B04", "SCL"]}, "data", "lacks the band"),
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
                "temporal_extent": YEAR,
                "bands": change.get("bands", S2),
            },
        },
        "mc": {"process_id": "monthly_composite", "arguments": {"data": {"from_node": "load"}}},
        "seg": {
            "process_id": "unet_segment",
            "arguments": {
                "data": {"from_node": "mc" if change.get("composite", True) else "load"},
                **{k: v for k, v in change.items() if k not in ("bands", "composite")},
            },
            "result": True,
        },
    }
    assert_parameter_invalid(server.url, auth_headers, graph, parameter, words)


def test_train_through_openeo_then_segment_with_the_job_model(connection, tmp_path):
    """Composites + labels -> fit_unet_segmenter (batch job, from the bundled backbone)
    -> MLM asset -> load_ml_model -> unet_segment."""
    import rasterio
    from openeo.internal.graph_building import PGNode
    from openeo.rest.mlmodel import MlModel

    box = {"west": 679720, "east": 680680, "south": 5151080, "north": 5151920, "crs": 32632}
    composites = _composites(connection, box)
    labels = connection.load_collection("CROP_LABELS", spatial_extent=box)
    fitted = MlModel(
        PGNode("fit_unet_segmenter", predictors=composites, target=labels, epochs=3, seed=1),
        connection=connection,
    )
    job = fitted.create_job(title="fit unet")
    job.start_and_wait(max_poll_interval=1)
    asset = job.get_results().get_metadata()["assets"]["model.pt"]
    assert asset["mlm:architecture"] == "U-Net"
    assert asset["mlm:tasks"] == ["semantic-segmentation"]
    segmented = composites.process(
        "unet_segment", data=composites, model=connection.load_ml_model(job.job_id)
    )
    segmented.download(tmp_path / "own.tif", format="GTiff")
    labels.download(tmp_path / "l.tif", format="GTiff")
    with rasterio.open(tmp_path / "own.tif") as a, rasterio.open(tmp_path / "l.tif") as b:
        pred, truth = a.read(1), np.nan_to_num(b.read(1), nan=255).astype(np.int64)
    assert pred.shape == truth.shape
    known = truth <= 20
    # Three short epochs on a small area: better than the most frequent class alone.
    majority = np.bincount(truth[known]).max() / known.sum()
    assert (pred[known] == truth[known]).mean() > majority


def test_train_commands_pretrain_then_fine_tune(demo_catalog, tmp_path):
    """`cropcube train unet-ssl`, then `train unet --backbone` with 5 % of the labels, on
    the test scene, then a single-scene multi-label model (tiny settings: this checks the
    commands and their files)."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "CROPCUBE_STAC_URL": str(demo_catalog)}
    small = "--widths 4,8 --patch 16 --batch-size 4 --steps 2 --epochs 2 --threads 1".split()

    def train(*args: str) -> str:
        run = subprocess.run(
            [sys.executable, "-m", "backend.cli", "train", *args, *small],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    train("unet-ssl", "--out", str(tmp_path / "ssl"))
    backbone = us.UNetModel.load(tmp_path / "ssl" / "model.pt")
    assert backbone.meta["kind"] == "backbone" and backbone.network.config["in_channels"] == 120
    assert "SimSiam" in (tmp_path / "ssl" / "MODEL_CARD.md").read_text()
    out = train(
        "unet",
        "--out",
        str(tmp_path / "seg"),
        "--backbone",
        str(tmp_path / "ssl" / "model.pt"),
        "--label-fraction",
        "0.05",
    )
    assert "test mIoU" in out
    metrics = json.loads((tmp_path / "seg" / "metrics.json").read_text())
    assert 0 <= metrics["test"]["miou"] <= 1 and metrics["config"]["label_fraction"] == 0.05
    card = (tmp_path / "seg" / "MODEL_CARD.md").read_text()
    assert "labels used: 5% of the training area" in card and "pre-trained with SimSiam" in card
    model = us.UNetModel.load(tmp_path / "seg" / "model.pt")
    assert model.meta["pretrained"] and len(model.classes) == 21
    assert "test mean F1" in train("unet", "--images", "multilabel", "--out", str(tmp_path / "ml"))
    model = us.UNetModel.load(tmp_path / "ml" / "model.pt")
    assert model.multilabel and model.times == 1 and model.classes[-1] == "Snow"
    assert len(model.meta["thresholds"]) == 11
    card = (tmp_path / "ml" / "MODEL_CARD.md").read_text()
    assert "| Cloud |" in card and "one date (10 bands)" in card


def test_fit_on_geojson_parcels_from_the_bundled_backbone(server, auth_headers, demo_catalog):
    """GeoJSON target, backbone by name; POST /result returns the model file; a backbone
    of other widths is refused."""
    import io
    import json

    import requests

    parcels = json.loads(
        (demo_catalog.parent / "CROP_LABELS" / "labels" / "parcels.geojson").read_text()
    )
    box = {"west": 679720, "east": 680360, "south": 5151280, "north": 5151920, "crs": 32632}
    fit = {
        "predictors": {"from_node": "mc"},
        "target": parcels,
        "epochs": 1,
        "backbone": "ssl_demo",
        "label_fraction": 0.5,
    }
    graph = {
        "s2": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": box,
                "temporal_extent": YEAR,
                "bands": S2,
            },
        },
        "mc": {"process_id": "monthly_composite", "arguments": {"data": {"from_node": "s2"}}},
        "fit": {"process_id": "fit_unet_segmenter", "arguments": fit, "result": True},
    }
    r = requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": graph}},
        headers=auth_headers,
        timeout=300,
    )
    assert r.status_code == 200, r.text
    model = us.UNetModel.from_dict(torch.load(io.BytesIO(r.content), weights_only=True))
    assert model.meta["pretrained"] and model.classes[2] == "Maize"
    assert model.meta["config"]["label_fraction"] == 0.5
    graph["fit"]["arguments"] = {**fit, "widths": "8,16"}
    r = requests.post(
        f"{server.url}/result",
        json={"process": {"process_graph": graph}},
        headers=auth_headers,
        timeout=300,
    )
    assert r.status_code == 400 and "'backbone'" in r.json()["message"], r.text


JUNE = ["2022-06-01", "2022-07-01"]
SEPTEMBER = ["2021-09-01", "2021-10-01"]
HIDDEN_SCL = (0, 3, 8, 9, 10, 11)  # no data, cloud shadow, clouds, cirrus, snow


def _clear_median(connection, month: list[str]):
    """One scene as a user makes it: the month's clear observations, their median."""
    s2 = connection.load_collection("SENTINEL2_L2A", temporal_extent=month, bands=S2)
    scl = s2.band("SCL")
    hidden = scl == HIDDEN_SCL[0]
    for code in HIDDEN_SCL[1:]:
        hidden = hidden | (scl == code)
    bands = s2.filter_bands(list(us.BANDS)).mask(hidden)
    return bands.reduce_dimension(dimension="t", reducer="median")


def _truth(connection, path: Path):
    import rasterio

    connection.load_collection("CROP_LABELS").download(path, format="GTiff")
    with rasterio.open(path) as src:
        return np.nan_to_num(src.read(1), nan=255).astype(np.int64)


@pytest.mark.parametrize(
    ("month", "least_miou", "least_oa"),
    # measured: June 2022 mIoU 0.7179, OA 0.9135; September 2021 0.7519, 0.9332
    [(JUNE, 0.65, 0.88), (SEPTEMBER, 0.68, 0.9)],
)
def test_one_scene_in_land_cover_out(connection, tmp_path, month, least_miou, least_oa):
    """A month's clear median (no `t`) takes the bundled single-scene model by default;
    its class map, scored against the test scene's labels grouped as the model's classes
    (a landscape of another seed than its training)."""
    import rasterio

    from core.classes import COLOURS, group_ids
    from formats.png import hex_rgb

    scene = _clear_median(connection, month)
    scene.process("unet_segment", data=scene).download(tmp_path / "c.tif", format="GTiff")
    truth = group_ids(_truth(connection, tmp_path / "l.tif"))
    model = us.bundled("scene_demo")
    with rasterio.open(tmp_path / "c.tif") as src:
        assert src.dtypes[0] == "uint8" and src.descriptions == ("class",)
        pred = src.read(1)
        assert src.colormap(1)[0][:3] == hex_rgb(COLOURS["Cropland"])
    scores = tu.iou_scores(truth, pred, model.classes)
    print(month[0][:7], f"mIoU {scores['miou']:.4f}, OA {scores['overall_accuracy']:.4f}")
    assert scores["miou"] > least_miou and scores["overall_accuracy"] > least_oa, scores


@pytest.mark.parametrize(
    ("day", "least_f1"),
    # measured: mean F1 0.7536 (2022-06-21, 62 % cloud), 0.8448 (2021-09-11, 23 %)
    [("2022-06-21", 0.68), ("2021-09-11", 0.78)],
)
def test_one_cloudy_date_in_a_label_stack_out(connection, tmp_path, day, least_f1):
    """One acquisition with its clouds through the multi-label model: a 0/1 band per label,
    scored per label against the grouped labels (where the ground shows) and the date's
    SCL; the job's STAC metadata carries the labels' classes."""
    import rasterio

    from core.classes import SKY_LABELS, group_ids

    one_day = [day, str(np.datetime64(day) + 1)]
    s2 = connection.load_collection("SENTINEL2_L2A", temporal_extent=one_day, bands=S2)
    stack = s2.process("unet_segment", data=s2, model="multilabel_demo")
    stack.download(tmp_path / "m.tif", format="GTiff")
    s2.band("SCL").download(tmp_path / "scl.tif", format="GTiff")
    model = us.bundled("multilabel_demo")
    with rasterio.open(tmp_path / "m.tif") as src, rasterio.open(tmp_path / "scl.tif") as s:
        assert src.descriptions == tuple(f"label:{c}" for c in model.classes)
        assert src.dtypes[0] == "uint8" and src.tags(1)["CLASS_1"] == model.classes[0]
        yes, scl = src.read(), s.read(1).astype(np.int64)
    cover = group_ids(_truth(connection, tmp_path / "l.tif"))
    groups = len(model.classes) - len(SKY_LABELS)
    truth = np.zeros(yes.shape, np.uint8)
    truth[:groups] = cover[None] == np.arange(groups)[:, None, None]
    truth[:groups][:, (cover == 255) | np.isin(scl, (8, 9))] = 255
    for i, codes in enumerate(SKY_LABELS.values()):
        truth[groups + i] = np.isin(scl, codes)
    truth[:, yes[0] == 255] = 255
    scores = tu.f1_scores(truth[None], yes[None] == 1, model.classes)
    print(day, {k: round(v, 3) for k, v in scores["f1_per_label"].items()})
    print(day, f"mean F1 {scores['mean_f1']:.4f}")
    assert scores["mean_f1"] > least_f1, scores


def test_fit_a_single_scene_multi_label_model_from_label_bands(connection, tmp_path):
    """Predictors of one date and a target of one 0/1 band per label (made from the label
    raster with band math, as a user would) train a multi-label single-scene model in a
    batch job, whose MLM fields name the labels; the job's model then gives a label stack;
    a target band holding other values than 0 and 1 is refused."""
    import rasterio
    from openeo.internal.graph_building import PGNode
    from openeo.processes import array_create
    from openeo.rest import OpenEoApiError
    from openeo.rest.mlmodel import MlModel

    box = {"west": 679720, "east": 680360, "south": 5151280, "north": 5151920, "crs": 32632}
    day = ["2022-06-16", "2022-06-17"]
    s2 = connection.load_collection(
        "SENTINEL2_L2A", spatial_extent=box, temporal_extent=day, bands=list(us.BANDS)
    )
    labels = connection.load_collection("CROP_LABELS", spatial_extent=box)
    names = ["Grassland", "Forest", "Water"]
    stack = labels.apply_dimension(
        dimension="bands",
        process=lambda x: array_create([x[0] == 1, x[0] == 16, x[0] == 17]),
    ).rename_labels("bands", names)
    fitted = MlModel(
        PGNode("fit_unet_segmenter", predictors=s2, target=stack, epochs=1), connection=connection
    )
    job = fitted.create_job(title="fit a multi-label unet")
    job.start_and_wait(max_poll_interval=1)
    asset = job.get_results().get_metadata()["assets"]["model.pt"]
    assert asset["mlm:tasks"] == ["semantic-segmentation"]
    (output,) = asset["mlm:output"]
    assert output["name"] == "labels" and "multi-label" in output["description"]
    assert [c["name"] for c in output["classification:classes"]] == names
    assert asset["mlm:input"][0]["input"]["shape"][1] == len(us.BANDS)  # one date
    mine = s2.process("unet_segment", data=s2, model=connection.load_ml_model(job.job_id))
    mine.download(tmp_path / "mine.tif", format="GTiff")
    with rasterio.open(tmp_path / "mine.tif") as src:
        assert src.descriptions == tuple(f"label:{n}" for n in names)
        assert set(np.unique(src.read())) <= {0, 1, 255}
    raw = labels.apply_dimension(dimension="bands", process=lambda x: array_create([x[0], x[0]]))
    bad = MlModel(PGNode("fit_unet_segmenter", predictors=s2, target=raw, epochs=1), connection)
    with pytest.raises(OpenEoApiError) as caught:
        connection.download(bad)
    assert caught.value.http_status_code == 400 and "'target'" in caught.value.message
