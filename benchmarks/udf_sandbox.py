"""run_udf in the sandbox against the same UDF run in this process, in the same run.

(1) A per-pixel UDF (the openEO client's Savitzky-Golay smoothing along t) over a
    1000 x 1000 px, 12-date, 4-band float32 cube in 512 px blocks, through run_udf's block
    path with sandboxed processes, against the same blocks handed to openeo's
    `run_udf_code` in this process (no sandbox, no copies). Target: within 1.3x.
(2) The cost per block of a trivial UDF (`return cube`) in the sandbox against in process:
    what the pool leaves on the per-chunk path once its processes are warm.
(3) Starting one sandboxed process (bwrap, Python, numpy, xarray, the UDF API): what the
    warm pool keeps off that path.

    .venv/bin/python benchmarks/udf_sandbox.py [--size 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import dask
import numpy as np
import xarray as xr
from openeo.udf import UdfData, XarrayDataCube
from openeo.udf.run_code import run_udf_code

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.settings import UdfLimits  # noqa: E402
from processes import blocks  # noqa: E402
from processes.udf import AnyLabels, Checked, Udf  # noqa: E402
from sandbox import pool  # noqa: E402

SMOOTH = (REPO / "tests" / "udf_examples" / "smooth_savitzky_golay.py").read_text()
TRIVIAL = (
    "import xarray\n"
    "def apply_datacube(cube: xarray.DataArray, context: dict) -> xarray.DataArray:\n"
    "    return cube\n"
)


class InProcess:
    """The baseline: the same UDF on the same block, in this process."""

    def __init__(self, code: str):
        self.code = code

    def __call__(self, block: xr.DataArray) -> xr.DataArray:
        data = UdfData(datacube_list=[XarrayDataCube(block)], user_context={})
        return run_udf_code(self.code, data).get_datacube_list()[0].get_array()


def cube(size: int, dates: int = 12, bands: int = 4, chunk: int = 512) -> xr.DataArray:
    rng = np.random.default_rng(0)
    values = rng.random((dates, bands, size, size), dtype=np.float32)
    t = np.arange("2022-01", "2023-01", dtype="datetime64[M]")[:dates].astype("datetime64[ns]")
    return xr.DataArray(
        values,
        dims=("t", "bands", "y", "x"),
        coords={
            "t": t,
            "bands": [f"B{i}" for i in range(bands)],
            "y": np.arange(size) * -10.0,
            "x": np.arange(size) * 10.0,
        },
    ).chunk({"y": chunk, "x": chunk})


def timed(data: xr.DataArray, function) -> float:
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        blocks.apply_blocks(data, function, blocks.layout(data)).compute()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    limits = UdfLimits()
    data = cube(args.size).persist()
    n_blocks = int(np.prod([len(s) for s in blocks.layout(data).spans.values()]))

    def sandboxed(code: str):
        return Checked(Udf(code, {}, limits, uuid.uuid4().hex), AnyLabels())

    results = {}
    for name, code in (("smoothing", SMOOTH), ("trivial", TRIVIAL)):
        run = sandboxed(code)  # one run: its processes stay warm between its blocks
        timed(data, run)
        sand, local = [], []
        for _ in range(args.repeat):
            local.append(timed(data, InProcess(code)))
            sand.append(timed(data, run))
        results[name] = (statistics.median(sand), statistics.median(local))
    fresh = []
    for _ in range(args.repeat):
        time.sleep(limits.idle_s + 3)  # the pool idle: old runs' processes gone, spares ready
        fresh.append(timed(data, sandboxed(TRIVIAL)))
    started = []
    for _ in range(3):
        t0 = time.perf_counter()
        pool._start(limits).kill()
        started.append(time.perf_counter() - t0)

    print(
        f"cube: {args.size} x {args.size} px, 12 dates, 4 bands, float32, {n_blocks} blocks; "
        f"{limits.processes} UDF processes; medians of {args.repeat}"
    )
    s, b = results["smoothing"]
    print(
        f"(1) per-pixel smoothing: sandbox {s:.2f} s, in process {b:.2f} s, "
        f"ratio {s / b:.2f}x (target 1.3x)"
    )
    s, b = results["trivial"]
    print(
        f"(2) trivial UDF per block: sandbox {1000 * s / n_blocks:.1f} ms, in process "
        f"{1000 * b / n_blocks:.1f} ms, overhead {1000 * (s - b) / n_blocks:.1f} ms per "
        f"{data.nbytes / n_blocks / 2**20:.0f} MiB block"
    )
    print(
        f"    a new run's trivial UDF on spares started ahead: {statistics.median(fresh):.2f} s "
        f"for its {n_blocks} blocks"
    )
    print(f"(3) starting one sandboxed UDF process: median {statistics.median(started):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
