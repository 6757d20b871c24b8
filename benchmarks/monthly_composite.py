"""monthly_composite against the standard-process graph and a plain in-memory floor.

On one year (September 2021 - August 2022) of the demo collection, all ten reflectance
bands + SCL, in one run, each variant in its own process (for its peak memory):

(a)  monthly_composite as the backend runs it: load_collection -> monthly_composite ->
     save_result(GTiff) through the executor, lazily from the COGs into a COG on disk;
(a') monthly_composite on the same cube already in memory (dask chunks of 512 px);
(b)  the standard openEO way on openeo-processes-dask through cropcube's executor, from
     the same COGs: mask by SCL, aggregate_temporal_period(month, median), then
     array_interpolate_linear over t (block by block in numpy: apply_dimension refuses
     cubes over 50 million values);
(c)  the floor: the same numba kernel on the whole in-memory numpy array, no dask;
(d)  the decode floor: every COG of the year (ten bands + SCL) read whole with plain
     rasterio into numpy, one thread per core, no warp, no dask. (a) can at best approach
     (d) + (a').
(e)  (a) with the catalog and COGs served over HTTP on loopback (range requests, another
     process), each answer --latency-ms late, as a cloud bucket's round trip would be.
(f)  (a) on a Dask cluster on loopback: a `dask scheduler` and two `dask worker` processes
     of one thread each, started as docs/guide/jobs.md says (the environment of
     backend.jobs.dask_workers), the blocks computed there as a batch job's are; prints how
     the task time divides between reading and computing and between the workers (the job
     log's line).
(f0) (f) with the workers started on Dask's defaults (the statistical profiler on, the
     nanny's MALLOC_TRIM_THRESHOLD_): the baseline of (f).

(a), (e) and (f) are timed to the COG written; its B08 sum (the check that every variant
made the same composite) is read back afterwards, outside the timing. Prints median wall
time of --runs, peak RSS above the process's start (for (a') and (c)
above the loaded cube), and the ratios. --variants picks some, e.g. at sizes where the
in-memory ones do not fit.

    .venv/bin/python benchmarks/monthly_composite.py [--size 1000] [--runs 3]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tiled_scene import scene  # noqa: E402  (beside this script)
from variants import measure, parse, run_each  # noqa: E402

MASK = [0, 1, 3, 8, 9, 10, 11]
LATENCY_MS = float(os.environ.get("CROPCUBE_BENCH_LATENCY_MS", "20"))  # added per request in (e)
SPAN = ["2021-09-01", "2022-09-01"]


def _catalog(size: int, over_http_ms: float | None = None):
    import atexit
    import subprocess

    from core.settings import Settings
    from sources.catalog import Catalog

    path = scene(size)
    if over_http_ms is None:
        return Catalog(Settings(stac_url=str(path), dask_chunk_px=512))
    server = REPO / "tests" / "helpers" / "range_http.py"
    latency = str(over_http_ms / 1000)
    proc = subprocess.Popen(
        [sys.executable, str(server), str(path.parent), latency], stdout=subprocess.PIPE, text=True
    )
    atexit.register(proc.terminate)
    base = proc.stdout.readline().strip()  # type: ignore[union-attr]
    return Catalog(Settings(stac_url=f"{base}/catalog.json", dask_chunk_px=512))


def _mask_graph() -> dict:
    nodes = {
        "scl": {
            "process_id": "array_element",
            "arguments": {"data": {"from_parameter": "data"}, "index": 0},
        }
    }
    nodes.update(
        {
            f"eq{c}": {"process_id": "eq", "arguments": {"x": {"from_node": "scl"}, "y": c}}
            for c in MASK
        }
    )
    prev = f"eq{MASK[0]}"
    for c in MASK[1:]:
        nodes[f"or{c}"] = {
            "process_id": "or",
            "arguments": {"x": {"from_node": prev}, "y": {"from_node": f"eq{c}"}},
        }
        prev = f"or{c}"
    nodes[prev]["result"] = True
    return nodes


LOAD = {
    "process_id": "load_collection",
    "arguments": {"id": "SENTINEL2_L2A", "spatial_extent": None, "temporal_extent": SPAN},
}


def _standard(catalog, bands: list[str]) -> np.ndarray:
    """Mask + aggregate_temporal_period(median) through the executor, then interpolate."""
    import dask
    from openeo_processes_dask.process_implementations.arrays import array_interpolate_linear

    from backend.executor import evaluate
    from processes.context import ExecutionContext

    graph = {
        "load": LOAD,
        "scl": {
            "process_id": "filter_bands",
            "arguments": {"data": {"from_node": "load"}, "bands": ["SCL"]},
        },
        "cloud": {
            "process_id": "reduce_dimension",
            "arguments": {
                "data": {"from_node": "scl"},
                "dimension": "bands",
                "reducer": {"process_graph": _mask_graph()},
            },
        },
        "refl": {
            "process_id": "filter_bands",
            "arguments": {"data": {"from_node": "load"}, "bands": bands},
        },
        "masked": {
            "process_id": "mask",
            "arguments": {"data": {"from_node": "refl"}, "mask": {"from_node": "cloud"}},
        },
        "monthly": {
            "process_id": "aggregate_temporal_period",
            "arguments": {
                "data": {"from_node": "masked"},
                "period": "month",
                "reducer": {
                    "process_graph": {
                        "m": {
                            "process_id": "median",
                            "arguments": {"data": {"from_parameter": "data"}},
                            "result": True,
                        }
                    }
                },
            },
            "result": True,
        },
    }
    monthly = evaluate(graph, ExecutionContext(catalog))
    with dask.config.set(scheduler="threads"):
        monthly = monthly.compute()
    values = monthly.transpose("t", "bands", "y", "x").values
    step = 256
    for y0 in range(0, values.shape[2], step):
        for x0 in range(0, values.shape[3], step):
            block = values[:, :, y0 : y0 + step, x0 : x0 + step]
            values[:, :, y0 : y0 + step, x0 : x0 + step] = np.apply_along_axis(
                array_interpolate_linear, 0, block
            )
    return values


# Output bands: the collection's reflectance bands in order (B02 ... B12), SCL dropped.
B08 = ["B02", "B03", "B04", "B05", "B06", "B07", "B08"].index("B08")


def _b08_sum(values: np.ndarray) -> float:
    return float(np.nansum(values[:, B08]))  # (t, bands, y, x)


def _through_backend(catalog, out_dir: Path) -> str:
    """load_collection -> monthly_composite -> save_result(GTiff), as POST /result runs it."""
    from backend.executor import evaluate, write_outputs
    from processes.context import ExecutionContext

    ctx = ExecutionContext(catalog)
    value = evaluate(_composite_graph(), ctx)
    (path,) = [o.path for o in write_outputs(value, ctx, out_dir)]
    return str(path)


def _composite_graph() -> dict:
    return {
        "load": LOAD,
        "mc": {"process_id": "monthly_composite", "arguments": {"data": {"from_node": "load"}}},
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "mc"}, "format": "GTiff"},
            "result": True,
        },
    }


def _b08_of(path: Path) -> float:
    """The sum of a composite GTiff's B08 bands: the same composite gives the same sum.
    Read a tile at a time with every B08 band at once: a pixel-interleaved tile holds all
    120 bands, so reading band by band would decode each tile 12 times."""
    import rasterio

    with rasterio.open(path) as src:
        b08 = [i + 1 for i, d in enumerate(src.descriptions) if d.endswith(" B08")]
        return float(
            sum(
                np.nansum(src.read(b08, window=window, out_dtype=np.float64))
                for _, window in src.block_windows(1)
            )
        )


def _cluster(recommended: bool) -> str:
    """A `dask scheduler` and two one-thread `dask worker` processes on loopback, stopped at
    exit, the workers in the environment the docs recommend or on Dask's defaults; the
    scheduler's address."""
    import atexit
    import subprocess

    from backend.jobs.dask_workers import WORKER_ENVIRONMENT

    bin_dir = Path(sys.executable).parent
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = [bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port)]
    worker = [bin_dir / "dask", "worker", address, "--nworkers", "2", "--nthreads", "1"]
    worker_env = WORKER_ENVIRONMENT if recommended else {}
    for command, env in (
        ([*scheduler, "--no-dashboard"], {}),
        ([*worker, "--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "0"], worker_env),
    ):
        proc = subprocess.Popen(
            command, stderr=subprocess.DEVNULL, cwd=REPO, env={**os.environ, **env}
        )
        atexit.register(proc.wait, timeout=30)
        atexit.register(proc.terminate)
    return address


def _on_cluster(catalog, out_dir: Path, client) -> tuple[str, str]:
    """(a) with its blocks computed on the cluster's workers, as a batch job on
    CROPCUBE_DASK_SCHEDULER computes them; the COG's path and the job log's time split."""
    import time

    from distributed import span

    from backend.executor import evaluate, write_outputs
    from backend.jobs.runner import time_split
    from formats import blocks
    from processes.context import ExecutionContext

    ctx = ExecutionContext(catalog)
    value = evaluate(_composite_graph(), ctx)
    started = time.perf_counter()
    with blocks.reporting(lambda done, total: None) as watch, span("bench") as sid:
        (path,) = [o.path for o in write_outputs(value, ctx, out_dir, scheduler=None)]
    return str(path), time_split(client, sid, watch, time.perf_counter() - started)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cog_paths(size: int) -> tuple[list[str], int]:
    """Every band file of the year's items, as load_collection would read them, and how many
    dates they hold."""
    import pystac

    catalog = pystac.Catalog.from_file(str(scene(size)))
    start, end = np.datetime64(SPAN[0]), np.datetime64(SPAN[1])
    paths, dates = [], set()
    for item in catalog.get_child("SENTINEL2_L2A").get_items():
        if start <= np.datetime64(item.datetime.replace(tzinfo=None)) < end:
            paths += [a.get_absolute_href() for a in item.assets.values() if "data" in a.roles]
            dates.add(item.datetime.date())
    return paths, len(dates)


def _decode_all(paths: list[str]) -> float:
    import os
    from concurrent.futures import ThreadPoolExecutor

    import rasterio

    def read(path: str) -> int:
        with rasterio.open(path) as src:
            return src.read().nbytes

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return float(sum(pool.map(read, paths)))


def run_variant(name: str, size: int, runs: int) -> dict:
    import tempfile

    import dask

    from udfs import monthly_composite as mc

    catalog = _catalog(size, LATENCY_MS if name == "e" else None)
    lazy = catalog.load("SENTINEL2_L2A", None, SPAN, None)
    bands = [b for b in lazy.bands.values if b != "SCL"]
    assert bands.index("B08") == B08, bands
    if name in ("a", "e"):
        tmp = Path(tempfile.mkdtemp(prefix="cropcube-bench-"))

        def work():
            return _through_backend(catalog, tmp)
    elif name in ("f", "f0"):
        from distributed import Client

        tmp = Path(tempfile.mkdtemp(prefix="cropcube-bench-"))
        splits: list[str] = []
        client = Client(_cluster(recommended=name == "f"), timeout=60)
        client.wait_for_workers(2, timeout=60)

        def peak_mb() -> float:  # defined here, so that it travels to the workers by value
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        before = client.run(peak_mb)

        def work():
            value, split = _on_cluster(catalog, tmp, client)
            splits.append(split)
            return value

        result = measure(work, runs)
        workers = [v - before[k] for k, v in client.run(peak_mb).items()]
        client.close()
        checksum = _b08_of(Path(result["value"]))
        shutil.rmtree(tmp)
        return {
            **result,
            "checksum_b08": checksum,
            "split": splits[-1],
            "worker_peaks_mb": sorted(workers),
        }
    elif name == "b":

        def work():
            return _b08_sum(_standard(catalog, bands))
    elif name == "d":
        paths, dates = _cog_paths(size)

        def work():
            return _decode_all(paths)

        result = measure(work, runs)
        return {**result, "checksum_b08": float("nan"), "files": len(paths), "dates": dates}
    else:
        with dask.config.set(scheduler="threads"):
            memory = lazy.compute()
        if name == "a_mem":
            chunked = memory.chunk({"t": -1, "bands": -1, "y": 512, "x": 512})

            def work():
                with dask.config.set(scheduler="threads"):
                    return _b08_sum(mc.composite(chunked).compute().values)
        else:

            def work():
                return _b08_sum(mc.composite(memory).values)

    result = measure(work, runs)
    if name in ("a", "e"):  # the COG is read back for its checksum after the timing
        checksum = _b08_of(Path(result["value"]))
        shutil.rmtree(tmp)
        return {**result, "checksum_b08": checksum}
    return {**result, "checksum_b08": result["value"]}


def _ratio(found: dict, top: str, bottom: str, field: str) -> str:
    if top not in found or bottom not in found:
        return "   n/a"
    return f"{found[top][field] / max(found[bottom][field], 1e-9):6.2f}"


def main() -> int:
    args = parse(__doc__, 1000, "a,a_mem,b,c,d")
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.size, args.runs)))
        return 0
    _catalog(args.size)  # build the demo data once, outside the measurements
    names = {
        "a": "(a)  monthly_composite, COGs -> COG",
        "a_mem": "(a') monthly_composite, in memory",
        "b": "(b)  standard graph + interpolation",
        "c": "(c)  numba floor, in memory",
        "d": "(d)  decode floor, rasterio, no warp",
        "e": f"(e)  (a) over HTTP, +{LATENCY_MS:g} ms a request",
        "f": "(f)  (a) on a Dask cluster, 2 workers",
        "f0": "(f0) (f), workers on Dask's defaults",
    }
    found = run_each(__file__, args)
    print(
        f"{args.size} x {args.size} px, one year ({_cog_paths(args.size)[1]} dates), "
        f"10 bands + SCL, median of {args.runs}:"
    )
    for key, r in found.items():
        print(f"  {names[key]:38s} {r['seconds']:8.2f} s  peak +{r['peak_mb']:8.0f} MB")
    print(
        f"  speed-up (b)/(a)  {_ratio(found, 'b', 'a', 'seconds')}x    "
        f"(b)/(a') {_ratio(found, 'b', 'a_mem', 'seconds')}x"
    )
    print(
        f"  time (a)/(c)      {_ratio(found, 'a', 'c', 'seconds')}     "
        f"(a')/(c) {_ratio(found, 'a_mem', 'c', 'seconds')}"
    )
    print(
        f"  memory (a)/(b)    {_ratio(found, 'a', 'b', 'peak_mb')}     "
        f"(a')/(b) {_ratio(found, 'a_mem', 'b', 'peak_mb')}"
    )
    if {"a", "a_mem", "d"} <= set(found):
        floor = found["d"]["seconds"] + found["a_mem"]["seconds"]
        print(
            f"  time (a)/(d)      {_ratio(found, 'a', 'd', 'seconds')}     "
            f"(a)/((d) + (a')) {found['a']['seconds'] / floor:6.2f}  "
            f"({found['d'].get('files')} files, {found['d']['value'] / 1e6:,.0f} MB decoded)"
        )
    if {"a", "e"} <= set(found):
        print(f"  time (e)/(a)      {_ratio(found, 'e', 'a', 'seconds')}")
    if "f" in found:
        print(f"  time (f)/(a)      {_ratio(found, 'f', 'a', 'seconds')}")
    if "f0" in found:
        print(f"  time (f)/(f0)     {_ratio(found, 'f', 'f0', 'seconds')}")
    for key in ("f", "f0"):
        if key in found:
            peaks = ", ".join(f"+{mb:,.0f} MB" for mb in found[key]["worker_peaks_mb"])
            print(f"  ({key}) workers' peaks {peaks}; {found[key]['split']}")
    sums = {k: round(r["checksum_b08"], 0) for k, r in found.items() if k != "d"}
    print(f"  B08 sums (same composite): {sums}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
