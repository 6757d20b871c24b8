"""What both raster writers share: the cube check, the cast to a file data type, labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from core.errors import FormatUnsupported, ProcessParameterInvalid

CLASS_NODATA = 255  # no-data of uint8 class maps
DTYPES = ["byte", "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]


def band_label(value: Any) -> str:
    if isinstance(value, np.datetime64 | pd.Timestamp):
        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.isoformat()
    return str(value)


def band_classes(name: str, table: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The classes of one band of a classified cube: the cube's table for its `class` band;
    for a band `label:<name>` of a multi-label model, 0 (does not hold, white) and 1 (holds,
    in the label's colour)."""
    if not table:
        return None
    if name == "class":
        return table
    if name.startswith("label:"):
        label = name.removeprefix("label:")
        entry = next((c for c in table if c["name"] == label), {})
        return [
            {"value": 0, "name": f"not {label}", "color_hint": "FFFFFF"},
            {"value": 1, "name": label, "color_hint": entry.get("color_hint", "808080")},
        ]
    return None


def crs_of(da: xr.DataArray) -> Any:
    crs = da.rio.crs
    return crs if crs is not None else da.attrs.get("crs")


def raster_of(data: Any, fmt: str) -> xr.DataArray:
    if not isinstance(data, xr.DataArray) or not {"x", "y"} <= set(data.dims):
        raise FormatUnsupported(
            f"{fmt} needs a raster data cube with x and y dimensions; save other results as JSON."
        )
    return data


def cast(da: xr.DataArray, options: dict[str, Any], fmt: str) -> xr.DataArray:
    dtype = options.get("datatype")
    if dtype is None:
        if da.dtype == bool:
            return da.astype(np.uint8)
        if da.dtype == np.float64:
            return da.astype(np.float32)
        if da.dtype == np.int64:
            return da.astype(np.int32)
        return da
    if dtype not in DTYPES:
        raise ProcessParameterInvalid(
            process="save_result",
            parameter="options",
            reason=f"{fmt} datatype must be one of {DTYPES}",
        )
    return da.astype("uint8" if dtype == "byte" else dtype)
