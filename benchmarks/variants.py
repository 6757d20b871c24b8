"""Shared by the benchmarks that compare variants: each variant runs in its own process
(so its peak memory is its own), the parent collects one JSON line from each."""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable


def peak_mb() -> float:
    """This process's peak resident memory so far (a high-water mark), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(work: Callable[[], float], runs: int) -> dict:
    """Median seconds of `runs` calls, peak memory above the start, the last call's value."""
    start = peak_mb()
    times, value = [], 0.0
    for _ in range(runs):
        t0 = time.perf_counter()
        value = work()
        times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times), "peak_mb": peak_mb() - start, "value": value}


def parse(doc: str, size: int, variants: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=size, help="scene side in pixels")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", default=variants, help=f"comma-separated ({variants})")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def run_each(script: str, args: argparse.Namespace) -> dict[str, dict]:
    """Every chosen variant in a fresh process of `script` (which answers --variant)."""
    found = {}
    for key in args.variants.split(","):
        out = subprocess.run(
            [
                sys.executable,
                script,
                "--variant",
                key,
                "--size",
                str(args.size),
                "--runs",
                str(args.runs),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        found[key] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def pixel_rate_main(
    script: str,
    doc: str,
    variants: str,
    what: str,
    run_variant: Callable[[str, int, int], dict],
    faster: tuple[str, ...],
) -> int:
    """main() of a pixels-per-second benchmark: as a child, run one variant and print its
    JSON; as the parent, run each variant in its own process and print the table and the
    ratios of the `faster` variants to "floor" (or to the baseline named after a colon)."""
    import os

    args = parse(doc, 1000, variants)
    if args.variant:
        result = run_variant(args.variant, args.size, args.runs)
        print(json.dumps({**result, "px_per_s": result["value"] / result["seconds"]}))
        return 0
    cores = os.cpu_count() or 1
    found = run_each(script, args)
    print(f"{args.size} x {args.size} px, {what}, median of {args.runs}, {cores} cores:")
    for key, r in found.items():
        tiles = f"  {r['tiles'] / r['seconds']:7.1f} tiles/s" if "tiles" in r else ""
        print(
            f"  {key:20s} {r['seconds']:8.2f} s  {r['px_per_s']:10,.0f} px/s  "
            f"{r['px_per_s'] / cores:9,.0f} px/s/core{tiles}  peak +{r['peak_mb']:7.0f} MB"
        )
    for pair in faster:  # "variant" (against "floor") or "variant:baseline"
        key, _, base = pair.partition(":")
        base = base or "floor"
        if {key, base} <= set(found):
            print(f"  {key} / {base}: {found[key]['px_per_s'] / found[base]['px_per_s']:.2f}")
    return 0


def lazy_composites(
    size: int, bands: list[str], chunk: int = 512, smooth: bool = False, months: int = 12
):
    """A lazy (months, bands, size, size) cube of random reflectances: each chunk drawn
    from its own seed when computed, so nothing exists before use. `smooth`: waves instead
    of noise, cheap to make and compressing as real composites do (for the writers)."""
    import dask.array as da
    import numpy as np
    import xarray as xr

    def block(block_info=None):
        loc = block_info[None]["chunk-location"]
        shape = block_info[None]["chunk-shape"]
        if smooth:
            (_, _), (_, _), (y0, y1), (x0, x1) = block_info[None]["array-location"]
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            base = 1000 * np.cos(xx / 53) + (yy * xx % 7)
            layers = [np.sin(yy / 37 + b) + base for b in range(shape[0] * shape[1])]
            return np.stack(layers).reshape(shape).astype(np.float32)
        rng = np.random.default_rng(loc[2] * 100003 + loc[3])
        return rng.uniform(0.01, 0.5, size=shape).astype(np.float32)

    side = tuple(min(chunk, size - i) for i in range(0, size, chunk))
    data = da.map_blocks(block, chunks=((months,), (len(bands),), side, side), dtype=np.float32)
    return xr.DataArray(
        data,
        dims=("t", "bands", "y", "x"),
        coords={
            "t": np.arange("2021-09", "2022-09", dtype="datetime64[M]")[:months].astype(
                "datetime64[ns]"
            ),
            "bands": list(bands),
            "y": 5_200_000 - 10.0 * np.arange(size) - 5,
            "x": 600_000 + 10.0 * np.arange(size) + 5,
        },
        attrs={"crs": "EPSG:32632"},
    )
