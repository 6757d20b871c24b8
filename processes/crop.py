"""cropcube's own processes: openEO arguments checked, then handed to the UDF code in udfs/."""

from __future__ import annotations

from typing import Any

import xarray as xr

from backend.errors import OpenEOError, ProcessParameterInvalid
from udfs import monthly_composite as mc


class DimensionMissing(OpenEOError):
    code = "DimensionMissing"
    status = 400
    default_message = "The cube needs the dimensions t, bands, y and x."


def _invalid(parameter: str, reason: str) -> ProcessParameterInvalid:
    return ProcessParameterInvalid(process="monthly_composite", parameter=parameter, reason=reason)


def monthly_composite(data: Any, start_month: int = 9, method: str = "median",
                      mask_classes: list[int] | None = None, mask_dilation: int = 0,
                      fill: str = "linear", valid_count: bool = False, scl_band: str = "SCL",
                      **_: Any) -> xr.DataArray:
    """See specs/monthly_composite.json."""
    if not isinstance(data, xr.DataArray) or not {"t", "bands", "y", "x"} <= set(data.dims):
        raise DimensionMissing()
    if not isinstance(start_month, int) or not 1 <= start_month <= 12:
        raise _invalid("start_month", "must be an integer from 1 to 12")
    if method not in mc.METHODS:
        raise _invalid("method", f"must be one of {', '.join(mc.METHODS)}")
    if fill not in ("linear", "none"):
        raise _invalid("fill", "must be 'linear' or 'none'")
    if not isinstance(mask_dilation, int) or not 0 <= mask_dilation <= 50:
        raise _invalid("mask_dilation", "must be an integer from 0 to 50")
    classes = mc.DEFAULT_MASK if mask_classes is None else mask_classes
    if not all(isinstance(c, int) for c in classes):
        raise _invalid("mask_classes", "must be a list of integer classes")
    bands = [str(b) for b in data["bands"].values]
    if scl_band not in bands:
        raise _invalid("data", f"the cube has no band '{scl_band}' to mask with; bands are "
                       f"{', '.join(bands)}")
    if method == "best" and not {"B04", "B08"} <= set(bands):
        raise _invalid("method", "'best' needs the bands B04 and B08")
    return mc.composite(data, start_month=start_month, method=method, mask_classes=classes,
                        mask_dilation=mask_dilation, fill=fill, valid_count=bool(valid_count),
                        scl_band=scl_band)


IMPLEMENTATIONS = {"monthly_composite": monthly_composite}
