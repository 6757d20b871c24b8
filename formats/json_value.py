"""JSON: any process result as plain JSON (NaN and NaT as null)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from formats import vector


def to_json_value(value: Any) -> Any:
    """JSON-compatible form of any process result (NaN and NaT as null)."""
    if vector.geometry_dim(value) is not None:
        return vector.json_value(value, to_json_value)
    if isinstance(value, xr.DataArray):
        value = value.compute()
        return {
            "dims": list(value.dims),
            "coords": {
                d: [to_json_value(v) for v in value[d].values]
                for d in value.dims
                if d in value.coords
            },
            "data": to_json_value(value.values),
        }
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return to_json_value(value[()])
    if isinstance(value, np.ndarray | list | tuple | set):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if hasattr(value, "compute"):
        return to_json_value(value.compute())
    if hasattr(value, "model_dump"):  # pydantic models: temporal intervals, bounding boxes
        return to_json_value(value.model_dump(mode="json"))
    if hasattr(value, "__geo_interface__"):  # shapely geometries, GeoDataFrames
        return to_json_value(value.__geo_interface__)
    if isinstance(value, np.datetime64 | pd.Timestamp | dt.datetime | dt.date):
        return None if pd.isna(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(data: Any, path: Path, options: dict[str, Any]) -> None:
    path.write_text(json.dumps(to_json_value(data)))
