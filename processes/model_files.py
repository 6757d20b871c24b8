"""Model files: each model class has a format tag, so a job's model.pt or a URL loads as
the right kind of model (crop-type LSTM or NDVI forecaster)."""

from __future__ import annotations

from typing import Any

from udfs import lstm_classify as lc
from udfs import ndvi_forecast as nf

CLASSES = {lc.FORMAT: lc.LSTMModel, nf.FORMAT: nf.NDVIModel}
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
