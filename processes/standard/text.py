"""text_concat: the openEO text of each value (null, true, false, numbers as JSON writes them)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from processes.standard._values import is_nodata


def _text(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return value
    if is_nodata(value):
        return "null"
    return json.dumps(value)


def text_concat(data: list[Any], separator: Any = "") -> str:
    """Join the values' texts with the separator's text."""
    return _text(separator).join(_text(v) for v in data)


IMPLEMENTATIONS = {"text_concat": text_concat}
