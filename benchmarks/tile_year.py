"""The headline: a crop map of one Sentinel-2 tile-year, estimated from a measured run.

load_collection(SENTINEL2_L2A, September 2021 - August 2022, lstm_classify's nine bands +
SCL, one relative orbit: 73 dates) -> monthly_composite -> lstm_classify (the bundled
model) -> save_result(GTiff), through the executor as POST /result and batch jobs run it,
from the demo COGs at --size, each run in its own process pinned to that many cores
(--variants: core counts, default 1 and all).

Prints wall time, pixels per second, peak memory and the speed-up from 1 to N cores, and
the estimate for a 10980 x 10980 px tile on 16 cores: the tile's pixels over the measured
rate on N cores times 16 / N. The assumption named: throughput per core stays what it is
on N cores from N to 16 (the 1 -> N speed-up says how far that held here), and a real
tile's COGs decode as fast per pixel as the demo's.

    .venv/bin/python benchmarks/tile_year.py [--size 4000] [--runs 1] [--variants 1,2]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tiled_scene import scene  # noqa: E402  (beside this script)
from variants import measure, parse, run_each  # noqa: E402

TILE_PX = 10980**2
SPAN = ["2021-09-01", "2022-09-01"]
ORBIT = 22  # one of the demo's two tracks: 73 dates a year, as one Sentinel-2 tile has


def _graph() -> dict:
    from udfs import lstm_classify as lc

    orbit = {
        "process_graph": {
            "eq": {
                "process_id": "eq",
                "arguments": {"x": {"from_parameter": "value"}, "y": ORBIT},
                "result": True,
            }
        }
    }
    return {
        "load": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": None,
                "temporal_extent": SPAN,
                "bands": [*lc.BANDS, "SCL"],
                "properties": {"sat:relative_orbit": orbit},
            },
        },
        "mc": {"process_id": "monthly_composite", "arguments": {"data": {"from_node": "load"}}},
        "lc": {"process_id": "lstm_classify", "arguments": {"data": {"from_node": "mc"}}},
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "lc"}, "format": "GTiff"},
            "result": True,
        },
    }


def run_variant(name: str, size: int, runs: int) -> dict:
    cores = int(name)
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))  # before dask
    import numpy as np
    import rasterio
    import torch

    from backend.executor import evaluate, write_outputs
    from core.settings import Settings
    from processes.context import ExecutionContext
    from sources.catalog import Catalog

    torch.set_num_threads(cores)
    path = scene(size)
    catalog = Catalog(Settings(stac_url=str(path)))
    out_dir = Path(tempfile.mkdtemp(prefix="cropcube-bench-"))
    dates: list[int] = []

    def work() -> float:
        ctx = ExecutionContext(catalog)
        value = evaluate(_graph(), ctx)
        dates.append(len(ctx.loaded_times[0]))
        (out,) = [o.path for o in write_outputs(value, ctx, out_dir)]
        with rasterio.open(out) as src:
            classes = src.read(1)
        return float(np.bincount(classes.ravel()).argmax())  # the commonest class

    result = measure(work, runs)
    shutil.rmtree(out_dir)
    return {**result, "cores": cores, "dates": dates[-1], "pixels": size * size}


def main() -> int:
    all_cores = len(os.sched_getaffinity(0))
    args = parse(__doc__, 4000, f"1,{all_cores}" if all_cores > 1 else "1")
    if args.variant:
        import json

        print(json.dumps(run_variant(args.variant, args.size, args.runs)))
        return 0
    found = run_each(__file__, args)
    print(
        f"{args.size} x {args.size} px, one year of one orbit "
        f"({next(iter(found.values()))['dates']} dates), monthly_composite + lstm_classify "
        f"+ GTiff, median of {args.runs}:"
    )
    one = found.get("1")
    for r in found.values():
        rate = r["pixels"] / r["seconds"]
        speedup = f"  x{one['seconds'] / r['seconds']:.2f} of 1 core" if one else ""
        print(
            f"  {r['cores']:2d} core(s)  {r['seconds']:8.1f} s  {rate:10,.0f} px/s  "
            f"{rate / r['cores']:9,.0f} px/s/core  peak +{r['peak_mb']:6,.0f} MB  "
            f"commonest class {r['value']:.0f}{speedup}"
        )
    most = max(found.values(), key=lambda r: r["cores"])
    rate16 = most["pixels"] / most["seconds"] * 16 / most["cores"]
    print(
        f"  tile-year (10980 x 10980 px) on 16 cores, at {most['cores']}-core throughput per "
        f"core: {TILE_PX / rate16 / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
