"""Model files: each model class has a format tag, so a job's model.pt or a URL loads as
the right kind of model (crop-type LSTM, NDVI forecaster or U-Net)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from udfs import lstm_classify as lc
from udfs import ndvi_forecast as nf
from udfs import unet_segment as us

# How model files are served, in synchronous and batch results alike.
MEDIA_TYPE = "application/octet-stream; framework=pytorch"
CLASSES: dict[str, Any] = {
    lc.FORMAT: lc.LSTMModel,
    nf.FORMAT: nf.NDVIModel,
    us.FORMAT: us.UNetModel,
}
TYPES = tuple(CLASSES.values())


def is_model(value: Any) -> bool:
    return isinstance(value, TYPES)


def from_dict(blob: Any) -> Any:
    """The model a loaded torch file holds, or a ValueError."""
    kind = blob.get("format") if isinstance(blob, dict) else None
    if kind not in CLASSES:
        raise ValueError(f"unknown model format {kind!r}")
    return CLASSES[kind].from_dict(blob)


def load(path: Any) -> Any:
    import torch

    return from_dict(torch.load(path, map_location="cpu", weights_only=True))


def stac_fields(model: Any) -> dict[str, Any]:
    """STAC MLM fields of a model file: what all models share, then what the model says
    of itself (stac_mlm: name, architecture, tasks, inputs, outputs, classes)."""
    import torch

    return {
        "roles": ["mlm:model", "data"],
        "mlm:framework": "pytorch",
        "mlm:framework_version": torch.__version__.split("+")[0],
        "mlm:total_parameters": sum(p.numel() for p in model.network.parameters()),
        "mlm:pretrained": False,
        **model.stac_mlm(),
        "mlm:hyperparameters": model.meta.get("config", {}),
    }


def resolve(
    model: Any,
    cls: type,
    bundled: Callable[[str], Any],
    what: str,
    invalid: Callable[[str, str], Exception],
) -> Any:
    """A process's `model` argument: a model of class `cls`, or the name of a bundled one;
    anything else raises invalid('model', why)."""
    if isinstance(model, cls):
        return model
    if isinstance(model, str):
        try:
            return bundled(model)
        except ValueError as exc:
            raise invalid("model", str(exc)) from None
    if is_model(model):
        raise invalid("model", f"is a {type(model).__name__}, not {what}")
    raise invalid("model", f"must be the name of a bundled model or {what} from load_ml_model")
