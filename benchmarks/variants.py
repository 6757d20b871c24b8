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
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=size, help="scene side in pixels")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", default=variants, help=f"comma-separated ({variants})")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def run_each(script: str, args: argparse.Namespace) -> dict[str, dict]:
    """Every chosen variant in a fresh process of `script` (which answers --variant)."""
    found = {}
    for key in args.variants.split(","):
        out = subprocess.run([sys.executable, script, "--variant", key, "--size",
                              str(args.size), "--runs", str(args.runs)],
                             capture_output=True, text=True, check=True)
        found[key] = json.loads(out.stdout.strip().splitlines()[-1])
    return found
