"""``ChunkQueue`` behaves as the ``asyncio.Queue`` it replaces for a stream, without the deques.

Every upstream stream's bytes pass through one: a difference in behaviour would be a stream that
hangs, loses or reorders bytes, or a slow reader that costs quadratic time.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from deepseek_free_api.upstream.bodies import ChunkQueue


async def _chunk_queue_is_first_in_first_out_for_a_reader_that_falls_behind() -> None:
    queue = ChunkQueue()
    reader_got: list[int] = []

    async def reader() -> None:
        while (item := await queue.get()) is not None:
            reader_got.append(item)
            if len(reader_got) % 7 == 0:
                await asyncio.sleep(0)  # behind the writer now and then

    task = asyncio.create_task(reader())
    for n in range(5000):
        queue.put_nowait(n)
        if n % 3 == 0:
            await asyncio.sleep(0)
    queue.put_nowait(None)
    await asyncio.wait_for(task, 10)
    assert reader_got == list(range(5000))
    assert queue.empty() and queue.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def _chunk_queue_drained_item_by_item_takes_linear_time() -> None:
    """A reader that takes one item at a time from a long queue does not copy the queue each time."""

    def drain(count: int) -> float:
        queue = ChunkQueue()
        for n in range(count):
            queue.put_nowait(n)
        started = time.perf_counter()
        while not queue.empty():
            queue.get_nowait()
        return time.perf_counter() - started

    drain(1000)  # warm
    small, large = min(drain(20_000) for _ in range(3)), min(drain(160_000) for _ in range(3))
    assert large < small * 8 * 3, (small, large)  # 8x the items; quadratic would be 64x


async def _chunk_queue_peek_and_one_waiting_reader() -> None:
    queue = ChunkQueue()
    queue.put_nowait(b"a")
    queue.put_nowait(b"b")
    assert queue._queue[0] == b"a"  # what upstream.exchange peeks at
    assert queue.get_nowait() == b"a"
    assert queue._queue == [b"b"]
    assert await queue.get() == b"b"
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await queue.get()  # a second reader while one waits: refused, not left hanging
    queue.put_nowait(b"c")
    assert await waiting == b"c"


def test_chunk_queue_is_first_in_first_out_for_a_reader_that_falls_behind() -> None:
    asyncio.run(asyncio.wait_for(_chunk_queue_is_first_in_first_out_for_a_reader_that_falls_behind(), 30))


def test_chunk_queue_drained_item_by_item_takes_linear_time() -> None:
    asyncio.run(asyncio.wait_for(_chunk_queue_drained_item_by_item_takes_linear_time(), 30))


def test_chunk_queue_peek_and_one_waiting_reader() -> None:
    asyncio.run(asyncio.wait_for(_chunk_queue_peek_and_one_waiting_reader(), 30))
