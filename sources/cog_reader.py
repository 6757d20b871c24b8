"""Read COG bands onto the output grid without warping, when the grids line up.

The 10, 20 and 60 m grids of a Sentinel-2 tile share a corner, so on an output grid in
the same CRS whose pixel edges fall on the 10 m edges every output pixel lies inside one
source pixel: nearest resampling is a repeat. Each band is read at its own resolution in
blocks of whole COG tiles (each tile decoded once, each file opened once per process and
kept open, files outside the cube never opened) and written, repeated, scaled and masked
in one compiled pass, straight into the cube's chunk. `plan` says None when the items do not line up
(another CRS, a rotated or fractional grid, no projection metadata); the caller then
warps with odc-stac. Items of one solar day are fused as odc-stac fuses them (sorted by
time and id, the first valid pixel wins), so both paths give the same values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import resource
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import pystac
import rasterio
from dask.base import tokenize
from dask.system import CPU_COUNT
from distributed.metrics import context_meter
from odc.geo.geobox import GeoBox
from rasterio.windows import Window

from core.errors import Internal
from sources.reflectance import convert_into
from sources.stac_source import epsg_of, item_time

# GDAL options that suit COGs: no directory listing on open, one HTTP/2 connection for many
# range requests, neighbouring ranges merged, a small block cache. No VSI cache: the
# datasets stay open (their headers parsed once), and a per-handle cache over thousands of
# open files would hold their compressed bytes a second time.
GDAL_OPTIONS: dict[str, Any] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.jp2",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "VSI_CACHE": "FALSE",
    # GDAL's block cache (process-wide) keeps decoded tiles of open datasets: with the
    # datasets kept open it would fill to 5 % of RAM with tiles that are read only once.
    # The same cap as formats.gtiff's writer sets: one cache per process, the last
    # setting wins, and the writers run while these reads go on.
    "GDAL_CACHEMAX": 64 * 2**20,
}
# Raw bytes of one read block (one band, all dates), local or remote. Larger remote blocks
# (80 MB, one merged request for several tiles of a file) made fewer round trips, but the
# blocks that the chunks of one place share outgrew the block cache and were read again
# and again: over HTTP at 20 ms a request, 235 s against 39 s local (docs/benchmarks.md).
READ_BLOCK_BYTES = 24 * 2**20
MAX_OPEN_DATASETS = 4096  # per process; a quarter of the file limit where that is lower
READ_METRIC = "read-cogs"  # the label of reading time in dask.distributed's task metrics


@dataclass(frozen=True)
class Source:
    """One file of one band: where it lies in the band's grid, in the band's pixels."""

    href: str
    item_id: str
    row: int
    col: int
    height: int
    width: int
    version: tuple  # the file's identity when planned (_version): names its kept dataset


@dataclass(frozen=True)
class BandPlan:
    """How one band is read: its grid against the output grid, and its files per date."""

    key: str
    factor: int  # one band pixel is factor x factor output pixels
    row0: int  # the output grid's first row and column in the band grid, in output pixels
    col0: int
    block: int  # side of a read block in band pixels, a multiple of the COG tile
    dtype: np.dtype
    nodata: float | None
    dates: tuple[tuple[Source, ...], ...]  # per output date, in fuse order
    token: str  # names the plan in the block cache and the dask graph


def solar_days(
    items: Sequence[pystac.Item], geobox: GeoBox
) -> list[tuple[np.datetime64, list[pystac.Item]]]:
    """Items grouped by solar day at the output's central longitude, as odc-stac groups
    them: each day's items sorted by time and id, the day stamped with its first item."""
    ((lon, _),) = geobox.extent.centroid.to_crs("epsg:4326").points
    shift = dt.timedelta(hours=int(lon / 15))

    def day(item: pystac.Item) -> dt.date:
        return (item_time(item) + shift).date()

    ordered = sorted(items, key=lambda i: (day(i), item_time(i), i.id))
    groups: dict[dt.date, list[pystac.Item]] = {}
    for item in ordered:
        groups.setdefault(day(item), []).append(item)
    return [
        (np.datetime64(item_time(g[0]).astimezone(dt.UTC).replace(tzinfo=None), "ns"), g)
        for g in groups.values()
    ]


