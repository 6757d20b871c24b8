"""unet_segment end to end against a bare torch forward of the same tiles (the floor).

(e2e)   a lazy (12 months, 10 bands, size, size) cube of composites in dask chunks ->
        unet_segment with the bundled model (128 px tiles, 32 px overlap) -> the backend's
        GTiff writer (class map, uint8): what a job does after monthly_composite;
(floor) the tiles of the same cube already cut and in memory as one (tiles, 120, 128, 128)
        float32 array, the bundled model's forward in batches of unet_segment's size, one
        torch thread per core, each on its own batches (no blending, no writing);
(scene_e2e, scene_floor) the same for the single-scene model (`scene_demo`) on a cube of
        one date (10 channels);
(e2e_mem, scene_e2e_mem) e2e with the input cube computed beforehand and held in memory,
        as the floor's tiles are: unet_segment and the writer without making the input.

Each variant in its own process. Prints median tiles and pixels per second, per core,
peak RSS above the start, and the ratios e2e / floor and scene_e2e / scene_floor. The
floor cuts its tiles beforehand, so it holds them all: keep --size for it modest (1000 px:
about 1 GB).

    .venv/bin/python benchmarks/unet_segment.py [--size 1000] [--runs 3]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from variants import lazy_composites, measure, pixel_rate_main  # noqa: E402

CHUNK = 512
TILE, OVERLAP = 128, 32


def _cube(size: int, months: int = 12):
    from udfs import unet_segment as us

    return lazy_composites(size, list(us.BANDS), CHUNK, months=months)


def run_variant(name: str, size: int, runs: int) -> dict:
    import dask
    import torch

    from formats.gtiff import write_gtiff
    from udfs import unet_segment as us

    scene = name.startswith("scene_")  # the single-scene model on one date
    model = us.bundled("scene_demo" if scene else "demo")
    cube = _cube(size, months=1 if scene else 12)
    name = name.removeprefix("scene_")
    origins = [
        (r, c)
        for r in us.tile_origins(size, TILE, OVERLAP)
        for c in us.tile_origins(size, TILE, OVERLAP)
    ]
    if name in ("e2e", "e2e_mem"):
        out = Path(tempfile.mkdtemp(prefix="cropcube-bench-")) / "classes.tif"
        if name == "e2e_mem":  # the input computed beforehand, in memory as the floor's
            with dask.config.set(scheduler="threads"):
                cube = cube.copy(data=cube.data.persist())

        def work() -> float:
            with dask.config.set(scheduler="threads"):
                write_gtiff(us.segment(cube, model, ("class",), TILE, OVERLAP), out, {})
            return size * size
    else:
        from concurrent.futures import ThreadPoolExecutor

        with dask.config.set(scheduler="threads"):
            stack = us.channels_of(cube, model).values
        tiles = np.stack([stack[:, r : r + TILE, c : c + TILE] for r, c in origins])
        del stack
        cores = os.cpu_count() or 1
        torch.set_num_threads(1)

        def forward(start: int) -> None:
            with torch.inference_mode():
                model.network.probabilities(torch.from_numpy(tiles[start : start + us.BATCH_TILES]))

        def work() -> float:
            with ThreadPoolExecutor(cores) as pool:
                list(pool.map(forward, range(0, len(tiles), us.BATCH_TILES)))
            return size * size  # the output pixels these tiles cover

    result = measure(work, runs)
    return {**result, "tiles": len(origins)}


def main() -> int:
    code = pixel_rate_main(
        __file__,
        __doc__,
        "e2e,floor,scene_e2e,scene_floor,e2e_mem,scene_e2e_mem",
        f"12 months (scene_: one date) x 10 bands, {TILE} px tiles, {OVERLAP} px overlap",
        run_variant,
        ("e2e", "e2e_mem", "scene_e2e:scene_floor", "scene_e2e_mem:scene_floor"),
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
