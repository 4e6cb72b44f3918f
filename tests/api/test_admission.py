"""Chat turns of a burst start their work one per turn of the event loop, with the sockets read between.

A burst's turns used to run their work up to the call to DeepSeek all in one turn of the loop,
and an answer that arrived meanwhile waited, unread, until the last of them was done
(``api/admission.py``). Driven here as the ASGI server drives ``TurnResponse``: each turn's work
blocks the loop for a while (as its CPU work does), and a socket becomes readable just after the
first one started.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from starlette.types import Message

from deepseek_free_api.api.admission import Admission
from deepseek_free_api.api.edge import Drain, TurnResponse
from deepseek_free_api.api.openai_chat import OpenAIChatDialect
from deepseek_free_api.api.openai_render import ChunkRenderer
from deepseek_free_api.chat.events import Completed, TextDelta, TokenUsage
from deepseek_free_api.chat.ports import EventSink

WORK_S = 0.03  # a turn's CPU work up to its call, blocking the loop


def _response(run: Any, drain: Drain) -> TurnResponse:
    renderer = ChunkRenderer(
        model="deepseek-chat", reasoning_mode="reasoning_content", include_usage=False, sources_text=False
    )
    return TurnResponse(
        run, OpenAIChatDialect(renderer), stream=True, keepalive_s=10, timeout_s=30, drain=drain
    )


async def _never() -> dict[str, Any]:
    await asyncio.sleep(3600)
    return {"type": "http.disconnect"}


async def _discard(message: Message) -> None:
    return None


def test_an_answer_that_arrives_during_a_burst_is_read_before_the_bursts_last_turn_starts() -> None:
    count = 6

    async def main() -> tuple[list[float], float]:
        loop = asyncio.get_running_loop()
        started: list[float] = []
        readable: asyncio.Future[float] = loop.create_future()
        ours, theirs = socket.socketpair()
        ours.setblocking(False)

        def on_readable() -> None:
            if not readable.done():
                readable.set_result(time.monotonic())

        loop.add_reader(ours.fileno(), on_readable)

        async def run(sink: EventSink) -> None:
            started.append(time.monotonic())
            if len(started) == 1:
                theirs.send(b"x")  # DeepSeek's answer to the first call, arriving at once
            time.sleep(WORK_S)  # the rest of this turn's work up to its call
            sink.leased()
            await sink.emit([TextDelta("hi"), Completed("end_turn", TokenUsage(1, 1, 0))])

        drain = Drain()
        try:
            await asyncio.gather(
                *(_response(run, drain)({"type": "http"}, _never, _discard) for _ in range(count))
            )
        finally:
            loop.remove_reader(ours.fileno())
            ours.close()
            theirs.close()
        return started, readable.result()

    started, read_at = asyncio.run(asyncio.wait_for(main(), 30))
    assert len(started) == count
    # Before: every turn of the burst ran first, and the answer was read after the last one.
    assert read_at < started[-1], f"read {1000 * (read_at - started[0]):.0f} ms after the first turn started"
    assert read_at < started[1] + WORK_S, "the answer waited for more than one turn's work"


def test_a_lone_turn_starts_at_once_and_a_burst_one_per_turn_of_the_loop_in_order() -> None:
    async def main() -> None:
        admission = Admission()
        loop = asyncio.get_running_loop()
        turns = 0

        def count_turns() -> None:
            nonlocal turns
            turns += 1
            loop.call_soon(count_turns)

        loop.call_soon(count_turns)
        await asyncio.sleep(0)
        before = turns
        await admission.admit()  # nobody else: no wait at all
        assert turns == before

        await asyncio.sleep(0.01)  # a later turn of the loop: the admission is idle again
        order: list[tuple[int, int]] = []

        async def turn(number: int) -> None:
            await admission.admit()
            order.append((number, turns))

        await asyncio.gather(*(turn(n) for n in range(5)))
        assert [number for number, _ in order] == list(range(5))  # in the order they came
        seen = [at for _, at in order]
        assert len(set(seen)) == len(seen), f"two turns started in one turn of the loop: {seen}"

    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_waiter_that_leaves_is_passed_by_and_the_next_starts() -> None:
    async def main() -> None:
        admission = Admission()
        first, second, third = (asyncio.ensure_future(admission.admit()) for _ in range(3))
        await asyncio.sleep(0)  # all three asked in one turn of the loop: the first started
        assert first.done() and admission.waiting == 2
        second.cancel()  # its client left while it waited
        await asyncio.wait_for(third, 1)
        assert second.cancelled()
        assert admission.waiting == 0
        await asyncio.sleep(0.01)
        await asyncio.wait_for(admission.admit(), 0.01)  # idle again: at once

    asyncio.run(asyncio.wait_for(main(), 10))
