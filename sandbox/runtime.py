"""The UDF runtime cropcube offers, as GET /udf_runtimes lists it: Python, this server's
interpreter version, and the libraries a UDF may import with their installed versions."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

NAME = "Python"
LIBRARIES = (
    "numpy",
    "xarray",
    "pandas",
    "scipy",
    "dask",
    "numba",
    "torch",
    "onnxruntime",
    "scikit-learn",
    "shapely",
    "openeo",
)


def version() -> str:
    return ".".join(platform.python_version_tuple()[:2])


def versions() -> tuple[str, ...]:
    """The version names a run_udf call may give: 3.11, and 3 (the same)."""
    major = platform.python_version_tuple()[0]
    return (version(), major)


def find(name: Any) -> str | None:
    """The runtime's own name for `name` (clients differ in case), or None."""
    return NAME if isinstance(name, str) and name.lower() == NAME.lower() else None


def describe() -> dict[str, Any]:
    libraries = {}
    for lib in LIBRARIES:
        try:
            libraries[lib] = {"version": metadata.version(lib)}
        except metadata.PackageNotFoundError:
            continue
    return {
        NAME: {
            "title": f"Python {platform.python_version()}",
            "description": (
                "Python UDFs with the openEO UDF API (`openeo.udf`): `apply_datacube(cube, "
                "context)`, `apply_timeseries(series, context)` or a function of `UdfData`. "
                "Each runs sandboxed (no network, no files but a private /tmp), block by block."
            ),
            "type": "language",
            "default": version(),
            "versions": {version(): {"libraries": libraries}},
            "links": [
                {
                    "href": "https://open-eo.github.io/openeo-python-client/udf.html",
                    "rel": "about",
                    "title": "User-defined functions in the openEO Python client",
                }
            ],
        }
    }