def _grid(item: pystac.Item, key: str) -> tuple[list[float], list[int], int] | None:
    asset = item.assets[key]
    fields = {**item.properties, **asset.extra_fields}
    transform, shape = fields.get("proj:transform"), fields.get("proj:shape")
    if not transform or not shape or not (fields.get("proj:epsg") or fields.get("proj:code")):
        return None
    return list(transform[:6]), list(shape), epsg_of(fields)


def _whole(value: float) -> int | None:
    """value as an int when it is one (to a millionth of a pixel), else None."""
    near = round(value)
    return int(near) if abs(value - near) < 1e-6 else None


def plan_band(
    key: str, days: list[tuple[np.datetime64, list[pystac.Item]]], geobox: GeoBox
) -> BandPlan | None:
    """The band's read plan, or None if its files do not line up with the output grid."""
    out = geobox.transform
    res = out.a
    if out.b or out.d or res <= 0 or out.e != -res or geobox.crs.epsg is None:
        return None
    first = _grid(days[0][1][0], key)
    if first is None:
        return None
    (a0, _, c0, _, _, f0), _, _ = first
    factor = _whole(a0 / res)
    row0, col0 = _whole((f0 - out.f) / res), _whole((out.c - c0) / res)
    if not factor or factor < 1 or row0 is None or col0 is None:
        return None
    dates = []
    for _, group in days:
        sources = []
        for item in group:
            grid = _grid(item, key)
            if grid is None:
                return None
            (a, b, c, d, e, f), (height, width), epsg = grid
            row, col = _whole((f0 - f) / a0), _whole((c - c0) / a0)
            if epsg != geobox.crs.epsg or (a, b, d, e) != (a0, 0, 0, -a0):
                return None
            if row is None or col is None:
                return None
            href = item.assets[key].get_absolute_href() or item.assets[key].href
            try:
                version = _version(href)
            except OSError as err:
                raise _unreadable(key, item.id) from err
            sources.append(Source(href, item.id, row, col, height, width, version))
        dates.append(tuple(sources))
    try:
        with rasterio.Env(**GDAL_OPTIONS), rasterio.open(dates[0][0].href) as ds:
            tile, dtype, file_nodata = ds.block_shapes[0][0], np.dtype(ds.dtypes[0]), ds.nodata
    except rasterio.errors.RasterioError as err:
        raise _unreadable(key, dates[0][0].item_id) from err
    raster = (days[0][1][0].assets[key].extra_fields.get("raster:bands") or [{}])[0]
    nodata = raster.get("nodata", file_nodata)
    side = math.sqrt(READ_BLOCK_BYTES / (dtype.itemsize * len(dates)))
    block = max(1, int(side // tile)) * tile
    # The sources' versions are in `dates`: files rewritten in place make another plan,
    # which the cache does not serve from the old one's blocks.
    parts = (key, factor, row0, col0, block, dtype.str, nodata, dates)
    return BandPlan(key, factor, row0, col0, block, dtype, nodata, tuple(dates), tokenize(*parts))


def _unreadable(key: str, item_id: str) -> Internal:
    """The error for a file GDAL cannot read: it names the item, never the server's path."""
    return Internal(f"Could not read band {key} of item {item_id}.")


def _fill(plan: BandPlan) -> Any:
    if plan.nodata is not None:
        return plan.nodata
    return np.nan if plan.dtype.kind == "f" else 0


def _read_piece(
    src: Source, rows: tuple[int, int], cols: tuple[int, int], key: str
) -> tuple[slice, slice, np.ndarray] | None:
    """The part of a block (band-grid rows and columns) that one file covers, read."""
    r0, r1 = max(rows[0], src.row), min(rows[1], src.row + src.height)
    c0, c1 = max(cols[0], src.col), min(cols[1], src.col + src.width)
    if r0 >= r1 or c0 >= c1:
        return None
    window = Window(c0 - src.col, r0 - src.row, c1 - c0, r1 - r0)
    try:
        with HANDLES.dataset(src.href, src.version) as ds:
            pixels = ds.read(1, window=window)
    except (rasterio.errors.RasterioError, OSError) as err:
        raise _unreadable(key, src.item_id) from err
    return slice(r0 - rows[0], r1 - rows[0]), slice(c0 - cols[0], c1 - cols[0]), pixels


class Handles:
    """Open datasets kept for the next block that reads the same file: opening a COG (its
    header parsed, its tile index read) costs as much as decoding a tile, and a year's
    chunk reads every file of every band. Each dataset serves one thread at a time; at
    most max_open stay open per process (least recently used closed first), well inside
    the process's file limit."""

    def __init__(self, max_open: int) -> None:
        self.max_open = max_open
        self._lock = threading.Lock()
        self._idle: OrderedDict[tuple, list[Any]] = OrderedDict()
        self._count = 0

    @contextlib.contextmanager
    def dataset(self, href: str, version: tuple) -> Iterator[Any]:
        """A dataset of `href` as it was when planned (`version`, from _version): asking
        the file system again for every read cost a stat per window."""
        key = version
        with self._lock:
            idle = self._idle.get(key)
            ds = idle.pop() if idle else None
            if idle is not None and not idle:
                del self._idle[key]
        if ds is None:
            ds = rasterio.open(href)
            with self._lock:
                self._count += 1
        try:
            yield ds
        except BaseException:
            self._close(ds)  # a dataset that failed is not lent again
            raise
        with self._lock:
            self._idle.setdefault(key, []).append(ds)
            self._idle.move_to_end(key)
            closing = []
            while self._count > self.max_open and self._idle:
                _, lru = next(iter(self._idle.items()))
                closing.append(lru.pop())
                self._count -= 1
                if not lru:
                    self._idle.popitem(last=False)
        for old in closing:
            old.close()

    def _close(self, ds: Any) -> None:
        ds.close()
        with self._lock:
            self._count -= 1

    def forget(self) -> None:
        """Drop every dataset without closing it (a forked child must not share the
        parent's file offsets)."""
        self._idle, self._count, self._lock = OrderedDict(), 0, threading.Lock()


def _version(href: str) -> tuple:
    """A file's identity for the kept datasets: a local file rewritten in place is opened
    anew (remote objects of one href do not change while a cube is read)."""
    if "://" in href:
        return (href,)
    st = os.stat(href)
    return href, st.st_ino, st.st_mtime_ns, st.st_size


def _max_open() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(MAX_OPEN_DATASETS, soft // 4))


HANDLES = Handles(_max_open())
_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _after_fork() -> None:
    """A forked child starts with no reader threads (they did not survive the fork) and no
    open datasets of its own."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()
    HANDLES.forget()


os.register_at_fork(after_in_child=_after_fork)


def _enter_gdal_env() -> None:
    """Each reader thread keeps GDAL_OPTIONS for its life: no environment set up and torn
    down per file, and threads that are not ours keep GDAL's defaults."""
    rasterio.Env(**GDAL_OPTIONS).__enter__()


def _pool(threads: int) -> ThreadPoolExecutor:
    """A process-wide pool of reader threads: GDAL decodes without the GIL, so the files of
    one block are read on every core, and the chunks waiting on that block do not idle."""
    with _POOLS_LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(
                threads, thread_name_prefix="cog-read", initializer=_enter_gdal_env
            )
        return _POOLS[threads]


def read_block(
    plan: BandPlan, rows: tuple[int, int], cols: tuple[int, int], threads: int = 1
) -> np.ndarray:
    """Every date of one block of a band: (dates, rows, cols) in the band's grid.

    Files are fused in order, a later one filling only what earlier ones left as no-data;
    they are read `threads` at a time (one per core for local files, more for remote ones,
    whose cost is waiting)."""
    fill = _fill(plan)
    out = np.empty((len(plan.dates), rows[1] - rows[0], cols[1] - cols[0]), plan.dtype)
    jobs = [(t, src) for t, sources in enumerate(plan.dates) for src in sources]

    def piece(job: tuple[int, Source]) -> tuple[slice, slice, np.ndarray] | None:
        return _read_piece(job[1], rows, cols, plan.key)

    if threads > 1 and len(jobs) > 1:
        pieces = list(_pool(threads).map(piece, jobs))
    else:
        with rasterio.Env(**GDAL_OPTIONS):
            pieces = [piece(job) for job in jobs]
    filled = [False] * len(plan.dates)  # a date no file covers is filled at the end
    for (t, _), piece in zip(jobs, pieces, strict=True):
        if piece is None:
            continue
        ys, xs, pixels = piece
        if not filled[t]:
            if pixels.shape != out.shape[1:]:  # the first file leaves part of the block
                out[t] = fill
            out[t, ys, xs] = pixels
            filled[t] = True
        else:
            dst = out[t, ys, xs]
            missing = np.isnan(dst) if isinstance(fill, float) and np.isnan(fill) else dst == fill
            np.copyto(dst, pixels, where=missing)
    for t, done in enumerate(filled):
        if not done:
            out[t] = fill
    return out


def _chunks_per_block(
    plan: BandPlan, spans: tuple[tuple[int, ...], tuple[int, ...]]
) -> Callable[[int, int], int]:
    """How many chunks (of these row and column spans of the output grid) take the read
    block of `plan` at band row r0, column c0."""
    edges = [np.cumsum((0, *s)) for s in spans]

    def overlapping(axis: int, start: int, offset: int) -> int:
        lo = max(start * plan.factor - offset, 0)
        hi = min((start + plan.block) * plan.factor - offset, int(edges[axis][-1]))
        if lo >= hi:
            return 0
        first = np.searchsorted(edges[axis], lo, side="right")
        last = np.searchsorted(edges[axis], hi - 1, side="right")
        return int(last - first + 1)

    return lambda r0, c0: overlapping(0, r0, plan.row0) * overlapping(1, c0, plan.col0)


def _spans(start: int, stop: int, step: int) -> tuple[int, ...]:
    """Chunk sizes of [start, stop) cut at the multiples of step."""
    cuts = [start, *range((start // step + 1) * step, stop, step), stop]
    return tuple(b - a for a, b in zip(cuts, cuts[1:], strict=False))


class BlockCache:
    """Read blocks kept for the output chunks that share them (a 20 m block serves four
    10 m chunks): each block is dropped as soon as the last chunk that needs it has taken
    it, and at most max_bytes are kept per process (least recently used first out: the
    guard for chunks computed elsewhere, on another worker, which never come to take
    theirs). A block being read by one thread is waited for, not read again by another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: OrderedDict[tuple, tuple[np.ndarray, int]] = OrderedDict()
        self._reading: dict[tuple, threading.Event] = {}
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes of the blocks kept now."""
        return self._bytes

    def _take(self, key: tuple) -> np.ndarray | None:
        """The kept block, counted as taken by one more of its chunks (under the lock)."""
        if key not in self._blocks:
            return None
        block, left = self._blocks.pop(key)
        if left > 1:
            self._blocks[key] = (block, left - 1)  # and the most recently used
        else:
            self._bytes -= block.nbytes
        return block

    def get(
        self, key: tuple, read: Callable[[], np.ndarray], max_bytes: int, uses: int
    ) -> np.ndarray:
        """The block of `key`, read if no thread has it; `uses` is how many chunks take it."""
        with self._lock:
            block = self._take(key)
            if block is not None:
                return block
            waiting = self._reading.get(key)
            if waiting is None:
                self._reading[key] = threading.Event()
        if waiting is not None:
            waiting.wait()
            with self._lock:
                block = self._take(key)
            return block if block is not None else read()  # gone already, or a failed read
        try:
            block = read()
            if uses > 1:
                with self._lock:
                    self._blocks[key] = (block, uses - 1)
                    self._bytes += block.nbytes
                    while self._bytes > max_bytes and self._blocks:
                        self._bytes -= self._blocks.popitem(last=False)[1][0].nbytes
            return block
        finally:
            with self._lock:
                self._reading.pop(key).set()


CACHE = BlockCache()


def _native(
    plan: BandPlan,
    rows: tuple[int, int],
    cols: tuple[int, int],
    shared: Callable[[int, int], int] | None,
    threads: int,
    cache_bytes: int,
) -> np.ndarray:
    """Band-grid rows and columns of every date; from the shared read blocks (each read
    whole, once, through the cache) when several chunks need one block: shared(r0, c0)
    says how many chunks take the block at band row r0, column c0."""
    if shared is None:
        return read_block(plan, rows, cols, threads)
    b = plan.block
    out = np.empty((len(plan.dates), rows[1] - rows[0], cols[1] - cols[0]), plan.dtype)
    for r0 in range(rows[0] // b * b, rows[1], b):
        for c0 in range(cols[0] // b * b, cols[1], b):
            block = CACHE.get(
                (plan.token, r0, c0),
                lambda r0=r0, c0=c0: read_block(plan, (r0, r0 + b), (c0, c0 + b), threads),
                cache_bytes,
                shared(r0, c0),
            )
            y0, y1 = max(rows[0], r0), min(rows[1], r0 + b)
            x0, x1 = max(cols[0], c0), min(cols[1], c0 + b)
            out[:, y0 - rows[0] : y1 - rows[0], x0 - cols[0] : x1 - cols[0]] = block[
                :, y0 - r0 : y1 - r0, x0 - c0 : x1 - c0
            ]
    return out


@dataclass(frozen=True)
class Scaling:
    """How a band's digital numbers become cube values: per date, and whether its no-data
    value turns into NaN (reflectance) or stays a value (class bands such as SCL)."""

    scale: np.ndarray
    offset: np.ndarray
    mask: bool


def plan(
    items: Sequence[pystac.Item], keys: Sequence[str], geobox: GeoBox
) -> tuple[list[np.datetime64], list[BandPlan]] | None:
    """The cube's dates and each band's read plan, or None if any band's files do not line
    up with the output grid (the caller then warps)."""
    days = solar_days(items, geobox)
    plans = [plan_band(key, days, geobox) for key in keys]
    if any(p is None for p in plans):
        return None
    return [t for t, _ in days], plans  # type: ignore[return-value]


def cube(
    plans: Sequence[BandPlan],
    scalings: Sequence[Scaling],
    geobox: GeoBox,
    chunk_px: int,
    threads: int = 1,
    cache_bytes: int = 384 * 2**20,
) -> da.Array:
    """The bands on the output grid as a lazy (dates, bands, y, x) float32 array, one task
    per spatial chunk holding every band, each band written straight into the chunk.

    Chunks are cut where the finest band's grid has a multiple of chunk_px, so that they
    fall on its COG tiles. Every chunk can be computed alone, on any worker; chunks that
    share a coarser band's read block (a 20 m tile serves four 10 m chunks) take it from
    the process's BlockCache. Remote files are read `threads` at a time, local ones one
    per core."""
    height, width = geobox.shape.yx
    remote = any("://" in s.href for p in plans for d in p.dates for s in d)
    threads = threads if remote else CPU_COUNT  # the cores this process may use
    finest = min(plans, key=lambda p: p.factor)
    n_dates = len(plans[0].dates)
    spans = (
        _spans(finest.row0, finest.row0 + height, chunk_px),
        _spans(finest.col0, finest.col0 + width, chunk_px),
    )
    uses = {p.key: _chunks_per_block(p, spans) for p in plans if p.block * p.factor > chunk_px}

    def chunk(block_info: dict | None = None) -> np.ndarray:
        _, _, (o0, o1), (p0, p1) = block_info[None]["array-location"]  # type: ignore[index]
        out = np.empty((n_dates, len(plans), o1 - o0, p1 - p0), np.float32)
        for b, (p, scaling) in enumerate(zip(plans, scalings, strict=True)):
            k, y0, x0 = p.factor, p.row0, p.col0
            rows = ((y0 + o0) // k, -(-(y0 + o1) // k))
            cols = ((x0 + p0) // k, -(-(x0 + p1) // k))
            with context_meter.meter(READ_METRIC):  # the job's log: reading apart from computing
                raw = _native(p, rows, cols, uses.get(p.key), threads, cache_bytes)
            dy, dx = y0 + o0 - rows[0] * k, x0 + p0 - cols[0] * k
            nodata = p.nodata if scaling.mask else None
            convert_into(out[:, b], raw, scaling.scale, scaling.offset, nodata, k, dy, dx)
        return out

    chunks = ((n_dates,), (len(plans),), *spans)
    token = tokenize([p.token for p in plans], scalings, geobox, chunk_px)
    return da.map_blocks(
        chunk,
        chunks=chunks,
        dtype=np.float32,
        meta=np.empty((0, 0, 0, 0), np.float32),
        name=f"cog-read-{token}",
    )
