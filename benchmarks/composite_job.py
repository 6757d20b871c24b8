"""monthly_composite as a user meets it: a batch job through a real server, against the floor.

A `cropcube serve` on loopback (one job worker, so the job has every core) over the
benchmark scene; the `openeo` client submits load_collection(one year, 10 bands + SCL) ->
monthly_composite -> save_result(GTiff), starts it and polls; timed from the start
request to the status "finished" (polled every 0.5 s), after a trivial job has warmed
the fresh server (its worker's imports, 8 s here, are behind a running server). The
baseline, measured in the same run by benchmarks/monthly_composite.py's own variants:
(d) the decode floor + (a') the composite in memory (on a scene of repeated tiles,
CROPCUBE_BENCH_TILED_FROM, that of one tile times the tiles: the whole would not fit).
Prints the job's log, which says where its time went.

    .venv/bin/python benchmarks/composite_job.py [--size 1000] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from monthly_composite import SPAN  # noqa: E402  (beside this script)
from tiled_scene import scene  # noqa: E402
from variants import parse, run_each  # noqa: E402

BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "SCL"]


def _warm_up(url: str, user: str, password: str) -> float:
    """Seconds until a trivial job finishes on the fresh server: its worker's imports,
    which a running server has behind it, kept out of the timed jobs."""
    import openeo

    con = openeo.connect(url).authenticate_basic(user, password)
    started = time.perf_counter()
    job = con.create_job(
        {"sum": {"process_id": "add", "arguments": {"x": 1, "y": 2}, "result": True}}
    )
    job.start_and_wait(print=lambda *a, **k: None, max_poll_interval=0.5)
    job.delete()
    return time.perf_counter() - started


def _job_seconds(url: str, user: str, password: str) -> tuple[float, list[str]]:
    import openeo

    con = openeo.connect(url).authenticate_basic(user, password)
    cube = con.load_collection("SENTINEL2_L2A", temporal_extent=SPAN, bands=BANDS)
    result = cube.process("monthly_composite", data=cube).save_result(format="GTiff")
    job = result.create_job(title="benchmark: a year's monthly composites")
    started = time.perf_counter()
    print(f"  start requested at {time.strftime('%H:%M:%S', time.gmtime())} (UTC)")
    job.start()
    while (status := job.status()) not in ("finished", "error", "canceled"):
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    logs = [f"{entry.get('time', '')[11:19]}  {entry['message']}" for entry in job.logs()]
    if status != "finished":
        raise SystemExit(f"the job ended {status}:\n" + "\n".join(logs))
    job.delete()
    return seconds, logs


def main() -> int:
    args = parse(__doc__, 1000, "job")
    sys.path.insert(0, str(REPO / "tests"))
    from helpers.serverctl import USERS, start_server, stop_server

    catalog = scene(args.size)
    composite = str(Path(__file__).with_name("monthly_composite.py"))
    tile = int(os.environ.get("CROPCUBE_BENCH_TILED_FROM", "0") or 0)
    if tile and tile != args.size:
        # A scene of repeated tiles: (a') of the whole would not fit in memory (25.7 GB at
        # 2000 px); the tile's, times the tiles, is the same work.
        floor = run_each(composite, _namespace(args, "d"))
        one = run_each(
            composite, argparse.Namespace(**{**vars(args), "size": tile, "variants": "a_mem"})
        )
        floor["a_mem"] = {"seconds": one["a_mem"]["seconds"] * (args.size // tile) ** 2}
    else:
        floor = run_each(composite, _namespace(args, "a_mem,d"))
    data_dir = Path(tempfile.mkdtemp(prefix="cropcube-bench-job-"))
    server = start_server(
        data_dir,
        {"CROPCUBE_STAC_URL": str(catalog), "CROPCUBE_WORKERS": "1", **_keep(os.environ)},
    )
    try:
        user, password = next(iter(USERS.items()))
        warm_up = _warm_up(server.url, user, password)
        runs = [_job_seconds(server.url, user, password) for _ in range(args.runs)]
    finally:
        stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)
    seconds = statistics.median(r[0] for r in runs)
    base = floor["d"]["seconds"] + floor["a_mem"]["seconds"]
    print(f"{args.size} x {args.size} px, one year, 10 bands + SCL, median of {args.runs}:")
    print(f"  batch job, start -> finished      {seconds:8.2f} s")
    print(f"  (a trivial job first, on the fresh server: {warm_up:.2f} s)")
    print(f"  (d)  decode floor                 {floor['d']['seconds']:8.2f} s")
    scaled = f" ({tile} px x {(args.size // tile) ** 2})" if tile and tile != args.size else ""
    print(f"  (a') composite in memory          {floor['a_mem']['seconds']:8.2f} s{scaled}")
    print(f"  job / ((d) + (a'))                {seconds / base:8.2f}")
    print("  the last job's log:")
    for line in runs[-1][1]:
        print(f"    {line}")
    return 0


def _namespace(args: argparse.Namespace, variants: str) -> argparse.Namespace:
    """Our arguments, for other variants of another script."""
    return argparse.Namespace(**{**vars(args), "variants": variants})


def _keep(env: os._Environ) -> dict[str, str]:
    """The benchmark's own settings that the server must share (none by default)."""
    return {k: v for k, v in env.items() if k.startswith("CROPCUBE_READ_")}


if __name__ == "__main__":
    sys.exit(main())
