"""ndvi_forecast end to end against a bare torch forward of the same model (the floor).

(e2e)     a lazy (24 months, NDVI, size, size) cube in dask chunks, 30 % of the months
          cloudy -> ndvi_forecast(horizon 6) -> the backend's GTiff writer (6 bands):
          what a job does after load_collection;
(e2e_gapfill) the same cube -> ndvi_forecast(mode gapfill) -> GTiff (24 bands; two
          windows per pixel);
(e2e_range) as (e2e) with uncertainty=True: the 10-90 % range too, calibrated on each
          512 px cell's own past (up to 6 more forecasts of 4,096 of its pixels), 18 bands;
(e2e_gapfill_range) as (e2e_gapfill) with uncertainty=True (one more gap filling of
          4,096 pixels per cell), 72 bands;
(floor)   the forecast windows of the same pixels already encoded in memory as one
          (pixels, window, 5) float32 array, the same model's forward in batches of
          ndvi_forecast's size, one torch thread per core, each on its own batches.

The model: the bundled default (`mixed`), or the one CROPCUBE_BENCH_NDVI_MODEL names.

Each variant runs in its own process for its peak memory. Prints median pixels per
second, per core, peak RSS above the start, and the ratios e2e / floor and those with a
range to those without.

    .venv/bin/python benchmarks/ndvi_forecast.py [--size 1000] [--runs 3]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from variants import measure, pixel_rate_main  # noqa: E402  (beside this script)

CHUNK = 512
MONTHS = 24
MODEL = os.environ.get("CROPCUBE_BENCH_NDVI_MODEL", "mixed")


def _cube(size: int):
    """Lazy NDVI: each chunk drawn from its own seed, so nothing exists before use."""
    import dask.array as da
    import xarray as xr

    def block(block_info=None):
        loc = block_info[None]["chunk-location"]
        shape = block_info[None]["chunk-shape"]
        rng = np.random.default_rng(loc[2] * 100003 + loc[3])
        out = rng.uniform(0.1, 0.9, size=shape).astype(np.float32)
        out[rng.random(shape) < 0.3] = np.nan
        return out

    chunks = ((MONTHS,), (1,), *[tuple(min(CHUNK, size - i) for i in range(0, size, CHUNK))] * 2)
    data = da.map_blocks(block, chunks=chunks, dtype=np.float32)
    months = np.datetime64("2021-01", "M") + np.arange(MONTHS)
    return xr.DataArray(
        data,
        dims=("t", "bands", "y", "x"),
        coords={
            "t": months.astype("datetime64[ns]"),
            "bands": ["NDVI"],
            "y": 5_200_000 - 10.0 * np.arange(size) - 5,
            "x": 600_000 + 10.0 * np.arange(size) + 5,
        },
        attrs={"crs": "EPSG:32632"},
    )


def run_variant(name: str, size: int, runs: int) -> dict:
    import dask
    import torch

    from formats.gtiff import write_gtiff
    from udfs import ndvi_forecast as nf

    model = nf.bundled(MODEL)
    cube = _cube(size)
    if name.startswith("e2e"):
        out = Path(tempfile.mkdtemp(prefix="cropcube-bench-")) / "ndvi.tif"
        mode = "gapfill" if name.startswith("e2e_gapfill") else "forecast"
        uncertainty = name.endswith("_range")

        def work() -> float:
            with dask.config.set(scheduler="threads"):
                write_gtiff(nf.forecast(cube, model, 6, mode, uncertainty), out, {})
            return size * size
    else:
        from concurrent.futures import ThreadPoolExecutor

        with dask.config.set(scheduler="threads"):
            series = cube.values[:, 0].reshape(MONTHS, -1).T
        hist = model.history
        windows = np.full((len(series), model.network.window), np.nan, np.float32)
        windows[:, :hist] = series[:, -hist:]
        x = nf.encode(windows, (np.arange(model.network.window) + MONTHS - hist) % 12)
        cores = os.cpu_count() or 1
        torch.set_num_threads(1)

        def forward(start: int) -> None:
            with torch.inference_mode():
                model.network(torch.from_numpy(x[start : start + nf.BATCH]))

        def work() -> float:
            with ThreadPoolExecutor(cores) as pool:
                list(pool.map(forward, range(0, len(x), nf.BATCH)))
            return len(x)

    return measure(work, runs)


def main() -> int:
    return pixel_rate_main(
        __file__,
        __doc__,
        "e2e,e2e_gapfill,e2e_range,e2e_gapfill_range,floor",
        f"{MONTHS} months of NDVI",
        run_variant,
        ("e2e", "e2e_gapfill", "e2e_range:e2e", "e2e_gapfill_range:e2e_gapfill"),
    )


if __name__ == "__main__":
    sys.exit(main())
