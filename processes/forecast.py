"""ndvi_forecast: openEO arguments checked, then handed to udfs/ndvi_forecast.py."""

from __future__ import annotations

from typing import Any

import xarray as xr

from processes import model_files
from processes.crop import require_dims
from processes.declare import declare, invalid
from udfs import ndvi_forecast as nf

_invalid = invalid("ndvi_forecast")


def _model(model: Any) -> nf.NDVIModel:
    return model_files.resolve(
        model, nf.NDVIModel, nf.bundled, "an NDVI forecaster (fit_ndvi_forecaster)", _invalid
    )


@declare("ndvi_forecast")
def ndvi_forecast(
    data: Any,
    horizon: int = 6,
    mode: str = "forecast",
    model: Any = "mixed",
    uncertainty: bool = False,
    **_: Any,
) -> xr.DataArray:
    """See specs/ndvi_forecast.json (its schema has checked mode, horizon, uncertainty)."""
    require_dims(data, "ndvi_forecast", ("t", "bands", "y", "x"))
    found = _model(model)
    try:
        nf.ndvi_of(data)
    except ValueError as exc:
        raise _invalid("data", str(exc)) from None
    return nf.forecast(data, found, horizon=horizon, mode=mode, uncertainty=uncertainty)
