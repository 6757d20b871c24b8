"""The GTiff writer alone: peak memory and time of a 120-band composite-shaped COG.

A lazy (12 months, 10 bands, y, x) float32 cube of smooth synthetic values
(variants.lazy_composites: cheap to make, compressing as composites do) in 256 px chunks,
written by formats.gtiff.write_gtiff as a job writes it. Variants, each in its own
process (for its peak memory):

  (w)  the writer as it is: GDAL's block cache capped while writing, scratch files
       compressed on one thread
  (w0) the baseline: the same writer with GDAL's default block cache (5 % of RAM) and the
       scratch files compressed on every core, as before 2026-12-07

Prints the median time, the peak above the process's start and the ratios (w)/(w0);
memory that stays flat from 1000 to 4000 px is the target.

    .venv/bin/python benchmarks/gtiff_writer.py [--size 2000] [--runs 1] [--variants w,w0]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from variants import lazy_composites, measure, parse, run_each  # noqa: E402

BANDS, CHUNK = [f"B{i:02d}" for i in range(10)], 256


def run_variant(name: str, size: int, runs: int) -> dict:
    from formats import gtiff

    if name == "w0":
        gtiff.GDAL_WRITE_OPTIONS = {}
        gtiff.SCRATCH_THREADS = "ALL_CPUS"
    cube = lazy_composites(size, BANDS, CHUNK, smooth=True)
    tmp = Path(tempfile.mkdtemp(prefix="cropcube-bench-writer-"))

    def work() -> float:
        path = tmp / "result.tif"
        gtiff.write_gtiff(cube, path, {})
        return float(path.stat().st_size)

    try:
        return measure(work, runs)
    finally:
        shutil.rmtree(tmp)


def main() -> int:
    import json

    args = parse(__doc__, 2000, "w,w0")
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.size, args.runs)))
        return 0
    found = run_each(__file__, args)
    print(f"{args.size} x {args.size} px, {12 * len(BANDS)} bands, median of {args.runs}:")
    for key, r in found.items():
        print(
            f"  ({key:2s}) {r['seconds']:8.2f} s  peak +{r['peak_mb']:7.0f} MB  "
            f"{r['value'] / 1e6:7.1f} MB written"
        )
    if {"w", "w0"} <= found.keys():
        w, w0 = found["w"], found["w0"]
        print(
            f"  (w)/(w0): time {w['seconds'] / w0['seconds']:.2f}, "
            f"peak {w['peak_mb'] / w0['peak_mb']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
