"""pytest plugin: run the suite's process cases that JSON cannot carry (NaN or infinity in
the arguments or the expected result) through cropcube's own registry, in process.

The suite's HTTP runner refuses those cases before sending them, and its `dask` runner
calls openeo-processes-dask directly, not our overrides. The suite picks its runner from a
fixed list by name, so with `--runner=dask` this plugin stands in for that runner: every
case becomes a one-node process graph evaluated by cropcube's executor (argument checks
against the official specs, our implementations, our result typing), and only the cases
with a non-JSON number are kept; the rest run through HTTP in WP5.
"""

from __future__ import annotations

import math
from typing import Any

import dask.array
import numpy as np
import pytest
from openeo_test_suite.lib.process_runner import dask as suite_dask
from openeo_test_suite.lib.process_runner.base import ProcessTestRunner
from openeo_test_suite.lib.process_runner.util import (
    datacube_to_xarray,
    numpy_to_native,
    xarray_to_datacube,
)

from backend import executor
from core.settings import Settings
from processes import registry
from processes.context import ExecutionContext
from sources.catalog import Catalog


def _non_json(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value) or math.isinf(value)
    if isinstance(value, dict):
        return any(_non_json(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_json(v) for v in value)
    return False


class CropcubeRunner(ProcessTestRunner):
    """Cases as one-node graphs through cropcube's executor (openEO errors as raised)."""

    def __init__(self) -> None:
        self.catalog = Catalog(Settings.from_env())

    def list_processes(self) -> list[dict]:
        return [p.spec for p in registry.registry().values()]

    def execute(self, id: str, arguments: dict) -> Any:  # noqa: A002 - the suite's name
        graph = {"n": {"process_id": id, "arguments": arguments, "result": True}}
        return executor.evaluate(graph, ExecutionContext(self.catalog))

    def encode_process_graph(
        self,
        process: dict,
        parent_process_id: str | None = None,
        parent_parameter: str | None = None,
    ) -> dict:
        return process  # a {"process_graph": ...} argument, as a request would carry it

    def encode_datacube(self, data: dict) -> Any:
        return datacube_to_xarray(data)

    def decode_data(self, data: Any, expected: Any) -> Any:
        if isinstance(data, dask.array.core.Array):
            data = data.compute()
        if isinstance(data, np.ndarray) and data.ndim == 0:
            data = data[()]
        return xarray_to_datacube(numpy_to_native(data, expected))

    def get_nodata_value(self) -> Any:
        return None


suite_dask.Dask = CropcubeRunner  # the name the suite's `connection` fixture imports


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the cases with NaN or infinity; the others are WP5's, through HTTP."""
    keep, drop = [], []
    for item in items:
        example = getattr(item, "callspec", None) and item.callspec.params.get("example")
        carries = isinstance(example, dict) and (
            _non_json(example.get("arguments")) or _non_json(example.get("returns"))
        )
        (keep if carries else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
