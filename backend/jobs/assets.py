"""STAC asset metadata of result files: media type, size, checksum, projection, raster bands."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer

from backend import formats


def _multihash_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "1220" + digest.hexdigest()  # multihash: sha2-256, 32 bytes


def _classes(src: Any, band: int) -> list[dict[str, Any]]:
    """STAC classification:classes from the CLASS_<id> tags and colour table of a band."""
    tags = src.tags(band)
    found = sorted((int(k[6:]), v) for k, v in tags.items()
                   if k.startswith("CLASS_") and k[6:].isdigit())
    try:
        colours = src.colormap(band)
    except ValueError:  # no colour table
        colours = {}
    return [{"value": value, "name": name,
             **({"color_hint": "{:02X}{:02X}{:02X}".format(*colours[value][:3])}
                if value in colours else {})} for value, name in found]


def _raster_fields(path: Path) -> tuple[dict[str, Any], list[float] | None]:
    with rasterio.open(path) as src:
        fields: dict[str, Any] = {
            "proj:shape": [src.height, src.width],
            "proj:transform": list(src.transform)[:6],
            "proj:bbox": list(src.bounds),
        }
        epsg = src.crs.to_epsg() if src.crs else None
        if epsg:
            fields["proj:epsg"] = epsg
        bands = []
        for i, desc in enumerate(src.descriptions, start=1):
            band: dict[str, Any] = {"data_type": src.dtypes[i - 1]}
            if src.nodata is not None:
                band["nodata"] = "nan" if np.isnan(src.nodata) else src.nodata
            if desc:
                band["name"] = desc
            classes = _classes(src, i)
            if classes:
                band["classification:classes"] = classes
            bands.append(band)
        fields["raster:bands"] = bands
        bbox = None
        if src.crs:
            tr = Transformer.from_crs(src.crs, 4326, always_xy=True)
            b = src.bounds
            lon, lat = tr.transform([b.left, b.right, b.left, b.right],
                                    [b.bottom, b.bottom, b.top, b.top])
            bbox = [min(lon), min(lat), max(lon), max(lat)]
    return fields, bbox


def media_type(path: Path) -> str:
    fmt = next((f for f in formats.FORMATS if f.extension == path.suffix.lstrip(".")), None)
    return fmt.media_type if fmt else "application/octet-stream"


def describe(path: Path) -> tuple[dict[str, Any], list[float] | None]:
    """The asset's STAC fields (without href) and its lon/lat bbox when it is a raster."""
    asset: dict[str, Any] = {
        "title": path.name,
        "type": media_type(path),
        "roles": ["data"],
        "file:size": path.stat().st_size,
        "file:checksum": _multihash_sha256(path),
    }
    bbox = None
    if path.suffix == ".tif":
        fields, bbox = _raster_fields(path)
        asset.update(fields)
    if path.suffix == ".pt":
        asset.update(_mlm_fields(path))
    return asset, bbox


def _mlm_fields(path: Path) -> dict[str, Any]:
    """STAC MLM (machine learning model) fields of a cropcube model file."""
    import torch

    from processes import model_files
    from udfs.lstm_classify import LSTMModel
    from udfs.unet_segment import UNetModel

    model = model_files.load(path)
    specific = _lstm_mlm(model) if isinstance(model, LSTMModel) else \
        _unet_mlm(model) if isinstance(model, UNetModel) else _ndvi_mlm(model)
    return {
        "roles": ["mlm:model", "data"],
        "mlm:framework": "pytorch",
        "mlm:framework_version": torch.__version__.split("+")[0],
        "mlm:total_parameters": sum(p.numel() for p in model.network.parameters()),
        "mlm:pretrained": False,
        **specific,
        "mlm:hyperparameters": model.meta.get("config", {}),
    }


def _lstm_mlm(model: Any) -> dict[str, Any]:
    from udfs.lstm_classify import class_table

    months = 12
    return {
        "mlm:name": "cropcube LSTM crop classifier",
        "mlm:architecture": "LSTM",
        "mlm:tasks": ["classification"],
        "mlm:input": [{
            "name": "monthly composites", "bands": list(model.bands),
            "input": {"shape": [-1, months, len(model.bands)],
                      "dim_order": ["batch", "time", "bands"], "data_type": "float32"},
            "description": "12 monthly composites (monthly_composite) of the bands, "
                           "reflectance x 10000; normalisation is inside the model"}],
        "mlm:output": [{
            "name": "crop class", "tasks": ["classification"],
            "result": {"shape": [-1, len(model.classes)], "dim_order": ["batch", "class"],
                       "data_type": "float32"},
            "classification:classes": class_table(model.classes)}],
    }


def _unet_mlm(model: Any) -> dict[str, Any]:
    from udfs.lstm_classify import class_table

    channels = model.network.config["in_channels"]
    return {
        "mlm:name": "cropcube U-Net segmenter",
        "mlm:architecture": "U-Net",
        "mlm:tasks": ["semantic-segmentation"],
        "mlm:pretrained": bool(model.meta.get("pretrained")),
        "mlm:input": [{
            "name": "bands laid into channels date by date", "bands": list(model.bands),
            "input": {"shape": [-1, channels, -1, -1],
                      "dim_order": ["batch", "channel", "height", "width"],
                      "data_type": "float32"},
            "description": f"{model.times} date(s) x {len(model.bands)} bands, surface "
                           "reflectance; normalisation is inside the model"}],
        "mlm:output": [{
            "name": "classes", "tasks": ["semantic-segmentation"],
            "result": {"shape": [-1, len(model.classes), -1, -1],
                       "dim_order": ["batch", "class", "height", "width"],
                       "data_type": "float32"},
            "classification:classes": class_table(model.classes)}],
    }


def _ndvi_mlm(model: Any) -> dict[str, Any]:
    window = model.network.window
    return {
        "mlm:name": "cropcube NDVI forecaster",
        "mlm:architecture": "bidirectional LSTM",
        "mlm:tasks": ["regression"],
        "mlm:input": [{
            "name": "monthly NDVI", "bands": ["NDVI"],
            "input": {"shape": [-1, window, 5], "dim_order": ["batch", "time", "channel"],
                      "data_type": "float32"},
            "description": f"{window} months of (NDVI, clear flag, linear interpolation, "
                           "calendar sine, cosine); gaps have flag 0"}],
        "mlm:output": [{
            "name": "NDVI quantiles", "tasks": ["regression"],
            "result": {"shape": [-1, window, 3], "dim_order": ["batch", "time", "quantile"],
                       "data_type": "float32"},
            "description": "10, 50 and 90 % quantiles of NDVI in every month of the window"}],
    }
