"""POST /result end to end against the floor: the same NDVI composite in plain numpy.

(a) cropcube: the openeo client asks a real server on loopback for the maximum NDVI of
    June-August 2022 over the whole demo scene (B04, B08), as a GTiff, and reads it back;
(b) the floor: rasterio reads the same COGs in this process and numpy computes the same.
Prints the median wall time of each over N runs and the ratio (a)/(b), and checks that
both give the same pixels.

    .venv/bin/python benchmarks/sync_ndvi.py [--size 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openeo
import rasterio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from demo.build import build_demo_data, grid  # noqa: E402
from helpers.reference import ndvi_stack  # noqa: E402
from helpers.serverctl import USERS, start_server, stop_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    catalog = build_demo_data(REPO / ".cache" / "bench" / f"demo-{args.size}", size=args.size)
    _, west, north = grid(args.size)
    box = {
        "west": west,
        "east": west + args.size * 10,
        "south": north - args.size * 10,
        "north": north,
        "crs": 32632,
    }
    start, end = "2022-06-01", "2022-09-01"

    def floor() -> np.ndarray:
        return np.nanmax(ndvi_stack(catalog, start, end, box), axis=0)

    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "server", {"CROPCUBE_STAC_URL": str(catalog)})
        try:
            con = openeo.connect(server.url).authenticate_basic("alice", USERS["alice"])
            out = Path(tmp) / "ndvi.tif"

            def cropcube() -> np.ndarray:
                cube = con.load_collection(
                    "SENTINEL2_L2A",
                    spatial_extent=box,
                    temporal_extent=[start, end],
                    bands=["B04", "B08"],
                )
                cube.ndvi(nir="B08", red="B04").reduce_dimension(
                    dimension="t", reducer="max"
                ).download(out, format="GTiff")
                with rasterio.open(out) as src:
                    return src.read(1)

            timings = {}
            results = {}
            for name, func in (("cropcube POST /result", cropcube), ("numpy floor", floor)):
                runs = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    results[name] = func()
                    runs.append(time.perf_counter() - t0)
                timings[name] = statistics.median(runs)
        finally:
            stop_server(server)

    a, b = results.values()
    # float32 (server) against float64 (floor); where nir + red is about 0 (dark water with
    # negative reflectance) NDVI is meaningless in both, so compare valid NDVI (|b| <= 1).
    valid = ~((np.abs(a) > 1) | (np.abs(b) > 1))
    same = np.allclose(a[valid], b[valid], rtol=1e-4, atol=1e-6, equal_nan=True)
    print(f"  compared {valid.sum()} pixels, left out {(~valid).sum()} with |NDVI| > 1")
    n_dates = ndvi_stack(
        catalog, start, end, {**box, "east": box["west"] + 10, "south": box["north"] - 10}
    ).shape[0]
    print(f"NDVI max over {n_dates} dates, {args.size} x {args.size} px, median of {args.runs}:")
    for name, seconds in timings.items():
        print(f"  {name:24s} {seconds:7.2f} s")
    ratio = timings["cropcube POST /result"] / timings["numpy floor"]
    print(
        f"  ratio cropcube / floor   {ratio:7.2f}   (same pixels within float32 precision: {same})"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
