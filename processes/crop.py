"""cropcube's own processes: openEO arguments checked, then handed to the UDF code in udfs/."""

from __future__ import annotations

from typing import Any

import xarray as xr

from core.errors import OpenEOError
from processes.declare import declare, invalid
from udfs import monthly_composite as mc


class DimensionMissing(OpenEOError):
    code = "DimensionMissing"
    status = 400
    default_message = "The cube lacks a dimension the process needs."


def require_dims(data: Any, process: str, dims: tuple[str, ...]) -> None:
    """DimensionMissing, naming what the process needs and what it got, unless `data` is a
    cube with all of `dims`."""
    if isinstance(data, xr.DataArray) and set(dims) <= set(data.dims):
        return
    got = (
        f"the cube has {', '.join(map(str, data.dims)) or 'none'}"
        if isinstance(data, xr.DataArray)
        else f"got {type(data).__name__}, not a data cube"
    )
    raise DimensionMissing(
        f"{process} needs the dimensions {', '.join(dims[:-1])} and {dims[-1]}; {got}."
    )


_invalid = invalid("monthly_composite")


@declare("monthly_composite")
def monthly_composite(
    data: Any,
    start_month: int = 9,
    method: str = "median",
    mask_classes: list[int] | None = None,
    mask_dilation: int = 0,
    fill: str = "linear",
    valid_count: bool = False,
    scl_band: str = "SCL",
    **_: Any,
) -> xr.DataArray:
    """See specs/monthly_composite.json (its schema has checked every argument)."""
    require_dims(data, "monthly_composite", ("t", "bands", "y", "x"))
    classes = mc.DEFAULT_MASK if mask_classes is None else mask_classes
    bands = [str(b) for b in data["bands"].values]
    if scl_band not in bands:
        raise _invalid(
            "data", f"the cube has no band '{scl_band}' to mask with; bands are {', '.join(bands)}"
        )
    if method == "best" and not {"B04", "B08"} <= set(bands):
        raise _invalid("method", "'best' needs the bands B04 and B08")
    return mc.composite(
        data,
        start_month=start_month,
        method=method,
        mask_classes=classes,
        mask_dilation=mask_dilation,
        fill=fill,
        valid_count=bool(valid_count),
        scl_band=scl_band,
    )
