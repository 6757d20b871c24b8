"""lstm_classify end to end against a bare torch forward of the same model (the floor).

(e2e)   a lazy (12 months, 9 bands, size, size) cube of composites in dask chunks ->
        lstm_classify -> the backend's GTiff writer (class map, uint8): what a job does
        after monthly_composite;
(e2e_onnx) the same with engine="onnxruntime";
(floor) the same pixels already in memory as one (pixels, 12, 9) float32 array, the
        bundled model's forward and argmax in batches of lstm_classify's size, one torch
        thread per core, each on its own batches;
(floor_torch_threads) the same with torch's own threads on one batch at a time.

The values are random reflectances (the speed of an LSTM does not depend on them); each
variant runs in its own process for its peak memory. Prints median pixels per second,
pixels per second per core, peak RSS above the start, and the ratio e2e / floor.

    .venv/bin/python benchmarks/lstm_classify.py [--size 1000] [--runs 3]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from variants import lazy_composites, measure, pixel_rate_main  # noqa: E402

CHUNK = 512


def _cube(size: int):
    from udfs import lstm_classify as lc

    return lazy_composites(size, list(lc.BANDS), CHUNK)


def run_variant(name: str, size: int, runs: int) -> dict:
    import dask
    import torch

    from formats.gtiff import write_gtiff
    from udfs import lstm_classify as lc

    model = lc.bundled("demo")
    cube = _cube(size)
    if name.startswith("e2e"):
        out = Path(tempfile.mkdtemp(prefix="cropcube-bench-")) / "classes.tif"
        engine = "onnxruntime" if name == "e2e_onnx" else "torch"

        def work() -> float:
            with dask.config.set(scheduler="threads"):
                write_gtiff(lc.classify(cube, model, engine=engine), out, {})
            return size * size
    else:
        from concurrent.futures import ThreadPoolExecutor

        with dask.config.set(scheduler="threads"):
            x, _ = lc.features(cube.values)
        cores = os.cpu_count() or 1
        # The faster of torch's own threads on one batch at a time, and one thread per
        # core each forwarding its own batches (what the chunks do), measured here.
        threads = 1 if name == "floor" else cores
        torch.set_num_threads(threads)

        def forward(start: int) -> None:
            with torch.inference_mode():
                model.network(torch.from_numpy(x[start : start + lc.BATCH])).argmax(dim=1)

        def work() -> float:
            with ThreadPoolExecutor(cores // threads) as pool:
                list(pool.map(forward, range(0, len(x), lc.BATCH)))
            return len(x)

    return measure(work, runs)


def main() -> int:
    return pixel_rate_main(
        __file__,
        __doc__,
        "e2e,e2e_onnx,floor,floor_torch_threads",
        "12 months x 9 bands",
        run_variant,
        ("e2e", "e2e_onnx"),
    )


if __name__ == "__main__":
    sys.exit(main())
