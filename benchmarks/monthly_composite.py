"""monthly_composite against the standard-process graph and a plain in-memory floor.

On one year (September 2021 - August 2022) of the demo collection, all ten reflectance
bands + SCL, in one run, each variant in its own process (for its peak memory):

(a)  monthly_composite as the backend runs it: lazy from the COGs, chunked along x and y;
(a') monthly_composite on the same cube already in memory (dask chunks of 512 px);
(b)  the standard openEO way on openeo-processes-dask through cropcube's executor: mask by
     SCL, aggregate_temporal_period(month, median), then array_interpolate_linear over t
     (block by block: apply_dimension refuses cubes over 50 million values);
(c)  the floor: the same numba kernel on the whole in-memory numpy array, no dask.

Prints median wall time of --runs, peak RSS above the process's start, and the ratios.

    .venv/bin/python benchmarks/monthly_composite.py [--size 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MASK = [0, 1, 3, 8, 9, 10, 11]
SPAN = ["2021-09-01", "2022-09-01"]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _catalog(size: int):
    from backend.catalog import Catalog
    from backend.demo.build import build_demo_data
    from backend.settings import Settings

    path = build_demo_data(REPO / ".cache" / "bench" / f"demo-{size}", size=size)
    return Catalog(Settings(stac_url=str(path), dask_chunk_px=512))


def _standard(cube, catalog):
    """Mask + aggregate_temporal_period(median) through the executor, then interpolate."""
    import dask
    from openeo_processes_dask.process_implementations.arrays import array_interpolate_linear

    from backend.executor import evaluate
    from processes import io, registry
    from processes.context import ExecutionContext

    nodes = {"scl": {"process_id": "array_element", "arguments": {
        "data": {"from_parameter": "data"}, "index": 0}}}
    nodes.update({f"eq{c}": {"process_id": "eq", "arguments": {"x": {"from_node": "scl"},
                                                               "y": c}} for c in MASK})
    prev = f"eq{MASK[0]}"
    for c in MASK[1:]:
        nodes[f"or{c}"] = {"process_id": "or", "arguments": {"x": {"from_node": prev},
                                                             "y": {"from_node": f"eq{c}"}}}
        prev = f"or{c}"
    nodes[prev]["result"] = True
    bands = [b for b in cube.bands.values if b != "SCL"]
    graph = {
        "load": {"process_id": "load_collection", "arguments": {
            "id": "SENTINEL2_L2A", "spatial_extent": None, "temporal_extent": SPAN}},
        "scl": {"process_id": "filter_bands", "arguments": {"data": {"from_node": "load"},
                                                            "bands": ["SCL"]}},
        "cloud": {"process_id": "reduce_dimension", "arguments": {
            "data": {"from_node": "scl"}, "dimension": "bands",
            "reducer": {"process_graph": nodes}}},
        "refl": {"process_id": "filter_bands", "arguments": {"data": {"from_node": "load"},
                                                             "bands": bands}},
        "masked": {"process_id": "mask", "arguments": {"data": {"from_node": "refl"},
                                                       "mask": {"from_node": "cloud"}}},
        "monthly": {"process_id": "aggregate_temporal_period", "arguments": {
            "data": {"from_node": "masked"}, "period": "month", "reducer": {"process_graph": {
                "m": {"process_id": "median", "arguments": {"data": {"from_parameter": "data"}},
                      "result": True}}}}, "result": True},
    }
    # The cube under test stands in for load_collection's output (same data, in memory).
    original = io.load_collection
    try:
        io.load_collection = lambda *_a, **_k: cube
        registry.registry.cache_clear()
        monthly = evaluate(graph, ExecutionContext(catalog))
    finally:
        io.load_collection = original
        registry.registry.cache_clear()
    with dask.config.set(scheduler="threads"):
        monthly = monthly.compute()
    values = monthly.transpose("t", "bands", "y", "x").values
    step = 256
    for y0 in range(0, values.shape[2], step):
        for x0 in range(0, values.shape[3], step):
            block = values[:, :, y0:y0 + step, x0:x0 + step]
            values[:, :, y0:y0 + step, x0:x0 + step] = np.apply_along_axis(
                array_interpolate_linear, 0, block)
    return values


def run_variant(name: str, size: int, runs: int) -> dict:
    import dask

    from udfs import monthly_composite as mc

    catalog = _catalog(size)
    lazy = catalog.load("SENTINEL2_L2A", None, SPAN, None)
    if name == "a":
        def work():
            with dask.config.set(scheduler="threads"):
                return mc.composite(lazy).compute().values
    else:
        with dask.config.set(scheduler="threads"):
            memory = lazy.compute()
        if name == "a_mem":
            chunked = memory.chunk({"t": -1, "bands": -1, "y": 512, "x": 512})

            def work():
                with dask.config.set(scheduler="threads"):
                    return mc.composite(chunked).compute().values
        elif name == "b":
            chunked = memory.chunk({"t": -1, "bands": -1, "y": 512, "x": 512})

            def work():
                return _standard(chunked, catalog)
        else:
            def work():
                return mc.composite(memory).values
    start_mb = _peak_mb()
    times = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t0)
    checksum = float(np.nansum(result[:, 3])) if result is not None else 0.0
    return {"seconds": statistics.median(times), "peak_mb": _peak_mb() - start_mb,
            "checksum_b08": checksum, "shape": list(result.shape)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.size, args.runs)))
        return 0
    _catalog(args.size)  # build the demo data once, outside the measurements
    names = {"a": "(a)  monthly_composite, from COGs", "a_mem": "(a') monthly_composite, in memory",
             "b": "(b)  standard graph + interpolation", "c": "(c)  numba floor, in memory"}
    found = {}
    for key in names:
        out = subprocess.run([sys.executable, __file__, "--variant", key, "--size",
                              str(args.size), "--runs", str(args.runs)],
                             capture_output=True, text=True, check=True)
        found[key] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.size} x {args.size} px, one year (73 dates), 10 bands + SCL, "
          f"median of {args.runs}:")
    for key, label in names.items():
        r = found[key]
        print(f"  {label:38s} {r['seconds']:8.2f} s  peak +{r['peak_mb']:8.0f} MB")
    a, b, c, am = found["a"], found["b"], found["c"], found["a_mem"]
    print(f"  speed-up (b)/(a')  {b['seconds'] / am['seconds']:6.1f}x    "
          f"(b)/(a) {b['seconds'] / a['seconds']:6.1f}x")
    print(f"  (a')/(c)           {am['seconds'] / c['seconds']:6.2f}      "
          f"(a)/(c) {a['seconds'] / c['seconds']:6.2f}")
    print(f"  memory (a)/(b)     {a['peak_mb'] / max(b['peak_mb'], 1):6.2f}      "
          f"(a')/(b) {am['peak_mb'] / max(b['peak_mb'], 1):6.2f}")
    same = np.isclose(a["checksum_b08"], c["checksum_b08"], rtol=1e-4)
    print(f"  (a) and (c) give the same B08 sum: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
