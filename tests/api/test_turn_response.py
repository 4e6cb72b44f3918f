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
