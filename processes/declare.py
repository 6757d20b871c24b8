"""One declaration per cropcube process: `@declare("id")` on the code joins it to its spec
(specs/<id>.json). The registry offers exactly what is declared, and every argument the
code gets has been checked against the spec's JSON schema first (types, enums, every
bound), so the code checks only what a schema cannot say (a band, a model's tile size)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from core.errors import ProcessParameterInvalid

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
DECLARED: dict[str, tuple[dict, Callable[..., Any]]] = {}  # id -> (spec, code)
F = TypeVar("F", bound=Callable[..., Any])


def declare(process_id: str) -> Callable[[F], F]:
    """Register the decorated function as the code of specs/<process_id>.json."""
    spec = json.loads((SPECS_DIR / f"{process_id}.json").read_text())
    if spec.get("id") != process_id:
        raise ValueError(f"specs/{process_id}.json declares id {spec.get('id')!r}")

    def register(func: F) -> F:
        if process_id in DECLARED:
            raise ValueError(f"{process_id} is declared twice")
        DECLARED[process_id] = (spec, func)
        return func

    return register


def invalid(process_id: str) -> Callable[[str, str], ProcessParameterInvalid]:
    """The ProcessParameterInvalid of one process: invalid(id)(parameter, reason)."""

    def make(parameter: str, reason: str) -> ProcessParameterInvalid:
        return ProcessParameterInvalid(process=process_id, parameter=parameter, reason=reason)

    return make
