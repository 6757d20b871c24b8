"""Stream a dask array block by block, a few in flight: the engine under every raster writer."""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.system import CPU_COUNT


def _distributed_client() -> Any:
    """The dask.distributed client that computes, or None for the local schedulers."""
    if dask.config.get("scheduler", None) not in (None, "dask.distributed", "distributed"):
        return None
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


@dataclass
class Watch:
    """What the writers inside `reporting` tell: a callback(done, total) per block written,
    and the seconds they waited for blocks (the rest of their time is writing)."""

    on_block: Callable[[int, int], None]
    waited_s: float = 0.0


_watch: contextvars.ContextVar[Watch | None] = contextvars.ContextVar(
    "cropcube_block_watch", default=None
)


@contextlib.contextmanager
def reporting(callback: Callable[[int, int], None]) -> Iterator[Watch]:
    """Call callback(done, total) as each block of a raster written inside is done (the
    progress of a job moves with its blocks), and count the time spent waiting for them."""
    watch = Watch(callback)
    token = _watch.set(watch)
    try:
        yield watch
    finally:
        _watch.reset(token)


def _reported(blocks: Iterator[tuple[Any, Any]], total: int) -> Iterator[tuple[Any, Any]]:
    watch = _watch.get()
    done = 0
    while True:
        started = time.perf_counter()
        block = next(blocks, None)
        if watch is not None:
            watch.waited_s += time.perf_counter() - started
        if block is None:
            return
        yield block
        done += 1
        if watch is not None:
            watch.on_block(done, total)


def _compute_alone(block: Any) -> Any:
    return dask.compute(block, scheduler="sync")[0]


class _Whole:
    """A block's lazy graph carried to a dask.distributed worker as one task, computed there
    as on a thread here (`client.compute` would spread its tasks and those of the other
    blocks in flight over the threads, so more read blocks were open at once than the
    reader's cache holds: 100-128 reads against 92 for a 1000 px year, docs/benchmarks.md)."""

    def __init__(self, block: Any) -> None:
        self.block = block

    def __call__(self) -> Any:
        return _compute_alone(self.block)


def _submit_whole(client: Any, block: Any) -> Any:
    return client.submit(_Whole(block), pure=False)


def _z_order(index: tuple[int, ...]) -> tuple[int, ...]:
    """Blocks in Z order over the last two (spatial) dims, the others innermost: blocks
    that follow each other are neighbours, so the inputs they share (a read block that
    serves several chunks) are still in the reader's cache."""
    if len(index) < 2:
        return index
    y, x = index[-2], index[-1]
    z = 0
    for bit in range(max(y, x).bit_length()):
        z |= ((y >> bit) & 1) << (2 * bit + 1) | ((x >> bit) & 1) << (2 * bit)
    return (z, *index[:-2])


def iter_blocks(array: Any, threads: int | None = None) -> Iterator[tuple[Any, Any]]:
    """Yield (slices, numpy block) of a dask or numpy array as blocks finish, a few at a time.

    At most threads + 1 blocks are in flight (each computed on its own, the sync scheduler
    in a thread, or one task on a dask.distributed worker), so inputs stream through and
    memory stays flat however large the raster: a graph with many inputs per output block
    (whole time series) cannot make dask read ahead into memory. The price: work shared by
    several output blocks (a load chunk larger than an output block) is done once per
    block, so processes keep output blocks aligned with their inputs; the blocks go in Z
    order, so that a reader's cache serves neighbours. The blocks come back
    to this process, so the writer never travels to the workers.
    """
    if not isinstance(array, da.Array):
        whole = tuple(slice(0, n) for n in array.shape), np.asarray(array)
        yield from _reported(iter([whole]), 1)
        return
    offsets = [np.cumsum((0, *c)) for c in array.chunks]
    delayed = array.to_delayed()
    blocks = [
        (
            tuple(slice(int(offsets[d][i]), int(offsets[d][i + 1])) for d, i in enumerate(index)),
            delayed[index],
        )
        for index in sorted(np.ndindex(*delayed.shape), key=_z_order)
    ]
    yield from _reported(_stream(blocks, threads), len(blocks))


def _stream(blocks: list[tuple[Any, Any]], threads: int | None) -> Iterator[tuple[Any, Any]]:
    client = _distributed_client()
    if client is not None:
        threads = threads or sum(client.nthreads().values())
    threads = max(1, threads or CPU_COUNT)  # the cores this process may use
    if 2 * len(blocks) <= threads and client is None:
        # Too few blocks to keep half the cores busy one block each: let the threaded
        # scheduler parallelise inside them. (With one block per core, streaming wins: on
        # 16 cores, 16 blocks all at once on the threaded scheduler took 16.5 s and 4.1 GB,
        # streamed on 8 of the cores 10.7 s and 2.7 GB; docs/benchmarks.md.)
        yield from zip([b[0] for b in blocks], dask.compute(*[b[1] for b in blocks]), strict=True)
        return
    with contextlib.ExitStack() as stack:
        if client is not None:
            submit = partial(_submit_whole, client)
        else:
            pool = ThreadPoolExecutor(threads)
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
            submit = partial(pool.submit, _compute_alone)
        pending: deque = deque()
        for slices, block in blocks:
            pending.append((slices, submit(block)))
            if len(pending) > threads:
                done_slices, future = pending.popleft()
                yield done_slices, future.result()
        while pending:
            done_slices, future = pending.popleft()
            yield done_slices, future.result()
