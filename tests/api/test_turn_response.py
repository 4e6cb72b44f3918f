"""The runner behind every chat response keeps its turn-exit contract on plain asyncio tasks.

``TurnResponse`` (``api/edge.py``) does not return before the turn's clean-up has run, however
the response ends: the client leaves, the response itself is cancelled (a forced shutdown), or
the answer completes while the turn still tidies up. Driven here as the ASGI server drives it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
from starlette.types import Message

from deepseek_free_api.api.edge import Drain, TurnResponse
from deepseek_free_api.api.openai_chat import OpenAIChatDialect
from deepseek_free_api.api.openai_render import ChunkRenderer
from deepseek_free_api.chat.events import Completed, TextDelta, TokenUsage
from deepseek_free_api.chat.ports import EventSink


class Turn:
    """A turn that streams one batch, then waits (or completes), with a clean-up that takes time."""

    def __init__(self, *, complete: bool) -> None:
        self.complete = complete
        self.cleaned = False
        self.streamed = asyncio.Event()

    async def run(self, sink: EventSink) -> None:
        try:
            sink.leased()
            await sink.emit([TextDelta("hello")])
            self.streamed.set()
            if self.complete:
                await sink.emit([Completed("end_turn", TokenUsage(1, 1, 0))])
            else:
                await asyncio.sleep(60)
        finally:
            with anyio.CancelScope(shield=True):  # as the turn's ordered clean-up is
                await asyncio.sleep(0.05)
            self.cleaned = True


def _response(turn: Turn) -> TurnResponse:
    renderer = ChunkRenderer(
        model="deepseek-chat", reasoning_mode="reasoning_content", include_usage=False, sources_text=False
    )
    return TurnResponse(
        turn.run, OpenAIChatDialect(renderer), stream=True, keepalive_s=10, timeout_s=30, drain=Drain()
    )


class Client:
    """The ASGI side: what was sent, and a disconnect on demand."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def test_a_cancelled_response_waits_for_the_turns_clean_up() -> None:
    async def main() -> None:
        turn, client = Turn(complete=False), Client()
        task = asyncio.create_task(_response(turn)({"type": "http"}, client.receive, client.send))
        await turn.streamed.wait()
        task.cancel()
        await asyncio.sleep(0.01)  # it waits for the clean-up now; a second cancel must not cut that short
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert turn.cleaned, "the response returned before the turn's clean-up ended"
        assert task.cancelled()

    asyncio.run(main())


def test_a_client_leaving_ends_the_turn_before_the_response_returns() -> None:
    async def main() -> None:
        turn, client = Turn(complete=False), Client()
        task = asyncio.create_task(_response(turn)({"type": "http"}, client.receive, client.send))
        await turn.streamed.wait()
        client.gone.set()
        await asyncio.wait_for(task, 5)
        assert turn.cleaned
        bodies = b"".join(m.get("body", b"") for m in client.sent)
        assert b"hello" in bodies and b"[DONE]" not in bodies  # nothing is written after the client left

    asyncio.run(main())


def test_a_completed_answer_returns_only_after_the_turn_tidied_up() -> None:
    async def main() -> None:
        turn, client = Turn(complete=True), Client()
        await _response(turn)({"type": "http"}, client.receive, client.send)
        assert turn.cleaned
        last = client.sent[-1]
        assert last["body"].endswith(b"data: [DONE]\n\n") and not last["more_body"]

    asyncio.run(main())


class Flood:
    """A turn whose answer comes far faster than its client reads: 40,000 characters per batch."""

    def __init__(self) -> None:
        self.emitted = 0  # characters handed to the response

    async def run(self, sink: EventSink) -> None:
        sink.leased()
        for _ in range(200):
            await sink.emit([TextDelta("x" * 40_000)])
            self.emitted += 40_000
        await sink.emit([Completed("end_turn", TokenUsage(1, 1, 0))])


def test_a_client_that_stops_reading_stops_the_answer_within_a_bound_of_characters() -> None:
    async def main() -> None:
        flood, client = Flood(), Client()
        stalled = asyncio.Event()
        written = 0

        async def send(message: Message) -> None:  # a socket whose buffer filled: the write waits
            nonlocal written
            client.sent.append(message)
            written += len(message.get("body", b""))
            if written > 100_000:
                stalled.set()
                await client.gone.wait()  # as uvicorn's wait for the socket to drain ends on a disconnect

        response = TurnResponse(
            flood.run,
            OpenAIChatDialect(
                ChunkRenderer(
                    model="deepseek-chat",
                    reasoning_mode="reasoning_content",
                    include_usage=False,
                    sources_text=False,
                )
            ),
            stream=True,
            keepalive_s=10,
            timeout_s=30,
            drain=Drain(),
        )
        task = asyncio.create_task(response({"type": "http"}, client.receive, send))
        await stalled.wait()
        for _ in range(50):  # let the producer run as far as it is allowed to
            await asyncio.sleep(0.002)
        # Before, the channel held 64 batches whatever their size: 2.6 MB here.
        assert flood.emitted <= 400_000, (
            f"{flood.emitted} characters taken in for a client that reads nothing"
        )
        client.gone.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
