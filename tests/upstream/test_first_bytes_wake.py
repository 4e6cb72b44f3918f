"""A stream's reader, waiting for DeepSeek's first bytes, runs in the turn of the loop after they came.

libcurl hands a read's bytes to the write callback (``StreamBody.body``), which queues them once
per turn of the loop (a flush scheduled behind libcurl's other callbacks of that read). The reader
waiting for the first bytes used to be woken by that flush, so it ran one turn later still: in a
burst, each turn of the loop is every ready request's step, and the first token waited for them.
"""

from __future__ import annotations

import asyncio

from deepseek_free_api.upstream.bodies import StreamBody

FRAME = b'data: {"v":"Qx7"}\n\n'


def test_the_reader_waiting_for_the_first_bytes_runs_in_the_next_turn_with_them_queued() -> None:
    async def main() -> tuple[int, int, bytes]:
        loop = asyncio.get_running_loop()
        sink = StreamBody(64 * 1024)
        turns = 0

        def count_turns() -> None:
            nonlocal turns
            turns += 1
            loop.call_soon(count_turns)

        came: list[int] = []

        def libcurl_reads() -> None:  # as libcurl calls the write callback, inside a loop callback
            came.append(turns)
            assert sink.body(FRAME) == len(FRAME)
            assert sink.body(FRAME) == len(FRAME)  # a second HTTP chunk of the same read

        async def reader() -> tuple[int, bytes]:
            await sink.first
            return turns, sink.queue.get_nowait()

        waiting = asyncio.ensure_future(reader())
        await asyncio.sleep(0.01)
        loop.call_soon(count_turns)
        await asyncio.sleep(0)
        loop.call_soon(libcurl_reads)
        resumed, chunk = await waiting
        return came[0], resumed, chunk

    came, resumed, chunk = asyncio.run(asyncio.wait_for(main(), 10))
    assert chunk == FRAME + FRAME  # the read's pieces joined, queued before the reader runs
    # Before: two turns later (the flush, then the reader woken by it).
    assert resumed - came <= 1, f"the reader ran {resumed - came} turns of the loop after the bytes came"
