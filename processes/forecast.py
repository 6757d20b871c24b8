"""ndvi_forecast: openEO arguments checked, then handed to udfs/ndvi_forecast.py."""

from __future__ import annotations

from typing import Any

import xarray as xr

from backend.errors import ProcessParameterInvalid
from processes import model_files
from processes.crop import DimensionMissing
from udfs import ndvi_forecast as nf


def _invalid(parameter: str, reason: str) -> ProcessParameterInvalid:
    return ProcessParameterInvalid(process="ndvi_forecast", parameter=parameter, reason=reason)


def _model(model: Any) -> nf.NDVIModel:
    return model_files.resolve(model, nf.NDVIModel, nf.bundled,
                               "an NDVI forecaster (fit_ndvi_forecaster)", _invalid)


def ndvi_forecast(data: Any, horizon: int = 6, mode: str = "forecast", model: Any = "eolearn",
                  uncertainty: bool = False, **_: Any) -> xr.DataArray:
    """See specs/ndvi_forecast.json."""
    if not isinstance(data, xr.DataArray) or not {"t", "bands", "y", "x"} <= set(data.dims):
        raise DimensionMissing()
    if mode not in nf.MODES:
        raise _invalid("mode", f"must be one of {', '.join(nf.MODES)}")
    if isinstance(horizon, bool) or not isinstance(horizon, int) or \
            not 1 <= horizon <= nf.MAX_HORIZON:
        raise _invalid("horizon", f"must be an integer from 1 to {nf.MAX_HORIZON}")
    if not isinstance(uncertainty, bool):
        raise _invalid("uncertainty", "must be true or false")
    found = _model(model)
    try:
        nf.ndvi_of(data)
    except ValueError as exc:
        raise _invalid("data", str(exc)) from None
    return nf.forecast(data, found, horizon=horizon, mode=mode, uncertainty=uncertainty)


IMPLEMENTATIONS = {"ndvi_forecast": ndvi_forecast}
