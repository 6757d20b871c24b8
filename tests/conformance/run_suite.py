"""Run the official openEO test suite's API compliance tests against a fresh cropcube server.

Lays out ../shared/openeo-test-assets as the suite expects, starts a server on the demo
data, runs `openeo_test_suite/tests/general` with basic auth standing in for OIDC, and
prints the pass count and each failure's first line. Exit code 0 when the suite ran.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from conftest import CACHE, DEMO_SEED, DEMO_SIZE  # noqa: E402
from serverctl import USERS, start_server, stop_server  # noqa: E402

from backend.demo.build import build_demo_data  # noqa: E402


def _assets() -> Path:
    for candidate in (REPO.parent / "shared" / "openeo-test-assets",
                      REPO / "shared" / "openeo-test-assets"):
        if (candidate / "openeo-api" / "openapi.yaml").exists():
            return candidate
    raise SystemExit("openeo-test-assets not found next to the repository (../shared)")


def _layout(scratch: Path, assets: Path) -> None:
    (scratch / "assets").mkdir()
    (scratch / "assets" / "openeo-api").symlink_to(assets / "openeo-api")
    (scratch / "assets" / "processes").symlink_to(assets / "processes")
    general = scratch / "src" / "openeo_test_suite" / "tests" / "general"
    general.mkdir(parents=True)
    (general / "payload_examples").symlink_to(assets / "payload_examples")


def run(out_json: Path | None) -> dict:
    import openeo_test_suite

    suite = Path(openeo_test_suite.__file__).parent / "tests" / "general"
    with tempfile.TemporaryDirectory(prefix="cropcube-conformance-") as tmp:
        scratch = Path(tmp)
        _layout(scratch, _assets())
        catalog = build_demo_data(CACHE / f"demo-{DEMO_SIZE}-{DEMO_SEED}", size=DEMO_SIZE,
                                  seed=DEMO_SEED)
        server = start_server(scratch / "server", {"CROPCUBE_STAC_URL": str(catalog)})
        junit = scratch / "junit.xml"
        try:
            path = f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
            env = {**os.environ, "PYTHONPATH": path,
                   "OPENEO_AUTH_METHOD": "basic", "OPENEO_AUTH_BASIC_USERNAME": "alice",
                   "OPENEO_AUTH_BASIC_PASSWORD": USERS["alice"]}
            subprocess.run(
                [sys.executable, "-m", "pytest", str(suite), "-p", "oidc_as_basic",
                 "-p", "openeo_test_suite.lib.pytest_plugin", "-U", server.url + "/",
                 "--rootdir", str(scratch), "-p", "no:cacheprovider", "-q",
                 f"--junitxml={junit}", "-o", "addopts=", "--timeout=300"],
                cwd=scratch, env=env, check=False)
        finally:
            stop_server(server)
        cases = ET.parse(junit).getroot().iter("testcase")
        results: dict[str, str | None] = {}
        for case in cases:
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            message = None
            if failure is not None:
                lines = [ln[1:].strip() for ln in (failure.text or "").splitlines()
                         if ln.startswith("E ")]
                message = " ".join(lines or [failure.get("message") or "failed"])[:600]
            results[case.get("name", "?")] = message
    summary = {"passed": sum(m is None for m in results.values()),
               "failed": {k: v for k, v in results.items() if v is not None},
               "total": len(results)}
    if out_json:
        out_json.write_text(json.dumps(summary, indent=1))
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=None, help="write the summary here")
    args = parser.parse_args()
    summary = run(args.json)
    print(f"\nopenEO API compliance: {summary['passed']} of {summary['total']} passed")
    for name, message in summary["failed"].items():
        print(f"  FAILED {name}: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
