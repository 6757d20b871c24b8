"""unet_segment: openEO arguments checked, then handed to udfs/unet_segment.py."""

from __future__ import annotations

from typing import Any

import xarray as xr

from processes import model_files
from processes.crop import require_dims
from processes.declare import declare, invalid
from udfs import unet_segment as us

_invalid = invalid("unet_segment")


@declare("unet_segment")
def unet_segment(
    data: Any,
    model: Any = None,
    output: list[str] | None = None,
    tile_size: int = 128,
    overlap: int = 32,
    **_: Any,
) -> xr.DataArray:
    """See specs/unet_segment.json (its schema has checked `output` and the integers)."""
    require_dims(data, "unet_segment", ("bands", "y", "x"))
    if model is None:
        try:
            model = us.default_model(data)
        except ValueError as exc:
            raise _invalid("data", str(exc)) from None
    found = model_files.resolve(
        model, us.UNetModel, us.bundled, "a segmentation model (fit_unet_segmenter)", _invalid
    )
    if found.meta.get("kind") == "backbone":
        raise _invalid(
            "model",
            "is a pre-trained backbone (train unet-ssl) without a "
            "trained decoder; fine-tune it first (train unet, fit_unet_segmenter)",
        )
    outputs = tuple(output or us.default_outputs(found))
    problem = us.outputs_problem(found, outputs)
    if problem:
        raise _invalid("output", problem)
    multiple = found.network.multiple
    if tile_size % multiple or not multiple <= tile_size <= 2048:
        raise _invalid(
            "tile_size", f"must be a multiple of {multiple} from {multiple} to 2048 for this model"
        )
    if not 0 <= overlap <= tile_size // 2:
        raise _invalid("overlap", f"must be from 0 to half the tile size ({tile_size // 2})")
    try:
        us.channels_of(data, found)
    except ValueError as exc:
        raise _invalid("data", str(exc)) from None
    return us.segment(data, found, outputs, tile_size, overlap)
