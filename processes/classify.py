"""lstm_classify: openEO arguments checked, then handed to udfs/lstm_classify.py."""

from __future__ import annotations

from typing import Any

import xarray as xr

from backend.errors import ProcessParameterInvalid
from processes import model_files
from processes.crop import DimensionMissing
from udfs import lstm_classify as lc


def _invalid(parameter: str, reason: str) -> ProcessParameterInvalid:
    return ProcessParameterInvalid(process="lstm_classify", parameter=parameter, reason=reason)


def _model(model: Any) -> lc.LSTMModel:
    return model_files.resolve(model, lc.LSTMModel, lc.bundled,
                               "a crop classifier (fit_lstm_classifier)", _invalid)


def lstm_classify(data: Any, model: Any = "demo", output: list[str] | None = None,
                  engine: str = "torch", **_: Any) -> xr.DataArray:
    """See specs/lstm_classify.json."""
    if not isinstance(data, xr.DataArray) or not {"t", "bands", "y", "x"} <= set(data.dims):
        raise DimensionMissing()
    outputs = tuple(output or ("class",))
    if not all(o in lc.OUTPUTS for o in outputs) or len(set(outputs)) != len(outputs):
        raise _invalid("output", f"must list distinct values of {', '.join(lc.OUTPUTS)}")
    if engine not in lc.ENGINES:
        raise _invalid("engine", f"must be one of {', '.join(lc.ENGINES)}")
    found = _model(model)
    try:
        lc.check_cube(data, found.bands)
    except ValueError as exc:
        raise _invalid("data", str(exc)) from None
    return lc.classify(data, found, outputs, engine=engine)


IMPLEMENTATIONS = {"lstm_classify": lstm_classify}
