"""What the views that take a JSON object share: reading it and refusing read-only keys."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import request

from core import errors


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or BadRequest."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise errors.BadRequest("The request body must be a JSON object.")
    return body


def check_editable(body: dict[str, Any], editable: Iterable[str]) -> None:
    """PropertyNotEditable for the first key of a PATCH body that may not change."""
    allowed = set(editable)
    for key in body:
        if key not in allowed:
            raise errors.PropertyNotEditable(property=key)
