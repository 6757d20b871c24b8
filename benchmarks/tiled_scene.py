"""A larger demo scene made by repeating a built one, for measuring at 2000 and 4000 px.

The simulator takes about 95 minutes for a 4000 px scene on 2 cores; repeating the 1000 px
scene's bands n x n times takes a few. Every COG is rewritten at n times the side with the
demo's own profile (deflate, 256 px tiles, overviews) and every item's geometry and
projection fields are set to the larger grid, so the read path sees what it would see on
a real scene of that size: one file per band and date, the same tiles, the same dates and
clouds (repeated, so time per pixel is comparable between sizes). Only the benchmarks'
year (September 2021 - August 2022, 146 of the demo's 195 dates) is repeated: a 4000 px
year is 24 GB of COGs.

    .venv/bin/python benchmarks/tiled_scene.py --from 1000 --times 4

The other benchmarks take such a scene when CROPCUBE_BENCH_TILED_FROM names the base
size (`CROPCUBE_BENCH_TILED_FROM=1000 benchmarks/monthly_composite.py --size 4000`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import rasterio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from demo.build import _bbox, build_demo_data, grid  # noqa: E402


def _tile_cog(args: tuple[str, str, int, float, float]) -> None:
    src_path, dst_path, times, west, north = args
    with rasterio.open(src_path) as src:
        data = np.tile(src.read(1), (times, times))
        res = src.res[0]
        profile = {
            "driver": "COG",
            "width": data.shape[1],
            "height": data.shape[0],
            "count": 1,
            "dtype": data.dtype,
            "crs": src.crs,
            "transform": rasterio.Affine(res, 0, west, 0, -res, north),
            "nodata": src.nodata,
            "compress": "deflate",
            "blocksize": 256,
            "overview_resampling": "nearest",
        }
        description = src.descriptions[0]
    with rasterio.open(dst_path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, description)


def _regrid(doc: dict, size: int) -> dict:
    """An item's geometry and projection fields for the scene of `size` px."""
    _, west, north = grid(size)
    native, ll = _bbox(size)  # the simulator's own bounding boxes of a scene of that size
    doc["bbox"] = ll
    doc["geometry"] = {
        "type": "Polygon",
        "coordinates": [
            [[ll[0], ll[1]], [ll[2], ll[1]], [ll[2], ll[3]], [ll[0], ll[3]], [ll[0], ll[1]]]
        ],
    }
    if "proj:bbox" in doc.get("properties", {}):
        doc["properties"]["proj:bbox"] = native
    for asset in doc.get("assets", {}).values():
        if "proj:transform" in asset:
            gsd = asset["proj:transform"][0]
            asset["proj:shape"] = [size * 10 // gsd] * 2
            asset["proj:transform"] = [gsd, 0, west, 0, -gsd, north]
    if "extent" in doc:  # a collection
        doc["extent"]["spatial"]["bbox"] = [ll]
    return doc


SPAN = ("2021-09-01", "2022-09-01")  # the benchmarks' year


def _in_span(item_dir: Path) -> bool:
    """Whether an item folder's date (in its id, S2A_32TPS_20210901_0_L2A) is in SPAN."""
    day = item_dir.name.split("_")[2]
    return SPAN[0].replace("-", "") <= day < SPAN[1].replace("-", "")


def _drop_items(doc: dict, kept: set[str]) -> dict:
    """A collection without the links to the items left out."""
    doc["links"] = [
        link
        for link in doc.get("links", [])
        if link["rel"] != "item" or Path(link["href"]).parent.name in kept
    ]
    return doc


def tiled_scene(base: int, times: int, cache: Path) -> Path:
    """catalog.json of the demo scene of `base` px repeated times x times (built once),
    its Sentinel-2 items those of SPAN."""
    size = base * times
    root = cache / f"demo-{base}x{times}" / "stac"
    if (root / "catalog.json").exists():
        return root / "catalog.json"
    source = build_demo_data(cache / f"demo-{base}", size=base).parent
    building = root.with_name("stac.building")
    shutil.rmtree(building, ignore_errors=True)
    _, west, north = grid(size)
    jobs = []
    items = source / "SENTINEL2_L2A"
    kept = {d.name for d in items.iterdir() if d.is_dir() and _in_span(d)}
    for path in sorted(source.rglob("*")):
        target = building / path.relative_to(source)
        if path.parent.parent == items and path.parent.name not in kept:
            continue
        if path.is_dir() and path.parent == items and path.name not in kept:
            continue
        if path == items / "collection.json":
            doc = _regrid(_drop_items(json.loads(path.read_text()), kept), size)
            target.write_text(json.dumps(doc, indent=1))
        elif path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.suffix == ".tif":
            jobs.append((str(path), str(target), times, west, north))
        elif path.suffix == ".json" and path.name != "demo-manifest.json":
            target.write_text(json.dumps(_regrid(json.loads(path.read_text()), size), indent=1))
        else:
            shutil.copy(path, target)
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(_tile_cog, jobs, chunksize=8))
    building.rename(root)
    return root / "catalog.json"


def scene(size: int) -> Path:
    """The benchmarks' scene of `size` px: the simulator's, or the scene of
    CROPCUBE_BENCH_TILED_FROM px repeated up to `size` when that is set."""
    cache = REPO / ".cache" / "bench"
    base = int(os.environ.get("CROPCUBE_BENCH_TILED_FROM", "0") or 0)
    if not base or base == size:
        return build_demo_data(cache / f"demo-{size}", size=size)
    if size % base:
        raise SystemExit(f"--size {size} is no multiple of CROPCUBE_BENCH_TILED_FROM={base}")
    return tiled_scene(base, size // base, cache)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="base", type=int, default=1000, help="the built scene")
    parser.add_argument("--times", type=int, default=4, help="repeats along each axis")
    args = parser.parse_args()
    print(tiled_scene(args.base, args.times, REPO / ".cache" / "bench"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
