"""lstm_classify: openEO arguments checked, then handed to udfs/lstm_classify.py."""

from __future__ import annotations

from typing import Any

import xarray as xr

from processes import model_files
from processes.crop import require_dims
from processes.declare import declare, invalid
from udfs import lstm_classify as lc

_invalid = invalid("lstm_classify")


def _model(model: Any) -> lc.LSTMModel:
    return model_files.resolve(
        model, lc.LSTMModel, lc.bundled, "a crop classifier (fit_lstm_classifier)", _invalid
    )


@declare("lstm_classify")
def lstm_classify(
    data: Any, model: Any = "demo", output: list[str] | None = None, engine: str = "torch", **_: Any
) -> xr.DataArray:
    """See specs/lstm_classify.json (its schema has checked `output` and `engine`)."""
    require_dims(data, "lstm_classify", ("t", "bands", "y", "x"))
    outputs = tuple(output or ("class",))
    found = _model(model)
    try:
        lc.check_cube(data, found.bands)
    except ValueError as exc:
        raise _invalid("data", str(exc)) from None
    return lc.classify(data, found, outputs, engine=engine)
