"""The shared assets beside the checkout (../shared): real Sentinel-2 data and the official
openEO test suite's assets. The tests say so when they are absent."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from helpers.scene import REPO

SHARED = REPO.parent / "shared"
MISSING = (
    f"{SHARED} is missing: the tests read the shared assets next to the checkout "
    "(../shared with data/ and openeo-test-assets/); "
    "see docs/contributing.md"
)


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or FileNotFoundError saying what is missing and why."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found. {MISSING}")
    return path


def eolearn_cube() -> xr.DataArray:
    """The eo-learn example patch: real Sentinel-2 NDVI with its cloud mask, 2015-2018."""
    from training.ndvi_evaluation import load_eolearn

    return load_eolearn(shared_path("data", "eolearn-testeopatch"))
