"""Run the official openEO test suite (openeo-test-suite) against a fresh cropcube server.

Lays out ../shared/openeo-test-assets as the suite expects, starts a server on the demo
data, runs the chosen parts with basic auth standing in for OIDC, and prints the pass
count of each part and each failure's first line. Parts:

- WP3 `processes/metadata`: the process specs against the official ones,
- WP4 `general`: API compliance,
- WP5 `processes/processing --runner=http`: every process case through POST /result,
- WP6 `workflows`: graphs over the Sentinel-2 collection.

The parts run two at a time (`--lanes`), each in its own pytest process, against one server.

Exit code 0 when the suite ran (tests/test_conformance.py compares with the known list).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from demo.build import build_demo_data  # noqa: E402
from helpers.scene import CACHE, DEMO_SEED, DEMO_SIZE  # noqa: E402
from helpers.serverctl import USERS, start_server, stop_server  # noqa: E402

# part -> (suite folder, extra pytest arguments)
PARTS: dict[str, tuple[str, list[str]]] = {
    "WP3": ("processes/metadata", ["--experimental"]),
    "WP4": ("general", []),
    "WP5": ("processes/processing", ["--runner=http", "--experimental"]),
    # the cases with NaN or infinity, which JSON cannot carry, through our registry
    "WP5-nonjson": (
        "processes/processing",
        ["--runner=dask", "--experimental", "-p", "cropcube_runner"],
    ),
    "WP6": ("workflows", ["--s2-collection=SENTINEL2_L2A"]),
}
# The order the parts start in, two lanes at a time. WP4's cancel test waits up to 120 s for
# its job to be seen running, which a quick job may never be. This order gave 53, 59 and
# 64 s for all five parts (2026-12-03); starting WP5 and WP4 together gave 181 s once.
START_ORDER = ["WP5", "WP5-nonjson", "WP6", "WP4", "WP3"]


def _assets() -> Path:
    for candidate in (
        REPO.parent / "shared" / "openeo-test-assets",
        REPO / "shared" / "openeo-test-assets",
    ):
        if (candidate / "openeo-api" / "openapi.yaml").exists():
            return candidate
    raise SystemExit("openeo-test-assets not found next to the repository (../shared)")


def _layout(scratch: Path, assets: Path) -> None:
    """assets/openeo-api, assets/processes (with processes/assets -> tests/assets)."""
    (scratch / "assets").mkdir()
    (scratch / "assets" / "openeo-api").symlink_to(assets / "openeo-api")
    processes = scratch / "assets" / "processes"
    processes.mkdir()
    for entry in (assets / "processes").iterdir():
        (processes / entry.name).symlink_to(entry)
    (processes / "assets").symlink_to(assets / "processes" / "tests" / "assets")
    general = scratch / "src" / "openeo_test_suite" / "tests" / "general"
    general.mkdir(parents=True)
    _adapt_payloads(assets / "payload_examples", general / "payload_examples")


# The WP4 payloads load CGLS_SSM_1KM, a collection of another backend: their jobs would end
# in error, and the suite waited for them to run and finish (327 s measured). The same
# payloads with our Sentinel-2 collection over the test scene instead; the rest as published.
OUR_COLLECTION = {
    "id": "SENTINEL2_L2A",
    "bands": ["B04"],
    "spatial_extent": {"west": 11.3422, "south": 46.4934, "east": 11.347, "north": 46.4967},
    "temporal_extent": ["2022-06-01", "2022-07-01"],
}


def _adapt_payloads(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        out = target / path.relative_to(source)
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix != ".json":
            out.write_bytes(path.read_bytes())
            continue
        payload = json.loads(path.read_text())
        graph = (payload.get("process") or {}).get("process_graph") or {}
        for node in graph.values():
            args = node.get("arguments") or {}
            if node.get("process_id") == "load_collection" and args.get("id") == "CGLS_SSM_1KM":
                args.update(OUR_COLLECTION)
        out.write_text(json.dumps(payload))


def _results(junit: Path) -> dict[str, str | None]:
    """Test name -> None when it passed, else its first error lines (skips are left out)."""
    results: dict[str, str | None] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            continue
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        message = None
        if failure is not None:
            lines = [
                ln[1:].strip() for ln in (failure.text or "").splitlines() if ln.startswith("E ")
            ]
            message = " ".join(lines or [failure.get("message") or "failed"])[:600]
        results[case.get("name", "?")] = message
    return results


def _run_part(
    part: str, suite: Path, scratch: Path, url: str, pytest_args: list[str]
) -> dict[str, Any]:
    folder, extra = PARTS[part]
    junit = scratch / f"junit-{part}.xml"
    path = f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    env = {
        **os.environ,
        "PYTHONPATH": path,
        "OPENEO_AUTH_METHOD": "basic",
        "OPENEO_AUTH_BASIC_USERNAME": "alice",
        "OPENEO_AUTH_BASIC_PASSWORD": USERS["alice"],
    }
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(suite / folder),
            "-p",
            "oidc_as_basic",
            "-p",
            "openeo_test_suite.lib.pytest_plugin",
            "-U",
            url + "/",
            *extra,
            "--rootdir",
            str(scratch),
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            "-rN",
            f"--junitxml={junit}",
            f"--basetemp={scratch / ('tmp-' + part)}",  # the lanes apart
            "-o",
            "addopts=",
            "--timeout=300",
            *pytest_args,
        ],
        cwd=scratch,
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
    )
    results = _results(junit)
    return {
        "passed": sum(m is None for m in results.values()),
        "total": len(results),
        "failed": {k: v for k, v in results.items() if v is not None},
        "seconds": round(time.monotonic() - started, 1),
    }


def run(
    parts: list[str] | None = None,
    out_json: Path | None = None,
    pytest_args: list[str] | None = None,
    lanes: int = 2,
    api: str = "1.2",
) -> dict[str, dict]:
    """Summary per part: passed, total (skips not counted), failed {test: message}. The
    parts run in `lanes` suite processes at once against one server, in START_ORDER."""
    import openeo_test_suite

    suite = Path(openeo_test_suite.__file__).parent / "tests"
    chosen = parts or list(PARTS)
    with tempfile.TemporaryDirectory(prefix="cropcube-conformance-") as tmp:
        scratch = Path(tmp)
        _layout(scratch, _assets())
        catalog = build_demo_data(
            CACHE / f"demo-{DEMO_SIZE}-{DEMO_SEED}", size=DEMO_SIZE, seed=DEMO_SEED
        )
        server = start_server(scratch / "server", {"CROPCUBE_STAC_URL": str(catalog)})
        try:
            with ThreadPoolExecutor(lanes) as pool:
                futures = {
                    part: pool.submit(
                        _run_part,
                        part,
                        suite,
                        scratch,
                        f"{server.root}/openeo/{api}",
                        pytest_args or [],
                    )
                    for part in sorted(chosen, key=START_ORDER.index)
                }
                summaries = {part: futures[part].result() for part in chosen}
        finally:
            stop_server(server)
    if out_json:
        out_json.write_text(json.dumps(summaries, indent=1))
    return summaries


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("parts", nargs="*", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="write the summary here")
    parser.add_argument("-k", default=None, help="pytest -k expression")
    parser.add_argument("--lanes", type=int, default=2, help="parts run at once (default 2)")
    parser.add_argument(
        "--api", choices=("1.2", "1.3"), default="1.2", help="the API version tested (default 1.2)"
    )
    args = parser.parse_args()
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}")
    summaries = run(
        args.parts or None,
        args.json,
        ["-k", args.k] if args.k else None,
        args.lanes,
        args.api,
    )
    for part, summary in summaries.items():
        print(
            f"\n{part} ({PARTS[part][0]}): {summary['passed']} of {summary['total']} passed "
            f"in {summary['seconds']} s"
        )
        for name, message in summary["failed"].items():
            print(f"  FAILED {name}: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
