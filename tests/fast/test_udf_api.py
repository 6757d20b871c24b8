"""run_udf in process: the runtime listing, every bad argument as an openEO error, the
sandbox turned off or trusted, and the wire refusing replies that are not cubes."""

from __future__ import annotations

import json
import socket
import struct
import time
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from backend.app import create_app
from helpers.udf import udf_graph
from sandbox import wire

API = "/openeo/1.2"
CODE = (
    "import xarray\n"
    "def apply_datacube(cube: xarray.DataArray, context: dict) -> xarray.DataArray:\n"
    "    return cube * context.get('factor', 1)\n"
)


def _graph(parent: str = "apply", **run_udf) -> dict:
    return udf_graph(run_udf.pop("udf", CODE), parent, **run_udf)


def _error(client, headers, graph: dict, code: str, status: int = 400) -> str:
    r = client.post(f"{API}/result", json=graph, headers=headers)
    assert r.status_code == status, r.data
    assert r.json["code"] == code, r.json
    assert "Traceback" not in r.json["message"]
    return r.json["message"]


def test_a_udf_runs_in_the_sandbox(client, alice_headers):
    graph = _graph(context={"factor": 2})
    r = client.post(f"{API}/result", json=graph, headers=alice_headers)
    assert r.status_code == 200, r.data


@pytest.mark.parametrize(
    ("change", "code", "status", "words"),
    [
        ({"runtime": "R"}, "InvalidRuntime", 400, "'R'"),
        ({"runtime": "Python", "version": "2.7"}, "InvalidVersion", 400, "'2.7'"),
        ({"udf": "folder/my_udf.py"}, "FileNotFound", 404, "workspace"),
        ({"udf": "http://127.0.0.1:1/udf.py"}, "ProcessParameterInvalid", 400, "not allowed"),
        ({"udf": 42}, "ProcessParameterInvalid", 400, "udf"),
    ],
)
def test_bad_run_udf_arguments(client, alice_headers, change, code, status, words):
    assert words in _error(client, alice_headers, _graph(**change), code, status)


def test_the_runtime_name_is_matched_without_case(client, alice_headers):
    r = client.post(
        f"{API}/result", json=_graph(runtime="python", version="3"), headers=alice_headers
    )
    assert r.status_code == 200, r.data


def test_run_udf_inside_a_larger_callback_is_refused_clearly(client, alice_headers):
    graph = _graph()
    inner = graph["process"]["process_graph"]["run"]["arguments"]["process"]["process_graph"]
    inner["u"].pop("result")
    inner["m"] = {
        "process_id": "multiply",
        "arguments": {"x": {"from_node": "u"}, "y": 2},
        "result": True,
    }
    message = _error(client, alice_headers, graph, "ProcessParameterInvalid")
    assert "whole callback" in message


def test_a_reducer_udf_must_drop_the_dimension(client, alice_headers):
    message = _error(client, alice_headers, _graph("reduce_dimension"), "UdfError")
    assert "without that dimension" in message


def test_an_estimate_runs_no_udf(client, alice_headers):
    graph = _graph(udf=CODE.replace("return cube", "raise ValueError('ran')\n    return cube"))
    r = client.post(f"{API}/jobs", json=graph, headers=alice_headers)
    job = r.headers["OpenEO-Identifier"]
    r = client.get(f"{API}/jobs/{job}/estimate", headers=alice_headers)
    assert r.status_code == 200, r.data


@pytest.fixture
def other_app(settings):
    def make(**changes):
        return create_app(replace(settings, **changes)).test_client()

    return make


def test_sandbox_off_refuses_run_udf_and_lists_no_runtime(other_app, alice_headers):
    client = other_app(udf_sandbox="off")
    assert client.get(f"{API}/udf_runtimes").json == {}
    # GET /processes lists what runs here: not run_udf (a federation routes it elsewhere).
    listed = {p["id"] for p in client.get(f"{API}/processes").json["processes"]}
    assert "run_udf" not in listed and "apply" in listed
    message = _error(client, alice_headers, _graph(), "UdfUnavailable", 501)
    assert "CROPCUBE_UDF_SANDBOX" in message


def test_trusted_subprocesses_run_udfs_where_allowed(other_app, alice_headers):
    client = other_app(udf_sandbox="subprocess")
    assert "Python" in client.get(f"{API}/udf_runtimes").json
    assert "run_udf" in {p["id"] for p in client.get(f"{API}/processes").json["processes"]}
    r = client.post(f"{API}/result", json=_graph(context={"factor": 3}), headers=alice_headers)
    assert r.status_code == 200, r.data


# --- the wire: what a UDF process may answer ----------------------------------------------


def _reply(raw: bytes, max_bytes: int = 2**20):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(raw)
        theirs.shutdown(socket.SHUT_WR)
        return wire.recv_reply(ours, max_bytes, time.monotonic() + 5)


def _framed(header: object, payload: bytes = b"") -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack(">Q", len(encoded)) + encoded + payload


CUBE = {"dims": ["y", "x"], "shape": [2, 2], "dtype": "<f4", "coords": {}}


def test_a_well_formed_reply_is_read():
    header, data = _reply(_framed({"ok": True, "cube": CUBE}, np.arange(4, dtype="<f4").tobytes()))
    assert data.tolist() == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\xff" * 16, "header"),
        (struct.pack(">Q", 5) + b"nope!", "not JSON"),
        (_framed([1, 2]), "not a JSON object"),
        (_framed({"cube": {**CUBE, "dtype": "|O"}}), "numbers"),
        (_framed({"cube": {**CUBE, "dtype": "<U5"}}), "numbers"),
        (_framed({"cube": {**CUBE, "shape": [2]}}), "shape"),
        (_framed({"cube": {**CUBE, "shape": [2, -1]}}), "shape"),
        (_framed({"cube": {**CUBE, "dims": ["y", "y"]}}), "distinct"),
        (_framed({"cube": {**CUBE, "shape": [2**20, 2**20]}}), "MiB"),
        (_framed({"cube": CUBE}, b"\x00" * 3), "closed"),
    ],
)
def test_replies_that_are_not_cubes_are_refused(raw, words):
    with pytest.raises(wire.WireError, match=words):
        _reply(raw)


@pytest.mark.parametrize(
    "coords",
    [
        {"t": {"dims": ["t"], "dtype": "str", "values": ["a"]}},
        {"x": {"dims": ["x"], "dtype": "str", "values": ["a"]}},
        {"x": {"dims": ["x"], "dtype": "str", "values": [1, 2]}},
        {"x": {"dims": ["x"], "dtype": "|O", "values": [1, 2]}},
        {"x": {"dims": ["x"], "dtype": "datetime64[ns]", "values": ["a", "b"]}},
        {"x": "labels"},
    ],
)
def test_bad_labels_are_refused(coords):
    with pytest.raises(wire.WireError):
        wire.cube_of({**CUBE, "coords": coords}, np.zeros((2, 2), "<f4"))


def test_labels_and_attributes_travel():
    cube = xr.DataArray(
        np.zeros((2, 1, 2), "f4"),
        dims=("t", "bands", "x"),
        coords={
            "t": np.array(["2022-01-01", "2022-02-01"], "datetime64[ns]"),
            "bands": ["B04"],
            "x": [0.5, 1.5],
        },
        attrs={"units": "1", "bad": object()},
    )
    back = wire.cube_of(json.loads(json.dumps(wire.describe(cube))), cube.values)
    xr.testing.assert_identical(
        back, cube.assign_attrs(bad=None).drop_attrs().assign_attrs(units="1")
    )
