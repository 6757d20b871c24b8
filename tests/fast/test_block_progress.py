"""A job's progress moves with the blocks its writers stream (formats.blocks.reporting)."""

from __future__ import annotations

import time

import dask.array as da
import numpy as np

from formats import blocks


def test_every_block_written_is_reported_in_order():
    array = da.arange(600, dtype="float32").reshape(20, 30).rechunk((10, 10))  # 2 x 3 blocks
    seen: list[tuple[int, int]] = []
    out = np.zeros((20, 30), dtype="float32")
    with blocks.reporting(lambda done, total: seen.append((done, total))):
        for slices, block in blocks.iter_blocks(array, threads=2):
            out[slices] = block
            assert len(seen) < 6  # a block is reported once the writer has taken it
    assert seen == [(i, 6) for i in range(1, 7)]
    np.testing.assert_array_equal(out, np.arange(600, dtype="float32").reshape(20, 30))
    with blocks.reporting(lambda done, total: seen.append((done, total))):
        list(blocks.iter_blocks(np.ones((3, 3))))
    assert seen[-1] == (1, 1)
    list(blocks.iter_blocks(array))  # outside reporting: nothing is called
    assert len(seen) == 7


def test_blocks_too_few_for_the_cores_come_from_the_threaded_scheduler_alike():
    array = da.arange(600, dtype="float32").reshape(20, 30).rechunk((10, 30))  # 2 blocks
    for threads in (1, 2, 4, 8):  # streamed (1, 2) or computed together (4, 8)
        out = np.zeros((20, 30), dtype="float32")
        seen: list[tuple[int, int]] = []
        with blocks.reporting(lambda done, total, seen=seen: seen.append((done, total))):
            for slices, block in blocks.iter_blocks(array, threads=threads):
                out[slices] = block
        assert seen == [(1, 2), (2, 2)]
        np.testing.assert_array_equal(out, np.arange(600, dtype="float32").reshape(20, 30))


def test_the_time_writers_wait_for_blocks_is_counted_apart_from_writing():
    def slow(block):
        time.sleep(0.1)
        return block

    array = da.ones((4, 4), chunks=2).map_blocks(slow)  # 4 blocks of 0.1 s, 2 at a time
    with blocks.reporting(lambda done, total: None) as watch:
        for _ in blocks.iter_blocks(array, threads=1):
            time.sleep(0.05)  # "writing": not counted as waiting
    # one thread: the blocks take at least 4 x 0.1 s, of which the writing hides at most 3
    # x 0.05 s (the block computed while the writer writes)
    assert 0.4 - 3 * 0.05 <= watch.waited_s
    with blocks.reporting(lambda done, total: None) as idle:
        pass
    assert idle.waited_s == 0.0
