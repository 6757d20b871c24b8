"""Training through openEO: fit_lstm_classifier, fit_ndvi_forecaster, save_ml_model,
load_ml_model.

A model is a value in the graph like a cube: a fit_* process makes one, save_ml_model
marks it as a result (a batch job writes model.pt with STAC MLM metadata), load_ml_model
brings one back from a finished job of the same user or from a URL, for lstm_classify or
ndvi_forecast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from core.classes import CROP_CLASSES, class_names
from core.errors import ProcessParameterInvalid
from processes import model_files
from processes.context import SaveRequest, current
from processes.declare import declare
from udfs import lstm_classify as lc
from udfs import ndvi_forecast as nf
from udfs import unet_segment as us

# training/ is imported where a process trains: it brings scikit-learn and more, which a
# server or worker that never trains should not pay for at every start (about 1 s).
MODEL_FORMAT = "cropcube-model"  # the SaveRequest format of a model
BLOCK_PX = 32  # raster targets: square blocks of this side are split between train/val


def planned_model(process_id: str, arguments: dict[str, Any] | None = None, times: int = 12) -> Any:
    """The untrained model a fit_* process with these arguments would train: what a dry run
    (an estimate) goes on with, at no cost."""
    args = {k: v for k, v in (arguments or {}).items() if isinstance(v, int | float | str)}
    meta = {"planned": True}
    if process_id == "fit_lstm_classifier":
        net = lc.CropLSTM(
            len(lc.BANDS),
            len(CROP_CLASSES),
            int(args.get("hidden", 64)),
            int(args.get("layers", 2)),
            float(args.get("dropout", 0.3)),
        )
        return lc.LSTMModel(net, list(CROP_CLASSES), lc.BANDS, meta)
    if process_id == "fit_ndvi_forecaster":
        return nf.NDVIModel(
            nf.NDVINet(int(args.get("hidden", 32)), int(args.get("layers", 1))), meta
        )
    if process_id == "fit_unet_segmenter":
        from training.unet import widths_of

        classes = list(class_names().values())
        unet = us.UNet(
            times * len(us.BANDS), len(classes), widths_of(str(args.get("widths", "16,32,64")))
        )
        return us.UNetModel(unet, classes, us.BANDS, times, meta)
    raise ValueError(f"{process_id} makes no model")


def _dry_run() -> bool:
    return current.get().dry_run


def _invalid(process: str, parameter: str, reason: str) -> ProcessParameterInvalid:
    return ProcessParameterInvalid(process=process, parameter=parameter, reason=reason)


def _target_raster(
    target: Any, like: xr.DataArray, prop: str, process: str = "fit_lstm_classifier"
) -> tuple[np.ndarray, np.ndarray]:
    """Class ids and split groups on the predictors' grid, from a raster cube or GeoJSON."""
    shape = (like.sizes["y"], like.sizes["x"])
    if isinstance(target, xr.DataArray):
        raster = target.squeeze(drop=True)
        if set(raster.dims) != {"y", "x"} or raster.shape != shape:
            raise _invalid(
                process,
                "target",
                f"a label raster needs one band on the predictors' grid {shape}; "
                f"got dimensions {dict(target.sizes)}",
            )
        labels = np.asarray(raster.transpose("y", "x").values)
        yy, xx = np.indices(shape)
        groups = (yy // BLOCK_PX) * (shape[1] // BLOCK_PX + 1) + xx // BLOCK_PX
        return np.nan_to_num(labels, nan=255).astype(np.int64), groups
    if isinstance(target, dict) and target.get("type") == "FeatureCollection":
        import geopandas as gpd
        from rasterio.features import rasterize

        frame = gpd.GeoDataFrame.from_features(target["features"], crs="EPSG:4326")
        if prop not in frame.columns:
            raise _invalid(process, "target_property", f"the features have no property '{prop}'")
        frame = frame.to_crs(like.attrs["crs"])
        transform = like.rio.transform(recalc=True)
        labels = rasterize(
            zip(frame.geometry, frame[prop].astype(int), strict=True),
            out_shape=shape,
            transform=transform,
            fill=255,
            dtype="int32",
        )
        groups = rasterize(
            zip(frame.geometry, range(len(frame)), strict=True),
            out_shape=shape,
            transform=transform,
            fill=-1,
            dtype="int32",
        )
        return labels.astype(np.int64), groups
    raise _invalid(process, "target", "must be a label raster cube or a GeoJSON FeatureCollection")


def _label_stack(target: xr.DataArray, like: xr.DataArray, process: str) -> tuple:
    """(labels, y, x) 0/1 uint8 (255 unknown) and the label names, from a cube of one band
    per label (1: holds, 0: does not, no value: unknown) on the predictors' grid."""
    stack = target.squeeze(drop=True) if target.sizes.get("t", 1) == 1 else target
    shape = (like.sizes["y"], like.sizes["x"])
    if set(stack.dims) != {"bands", "y", "x"} or (stack.sizes["y"], stack.sizes["x"]) != shape:
        raise _invalid(
            process,
            "target",
            f"a multi-label target needs one band per label on the predictors' grid {shape}; "
            f"got dimensions {dict(target.sizes)}",
        )
    values = np.asarray(stack.transpose("bands", "y", "x").values, np.float64)
    odd = np.isfinite(values) & (values != 0) & (values != 1)
    if odd.any():
        raise _invalid(process, "target", "label bands hold 1 (yes), 0 (no) or no value")
    labels = np.where(np.isfinite(values), values, 255).astype(np.uint8)
    return labels, [str(b) for b in stack["bands"].values]


@declare("fit_lstm_classifier")
def fit_lstm_classifier(
    predictors: Any,
    target: Any,
    target_property: str = "class_id",
    hidden: int = 64,
    layers: int = 2,
    dropout: float = 0.3,
    epochs: int = 60,
    seed: int = 0,
    **_: Any,
) -> lc.LSTMModel:
    """See specs/fit_lstm_classifier.json (its schema has checked the numbers)."""
    import dask
    import rioxarray  # noqa: F401  (the .rio accessor)

    from training.config import LSTMConfig
    from training.lstm import fit
    from training.samples import Samples, split_groups

    if not isinstance(predictors, xr.DataArray):
        raise _invalid("fit_lstm_classifier", "predictors", "must be a raster cube")
    try:
        cube = lc.check_cube(predictors)
    except ValueError as exc:
        raise _invalid("fit_lstm_classifier", "predictors", str(exc)) from None
    if _dry_run():
        return planned_model(
            "fit_lstm_classifier", {"hidden": hidden, "layers": layers, "dropout": dropout}
        )
    labels, groups = _target_raster(target, cube, target_property)
    with dask.config.set(scheduler="threads"):
        x, valid = lc.features(np.asarray(cube.values))
    keep = (
        valid & (labels.ravel() >= 0) & (labels.ravel() < len(CROP_CLASSES)) & (groups.ravel() >= 0)
    )
    if keep.sum() < 50 or len(np.unique(groups.ravel()[keep])) < 5:
        raise _invalid(
            "fit_lstm_classifier",
            "target",
            f"found {int(keep.sum())} labelled pixels with data in "
            f"{len(np.unique(groups.ravel()[keep]))} fields; at least 50 pixels "
            "in 5 fields are needed",
        )
    g = groups.ravel()[keep]
    samples = Samples(
        features=x[keep],
        labels=labels.ravel()[keep],
        groups=g,
        split=split_groups(g, seed, fractions=(0.8, 0.2, 0.0)),
        classes=list(CROP_CLASSES),
        description={
            "source": "fit_lstm_classifier (openEO)",
            "split": "by field or block, 80/20 train/validation",
        },
    )
    config = LSTMConfig(hidden=hidden, layers=layers, dropout=dropout, epochs=epochs, seed=seed)
    model, _history = fit(samples, config, progress=False)
    return model


@declare("fit_ndvi_forecaster")
def fit_ndvi_forecaster(
    data: Any, hidden: int = 32, layers: int = 1, epochs: int = 40, seed: int = 0, **_: Any
) -> nf.NDVIModel:
    """See specs/fit_ndvi_forecaster.json (its schema has checked the numbers)."""
    import dask

    from training.config import NDVIConfig
    from training.ndvi_lstm import fit_cube

    name = "fit_ndvi_forecaster"
    if not isinstance(data, xr.DataArray):
        raise _invalid(name, "data", "must be a raster cube")
    try:
        series = nf.monthly(nf.ndvi_of(data))
    except ValueError as exc:
        raise _invalid(name, "data", str(exc)) from None
    if series.sizes["t"] < 12:
        raise _invalid(name, "data", f"spans {series.sizes['t']} months; at least 12 are needed")
    if _dry_run():
        return planned_model(name, {"hidden": hidden, "layers": layers})
    with dask.config.set(scheduler="threads"):
        values = np.asarray(series.transpose("t", "y", "x").values, np.float32)
    enough = int((np.isfinite(values).sum(axis=0) >= 3).sum())
    if enough < 50:
        raise _invalid(
            name, "data", f"{enough} pixels have 3 or more clear months; at least 50 are needed"
        )
    start = str(series["t"].values[0])[:7]
    model, _history = fit_cube(
        values,
        int(start[5:7]) - 1,
        NDVIConfig(hidden=hidden, layers=layers, epochs=epochs, seed=seed),
        meta={"data": {"source": "fit_ndvi_forecaster (openEO)", "first month": start}},
    )
    return model


@declare("fit_unet_segmenter")
def fit_unet_segmenter(
    predictors: Any,
    target: Any,
    target_property: str = "class_id",
    widths: str = "16,32,64",
    epochs: int = 30,
    label_fraction: float = 1.0,
    backbone: Any = None,
    seed: int = 0,
    **_: Any,
) -> us.UNetModel:
    """See specs/fit_unet_segmenter.json (its schema has checked the numbers)."""
    import dask
    import rioxarray  # noqa: F401  (the .rio accessor)

    from training.config import UNetConfig
    from training.unet import fit_segmenter, pretrained_part, widths_of
    from training.unet_data import Scene

    name = "fit_unet_segmenter"
    if not isinstance(predictors, xr.DataArray):
        raise _invalid(name, "predictors", "must be a raster cube")
    try:
        levels = widths_of(widths)
    except ValueError:
        levels = ()
    if not 1 <= len(levels) <= 6 or not all(2 <= w <= 512 for w in levels):
        raise _invalid(name, "widths", "must be 1-6 comma-separated channel counts (2-512)")
    times = predictors.sizes.get("t", 1)
    bands = (
        tuple(b for b in us.BANDS if b in [str(v) for v in predictors["bands"].values])
        if "bands" in predictors.dims
        else ()
    )
    if len(bands) != len(us.BANDS):
        raise _invalid(name, "predictors", f"needs the bands {list(us.BANDS)}")
    pretrained = None
    if backbone is not None:
        start = model_files.resolve(
            backbone,
            us.UNetModel,
            us.bundled,
            "a U-Net backbone",
            lambda p, r: _invalid(name, p, r),
        )
        if start.network.config["widths"] != list(levels) or start.times != times:
            raise _invalid(
                name,
                "backbone",
                f"has widths {start.network.config['widths']} "
                f"and {start.times} date(s); these predictors and widths need "
                f"{list(levels)} and {times}",
            )
        pretrained = pretrained_part(start)
    probe = us.UNetModel(us.UNet(times * len(bands), 2, levels), ["a", "b"], bands, times)
    stack = us.channels_of(predictors, probe)
    if _dry_run():
        return planned_model(name, {"widths": widths}, times)
    like = predictors.isel(t=0) if "t" in predictors.dims else predictors
    multilabel = isinstance(target, xr.DataArray) and target.sizes.get("bands", 1) > 1
    if multilabel:
        labels, classes = _label_stack(target, like, name)
    else:
        labels, _groups = _target_raster(target, like, target_property, name)
        labels = np.where((labels >= 0) & (labels < 255), labels, 255)
        known = class_names()
        classes = [known.get(i, f"class {i}") for i in range(int(labels.max(initial=0)) + 1)]
    if (labels != 255).reshape(-1, *labels.shape[-2:]).any(axis=0).sum() < 100:
        raise _invalid(name, "target", "fewer than 100 labelled pixels")
    with dask.config.set(scheduler="threads"):
        channels = np.asarray(stack.values, np.float32)
    side = (
        min(64, labels.shape[-2] * 8 // 10, labels.shape[-1])
        // probe.network.multiple
        * probe.network.multiple
    )
    if side < 16:
        raise _invalid(
            name,
            "predictors",
            "the area is too small to train on (16 px rows "
            "in its upper 80 %, 16 px columns at least)",
        )
    scene = Scene(
        channels,
        labels if multilabel else labels.astype(np.int64),
        classes,
        bands,
        times,
        {
            "source": "fit_unet_segmenter (openEO)",
            "split": "by area: rows 0-80 % train, 80-100 % validation",
        },
        parts={"train": (0.0, 0.8), "val": (0.8, 1.0)},
        multilabel=multilabel,
    )
    config = UNetConfig(
        widths=widths,
        epochs=epochs,
        label_fraction=float(label_fraction),
        patch=side,
        seed=seed,
        patience=max(3, epochs // 5),
    )
    model, _history = fit_segmenter(scene, config, pretrained=pretrained)
    return model


@declare("save_ml_model")
def save_ml_model(data: Any, options: dict | None = None, **_: Any) -> bool:
    """Mark a model as a result: written as model.pt with STAC MLM metadata."""
    if not model_files.is_model(data):
        raise _invalid(
            "save_ml_model",
            "data",
            "must be a model (from fit_lstm_classifier, fit_ndvi_forecaster or fit_unet_segmenter)",
        )
    current.get().saved.append(SaveRequest(data, MODEL_FORMAT, dict(options or {})))
    return True


@declare("load_ml_model")
def load_ml_model(id: str, **_: Any) -> Any:
    """A model from a finished job of this user (its id) or from a URL to a model.pt."""
    if not id:
        raise _invalid("load_ml_model", "id", "must be a job id or a URL")
    loader = current.get().load_model
    if loader is None:
        raise _invalid("load_ml_model", "id", "models cannot be loaded here")
    return loader(id)
