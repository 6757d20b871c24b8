"""The loop inside a UDF process: limits first, then one request after another.

Started as `python -I -m sandbox.guest FD LIMITS_JSON` by the pool, inside bubblewrap (or
as a plain child process where that is allowed). It reads requests on the socket FD, runs
the UDF code through the openeo package's own `run_udf_code` (apply_datacube,
apply_timeseries, UdfData functions, as on the other openEO platforms), and answers with
the resulting cube or with the error and the UDF's own line it came from. What the UDF
prints is kept in memory (the last 64 KiB), never on a pipe the host must drain.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
import threading
import traceback
from typing import Any

from sandbox import wire

UDF_FILE = "<string>"  # the file name exec gives the UDF's code (openeo's load_module)


class _Tail:
    """A text stream that keeps only its last characters (print 1 GB: 64 KiB kept)."""

    def __init__(self, keep: int = 65536):
        self.keep, self.text = keep, ""

    def write(self, text: str) -> int:
        self.text = (self.text + str(text))[-self.keep :]
        return len(text)

    def flush(self) -> None:
        pass


def _limit(limits: dict[str, int]) -> None:
    """Set the rlimits before any user code runs; the UDF cannot raise them again."""
    for name, value in limits.items():
        which = getattr(resource, f"RLIMIT_{name.upper()}")
        resource.setrlimit(which, (value, value))


def where(exc: BaseException, code: str) -> dict[str, Any]:
    """The UDF's own line an exception came from, with its source text."""
    line = None
    if isinstance(exc, SyntaxError) and exc.filename == UDF_FILE:
        line = exc.lineno
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == UDF_FILE:
            line = frame.lineno
    if line is None:
        return {}
    lines = code.splitlines()
    source = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return {"line": line, "source": source}


def run(header: dict[str, Any], data: Any) -> Any:
    """The UDF's result cube (an xarray.DataArray) for one request."""
    import xarray as xr
    from openeo.udf import UdfData, XarrayDataCube
    from openeo.udf.run_code import run_udf_code

    cube = wire.cube_of(header["cube"], data)
    result = run_udf_code(
        header["code"],
        UdfData(datacube_list=[XarrayDataCube(cube)], user_context=header["context"]),
    )
    cubes = result.get_datacube_list() or []
    if len(cubes) != 1:
        raise TypeError(f"the UDF must return one data cube, it returned {len(cubes)}")
    array = cubes[0].get_array()
    if not isinstance(array, xr.DataArray):
        raise TypeError(f"the UDF returned {type(array).__name__}, not an xarray.DataArray")
    array = array.compute()
    if array.dtype.kind not in "biuf":
        raise TypeError(f"the UDF returned values of type {array.dtype}, not numbers")
    return array


class _Call:
    """One request, answered exactly once: by its result, its error, or its watchdog."""

    def __init__(self, sock: socket.socket, header: dict[str, Any]):
        self.sock, self.header = sock, header
        self.lock, self.done = threading.Lock(), False
        self.main, self.pid = threading.get_ident(), os.getpid()

    def reply(self, header: dict[str, Any], data: Any = None) -> bool:
        if os.getpid() != self.pid:  # a child the UDF forked: it has nothing to answer
            os._exit(0)
        with self.lock:
            if self.done:
                return False
            self.done = True
            wire.send_reply(self.sock, header, data)
            return True

    def fail(self, kind: str, message: str, place: dict[str, Any]) -> bool:
        return self.reply(
            {"ok": False, "error": {"type": kind, "message": message[:4000], **place}}
        )

    def timed_out(self) -> None:
        """At the wall-time limit: say which line of the UDF was running, then end."""
        frame = sys._current_frames().get(self.main)
        line = None
        while frame is not None:
            if frame.f_code.co_filename == UDF_FILE:
                line = frame.f_lineno
                break
            frame = frame.f_back
        lines = self.header["code"].splitlines()
        place = {"line": line, "source": lines[line - 1].strip()} if line else {}
        if self.fail("Timeout", "the UDF ran out of time", place):
            os._exit(0)


def serve(sock: socket.socket, timeout_s: float) -> None:
    sys.stdout = sys.stderr = _Tail()  # type: ignore[assignment]
    wire.send_reply(sock, {"ready": True})
    while True:
        request = wire.recv_request(sock)
        if request is None:
            return
        header, data = request
        call = _Call(sock, header)
        watchdog = threading.Timer(timeout_s, call.timed_out)
        watchdog.daemon = True
        watchdog.start()
        try:
            result = run(header, data)
            out = wire.describe(result)
            call.reply({"ok": True, "cube": out}, result.values)
        except MemoryError as exc:
            call.fail("MemoryError", str(exc) or "out of memory", where(exc, header["code"]))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the host
            call.fail(type(exc).__name__, str(exc), where(exc, header["code"]))
        finally:
            watchdog.cancel()
        if not call.done:
            return


WARM_UP = (
    "import xarray\n"
    "def apply_datacube(cube: xarray.DataArray, context: dict) -> xarray.DataArray:\n"
    "    return cube\n"
)


def _warm_up() -> None:
    """One tiny UDF call, so the libraries' first-call costs are not the user's."""
    import numpy as np
    import xarray as xr

    cube = xr.DataArray(np.zeros((1, 1, 1, 1), "f4"), dims=("t", "bands", "y", "x"))
    result = run({"cube": wire.describe(cube), "code": WARM_UP, "context": {}}, cube.values)
    wire.describe(result)


def main() -> None:
    fd, config = int(sys.argv[1]), json.loads(sys.argv[2])
    _limit(config["rlimits"])
    sock = socket.socket(fileno=fd)
    # the libraries a UDF will want, loaded once per process rather than once per chunk
    import numpy  # noqa: F401
    import openeo.udf.run_code  # noqa: F401
    import xarray  # noqa: F401

    _warm_up()
    devnull = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(devnull, std)
    serve(sock, float(config["timeout_s"]))


if __name__ == "__main__":
    main()
