"""What an XYZ service draws: a finished job's raster result (its COG, read through its
overviews) or any process graph evaluated as a synchronous request would be, with the same
size limit. A layer small enough to keep is computed once, when the first tile asks for it;
a larger one stays lazy, so that a tile computes only the blocks under it. Sources are kept per
service while it is unchanged, and built once however many tiles ask at the same time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from backend import executor
from backend.execution import context_for
from backend.services import Services
from backend.store.models import WebService
from core.errors import ServiceConfigInvalid
from formats import render
from processes.context import JOB_RESULTS_URL, NotYours

CONFIGURATION: dict[str, dict[str, Any]] = {
    "band": {
        "type": "string",
        "description": "The band label to show (default: the class band of a class map, "
        "else the first band).",
    },
    "rescale": {
        "type": "array",
        "items": {"type": "number"},
        "minItems": 2,
        "maxItems": 2,
        "description": "The values drawn black and white; default: the band's minimum and maximum.",
    },
}
_CACHED = 16
KEEP_BYTES = 64 * 2**20  # a computed layer up to this size is kept with its service


@dataclass
class FileSource:
    path: Path
    layer: render.Layer

    def tile(self, x: int, y: int, z: int) -> bytes:
        return render.file_tile(self.path, self.layer, x, y, z)


@dataclass
class CubeSource:
    layer: xr.DataArray
    style: render.Style | None
    _ready: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _prepare(self) -> None:
        """On the first tile: compute a small layer whole (a map's first view asks for all
        its tiles at once, and each would compute the blocks under it), then the stretch."""
        with self._lock:
            if self._ready:
                return
            if self.layer.nbytes <= KEEP_BYTES:
                self.layer = self.layer.persist()
            if self.style is None:
                self.style = render.cube_style(self.layer)
            self._ready = True

    def tile(self, x: int, y: int, z: int) -> bytes:
        if not self._ready:
            self._prepare()
        assert self.style is not None
        return render.cube_tile(self.layer, self.style, x, y, z)


def check_configuration(configuration: Any) -> dict[str, Any]:
    """The configuration of an XYZ service, or ServiceConfigInvalid saying what is wrong."""
    if configuration is None:
        return {}
    if not isinstance(configuration, dict):
        raise ServiceConfigInvalid(reason="configuration must be an object.")
    unknown = sorted(set(configuration) - set(CONFIGURATION))
    if unknown:
        raise ServiceConfigInvalid(
            reason=f"unknown option(s) {', '.join(unknown)}; XYZ takes "
            f"{', '.join(sorted(CONFIGURATION))}."
        )
    band = configuration.get("band")
    if band is not None and not isinstance(band, str):
        raise ServiceConfigInvalid(reason="band must be a band label (a string).")
    rescale = configuration.get("rescale")
    if rescale is not None and not (
        isinstance(rescale, list)
        and len(rescale) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in rescale)
        and rescale[0] < rescale[1]
    ):
        raise ServiceConfigInvalid(reason="rescale must be [low, high] with low < high.")
    return dict(configuration)


def _job_raster(svc: Services, user: str, graph: dict[str, Any]) -> Path | None:
    """The COG of the user's finished job when the graph only loads that job's results."""
    if len(graph) != 1:
        return None
    (node,) = graph.values()
    args = node.get("arguments") or {}
    url = args.get("url")
    if node.get("process_id") != "load_stac" or not isinstance(url, str) or set(args) != {"url"}:
        return None
    own = JOB_RESULTS_URL.search(url)
    if own is None:
        return None
    ctx = context_for(svc.settings, svc.catalog, svc.store, user)
    assert ctx.job_folder is not None
    try:
        folder = ctx.job_folder(own.group(1))
    except NotYours as exc:
        raise ServiceConfigInvalid(reason=str(exc)) from None
    return next(iter(sorted(folder.glob("result*.tif"))), None)


def _select_band(cube: xr.DataArray, band: str | None) -> xr.DataArray:
    if band is None:
        return cube
    labels = [str(b) for b in cube["bands"].values] if "bands" in cube.dims else []
    if band not in labels:
        raise ServiceConfigInvalid(reason=f"the result has no band {band!r}; it has {labels}.")
    return cube.isel(bands=[labels.index(band)])


def build_source(svc: Services, service: WebService) -> FileSource | CubeSource:
    """Evaluate the service's graph into something that draws tiles."""
    graph = service.process["process_graph"]
    config = service.configuration or {}
    raster = _job_raster(svc, service.user_id, graph)
    rescale = config.get("rescale")
    if raster is not None and config.get("band") is None:
        shown = render.file_layer(raster)
        if rescale and shown.style.colormap is None:
            shown = render.Layer(shown.bands, render.Style.stretch(*rescale))
        return FileSource(raster, shown)
    ctx = context_for(svc.settings, svc.catalog, svc.store, service.user_id, synchronous=True)
    value = executor.evaluate(graph, ctx)
    data = ctx.saved[0].data if ctx.saved else value
    if not isinstance(data, xr.DataArray) or not {"x", "y"} <= set(data.dims):
        raise ServiceConfigInvalid(reason="the process graph must give a raster data cube.")
    layer = render.cube_layer(_select_band(data, config.get("band")))
    style = (
        render.Style.stretch(*rescale)
        if rescale and not data.attrs.get("classification:classes")
        else None
    )
    return CubeSource(layer, style)


class Sources:
    """The sources of the most recently used services, rebuilt when a service changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, Any], FileSource | CubeSource] = OrderedDict()
        self._building: dict[tuple[str, Any], threading.Lock] = {}

    def _cached(self, key: tuple[str, Any]) -> FileSource | CubeSource | None:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def get(self, svc: Services, service: WebService) -> FileSource | CubeSource:
        key = (service.id, service.updated)
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:  # the other tiles of the same view wait for the first one's source
            cached = self._cached(key)
            if cached is not None:
                return cached
            try:
                source = build_source(svc, service)
                with self._lock:
                    for old in [k for k in self._cache if k[0] == service.id]:
                        del self._cache[old]
                    self._cache[key] = source
                    while len(self._cache) > _CACHED:
                        self._cache.popitem(last=False)
            finally:
                with self._lock:
                    self._building.pop(key, None)
        return source

    def forget(self, service_id: str) -> None:
        with self._lock:
            for old in [k for k in self._cache if k[0] == service_id]:
                del self._cache[old]
