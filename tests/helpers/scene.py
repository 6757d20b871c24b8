"""The small demo scene every test uses, and the box inside it the openEO test suite reads."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_SIZE, DEMO_SEED = 200, 7  # 2 x 2 km, covering the openEO test suite's box
CACHE = REPO / ".cache" / "tests"
TEST_BOX = {"west": 679720, "east": 680680, "south": 5151080, "north": 5151920, "crs": 32632}
