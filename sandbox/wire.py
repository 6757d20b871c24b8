"""What passes between the server and a UDF process, and nothing that could run code.

Requests (ours, trusted) travel as two memfds handed over the socket: a JSON header and the
chunk's raw bytes, which the guest maps copy-on-write instead of reading. Replies (the
user's, untrusted) come back on the socket as a length-prefixed JSON header and raw bytes,
read into a fresh array of a dtype and shape checked first; no pickle either way.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import socket
import struct
import time
from typing import Any

import numpy as np
import xarray as xr

MAX_HEADER = 64 * 2**20
_LENGTH = struct.Struct(">Q")
# dtypes a reply may hold: booleans, integers and floats of at most 8 bytes
_DATA_DTYPE = re.compile(r"^[<>|=]?(b1|[iuf][1248])$")


class WireError(Exception):
    """The other side sent something that is not a well-formed message (or nothing)."""


class Closed(WireError):
    """The other side closed the connection."""


# --- cubes as JSON headers plus one array -------------------------------------------------


def _coord(values: np.ndarray) -> dict[str, Any] | None:
    kind = values.dtype.kind
    if kind == "M":
        return {
            "dtype": "datetime64[ns]",
            "values": values.astype("datetime64[ns]").astype("int64").tolist(),
        }
    if kind in "biuf":
        return {"dtype": values.dtype.str, "values": values.tolist()}
    if kind in "UO":
        return {"dtype": "str", "values": [str(v) for v in values.tolist()]}
    return None


def describe(cube: xr.DataArray) -> dict[str, Any]:
    """The JSON header of a cube: dims, shape, dtype, its 1-D and scalar coordinates and
    the attributes JSON can hold."""
    coords = {}
    for name, coord in cube.coords.items():
        if coord.ndim > 1:
            continue
        encoded = _coord(np.atleast_1d(np.asarray(coord.values)))
        if encoded is not None:
            coords[str(name)] = {"dims": [str(d) for d in coord.dims], **encoded}
    attrs = {}
    for key, value in cube.attrs.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            continue
        attrs[str(key)] = value
    return {
        "dims": [str(d) for d in cube.dims],
        "shape": [int(n) for n in cube.shape],
        "dtype": cube.dtype.str,
        "coords": coords,
        "name": cube.name if isinstance(cube.name, str) else None,
        "attrs": attrs,
    }


def _checked_dtype(text: Any, pattern: re.Pattern = _DATA_DTYPE) -> np.dtype:
    if not isinstance(text, str) or not pattern.match(text):
        raise WireError(f"data of type {text!r}; a UDF must return numbers or booleans")
    return np.dtype(text)


def _checked_coord(name: str, spec: Any, sizes: dict[str, int]) -> Any:
    if not isinstance(spec, dict) or not isinstance(spec.get("values"), list):
        raise WireError(f"coordinate {name!r} is not a list of values")
    dims = spec.get("dims")
    if not isinstance(dims, list) or len(dims) > 1 or any(d not in sizes for d in dims):
        raise WireError(f"coordinate {name!r} lies along no dimension of the cube")
    values = spec["values"]
    expected = sizes[dims[0]] if dims else 1
    if len(values) != expected:
        raise WireError(f"coordinate {name!r} has {len(values)} labels for {expected} values")
    dtype = spec.get("dtype")
    try:
        if dtype == "datetime64[ns]":
            array = np.array(values, dtype="int64").view("datetime64[ns]")
        elif dtype == "str":
            if not all(isinstance(v, str) for v in values):
                raise WireError(f"coordinate {name!r} mixes labels that are not text")
            array = np.array(values, dtype=str)
        else:
            array = np.array(values, dtype=_checked_dtype(dtype))
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireError(f"coordinate {name!r}: {exc}") from None
    return (tuple(dims), array) if dims else array[0]


def checked_header(header: Any, max_bytes: int) -> tuple[np.dtype, tuple[int, ...], int]:
    """dtype, shape and byte count of a reply's cube, or WireError if the header is not a
    cube we can take (any key missing or of the wrong kind, too large)."""
    if not isinstance(header, dict):
        raise WireError("the reply is not a JSON object")
    dims, shape = header.get("dims"), header.get("shape")
    if (
        not isinstance(dims, list)
        or not all(isinstance(d, str) and d for d in dims)
        or len(set(dims)) != len(dims)
        or len(dims) > 16
    ):
        raise WireError("the cube's dimensions are not distinct names")
    if (
        not isinstance(shape, list)
        or len(shape) != len(dims)
        or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**40 for n in shape)
    ):
        raise WireError("the cube's shape does not match its dimensions")
    dtype = _checked_dtype(header.get("dtype"))
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > max_bytes:
        raise WireError(
            f"the cube holds {nbytes / 2**20:.0f} MiB, more than {max_bytes / 2**20:.0f} MiB"
        )
    return dtype, tuple(shape), nbytes


def cube_of(header: dict[str, Any], data: np.ndarray) -> xr.DataArray:
    """The cube a checked header and its array describe."""
    sizes = dict(zip(header["dims"], data.shape, strict=True))
    coords = {}
    raw = header.get("coords") or {}
    if not isinstance(raw, dict):
        raise WireError("the coordinates are not a JSON object")
    for name, spec in raw.items():
        coords[str(name)] = _checked_coord(str(name), spec, sizes)
    attrs = header.get("attrs")
    name = header.get("name")
    return xr.DataArray(
        data,
        dims=header["dims"],
        coords=coords,
        attrs=attrs if isinstance(attrs, dict) else {},
        name=name if isinstance(name, str) else None,
    )


# --- the host's side ---------------------------------------------------------------------


def _memfd(size: int) -> int:
    fd = os.memfd_create("cropcube-udf", os.MFD_CLOEXEC)
    os.ftruncate(fd, size)
    return fd


def send_request(sock: socket.socket, header: dict[str, Any], data: np.ndarray | None) -> None:
    """Hand a request over: the header and the array each in a memfd of its own."""
    encoded = json.dumps(header).encode()
    head_fd = _memfd(len(encoded))
    data_fd = _memfd(0 if data is None else data.nbytes)
    try:
        os.pwrite(head_fd, encoded, 0)
        if data is not None and data.nbytes:
            with mmap.mmap(data_fd, data.nbytes) as mapped:
                np.copyto(np.frombuffer(mapped, data.dtype).reshape(data.shape), data)
        socket.send_fds(sock, [b"R"], [head_fd, data_fd])
    finally:
        os.close(head_fd)
        os.close(data_fd)


def _recv_exact(sock: socket.socket, view: memoryview, deadline: float) -> None:
    got = 0
    while got < len(view):
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        n = sock.recv_into(view[got:])
        if n == 0:
            raise Closed("the UDF process closed its connection")
        got += n


def recv_reply(
    sock: socket.socket, max_bytes: int, deadline: float
) -> tuple[dict[str, Any], np.ndarray | None]:
    """A reply: its header, and the array when the header announces a cube (checked
    before a byte of it is read). socket.timeout once the deadline passes."""
    length = bytearray(_LENGTH.size)
    _recv_exact(sock, memoryview(length), deadline)
    (size,) = _LENGTH.unpack(length)
    if size > MAX_HEADER:
        raise WireError(f"a reply header of {size} bytes")
    raw = bytearray(size)
    _recv_exact(sock, memoryview(raw), deadline)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"a reply that is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise WireError("a reply that is not a JSON object")
    if not isinstance(header.get("cube"), dict):
        return header, None
    dtype, shape, nbytes = checked_header(header["cube"], max_bytes)
    data = np.empty(shape, dtype)
    if nbytes:
        _recv_exact(sock, data.reshape(-1).view(np.uint8).data, deadline)
    return header, data


# --- the guest's side --------------------------------------------------------------------


def recv_request(sock: socket.socket) -> tuple[dict[str, Any], np.ndarray | None] | None:
    """The next request, or None when the host has closed the connection. The array maps
    the host's memfd copy-on-write: the UDF may change it, the host never sees that."""
    msg, fds, _, _ = socket.recv_fds(sock, 1, 2)
    if not msg:
        return None
    head_fd, data_fd = fds
    try:
        header = json.loads(os.pread(head_fd, os.fstat(head_fd).st_size, 0))
        array = None
        spec = header.get("cube")
        if spec is not None:
            size = os.fstat(data_fd).st_size
            dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
            if size:
                mapped = mmap.mmap(data_fd, size, mmap.MAP_PRIVATE)
                array = np.frombuffer(mapped, dtype).reshape(shape)
            else:
                array = np.empty(shape, dtype)
        return header, array
    finally:
        os.close(head_fd)
        os.close(data_fd)


def send_reply(sock: socket.socket, header: dict[str, Any], data: np.ndarray | None = None) -> None:
    encoded = json.dumps(header).encode()
    sock.sendall(_LENGTH.pack(len(encoded)) + encoded)
    if data is not None and data.nbytes:
        sock.sendall(np.ascontiguousarray(data).reshape(-1).view(np.uint8).data)
