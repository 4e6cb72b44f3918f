"""Running one generation: frames out at the configured pace, faults applied, account freed.

The response tree of the assistant message is updated by applying every frame that is sent,
so ``history_messages`` and ``chat/continue`` see exactly what the client was told.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, replace

from . import patch
from .faults import Fault
from .replies import ReplyPlan, filler
from .sse import DroppedConnection, EventStream, encode, split_inside_character
from .state import Account, Generation, Message
from .stream_gen3 import Gen3Shape
from .stream_items import BodyFrame, Item, Named, ShapeInput, StreamShape, TurnIds
from .stream_legacy import Gen1Shape, Gen2Shape


def build_shape(message: Message, emit_finish: bool) -> StreamShape:
    """The stream builder of an assistant ``message``: its plan and facts, in its generation."""
    assert message.plan is not None and message.facts is not None
    ids = TurnIds(request=message.parent_id or 0, response=message.message_id)
    data = ShapeInput(ids, message.plan, message.facts, emit_finish)
    if message.generation == 1:
        return Gen1Shape(data)
    if message.generation == 2:
        return Gen2Shape(data)
    return Gen3Shape(data)


def plan_with_fault(plan: ReplyPlan, fault: Fault | None) -> ReplyPlan:
    """Reply changes some faults need (a > 1 MB line, a multi-byte character to split)."""
    if fault is None:
        return plan
    if fault.name == "long_line":
        size = int(fault.number("chars", 1_100_000))
        pacing = replace(plan.pacing, chunk_chars=size * 2)
        return replace(plan, answer=plan.answer + " " + filler(size), pacing=pacing)
    if fault.name == "utf8_split":
        return replace(plan, answer=plan.answer + " 你好，世界")
    return plan


@dataclass
class StreamRun:
    """One stream of one generation (fresh or continued).

    When the client leaves before the end, the generation goes on without it, as upstream's does
    (PROTOCOL.md §4.4): the account stays busy until ``chat/stop_stream`` or until the rest of the
    reply would have been generated at its pacing, capped by ``busy_cap`` seconds (None = no cap).
    One timer per such generation ends it; the record then holds the whole reply, or stays
    INCOMPLETE where the cap cut it short.
    """

    account: Account
    generation: Generation
    message: Message
    shape: StreamShape
    start: int  # first body frame to send (0, or where a continue resumes)
    cut_after: int  # characters after which the delivery breaks INCOMPLETE (0 = never)
    fault: Fault | None
    busy_cap: float | None
    prompt_chars: int
    done: bool = False  # every frame of the stream was produced
    body_started: bool = False  # past the head and the first-token wait

    def response(self) -> EventStream:
        """The HTTP response that runs this stream."""
        plan = self.message.plan
        latency = plan.pacing.latency_ms / 1000 if plan else 0.0
        events = self._events()
        if self.fault is not None and self.fault.name == "utf8_split":
            events = split_writes(events)
        return EventStream(events, latency=latency, on_end=self._end)

    def _end(self, completed: bool) -> None:
        # ``completed`` cannot tell a client that left: Starlette returns normally after it sees
        # ``http.disconnect`` (ASGI spec < 2.4), so ``done`` says whether the stream reached its end.
        gen = self.generation
        if self.account.generation is not gen or gen.stopped or self.done:
            self._close_record()
            if self.account.generation is gen:
                self.account.generation = None
            return
        frames, _ = self._rest()
        remaining = self._seconds_for(frames)
        hold = remaining if self.busy_cap is None else min(remaining, self.busy_cap)
        cut_short = hold < remaining
        if hold <= 0:
            self._finish(cut_short)
        else:
            gen.generate_on(hold, lambda: self._finish(cut_short))

    def _finish(self, cut_short: bool) -> None:
        """The generation without a client ends: free the account and settle the record."""
        if self.account.generation is not self.generation:
            return  # stopped or released meanwhile
        self.account.generation = None
        self.generation.stop()
        if cut_short:
            self._close_record()
        else:
            self._complete_record()

    def _close_record(self) -> None:
        response = self.message.tree.get("response")
        if isinstance(response, dict) and response.get("status") == "WIP":
            response["status"] = "INCOMPLETE"

    def _seconds_for(self, frames: list[BodyFrame]) -> float:
        """How long upstream takes to generate ``frames`` at the reply's pacing."""
        assert self.message.plan is not None
        pacing = self.message.plan.pacing
        seconds = 0.0 if self.body_started else pacing.first_token_ms / 1000
        if pacing.chunks_per_second > 0:
            seconds += sum(1 for f in frames if f.chars) / pacing.chunks_per_second
        return seconds

    def _rest(self) -> tuple[list[BodyFrame], list[Item]]:
        """The body frames not sent yet and the ending they lead to (the scripted end)."""
        body = self.shape.body()
        done = self.message.delivered
        chars = sum(f.chars for f in body[:done])
        for index in range(done, len(body)):
            chars += body[index].chars
            if self.cut_after and chars >= self.cut_after and index + 1 < len(body):
                return body[done : index + 1], self.shape.incomplete(self._usage(chars))
        return body[done:], self._ending(chars)

    def _complete_record(self) -> None:
        """Bring the message record to the scripted end without sending anything."""
        frames, ending = self._rest()
        for item in [*frames, *ending]:
            if isinstance(item, BodyFrame) and item.explicit is not None:
                patch.apply(self.message.tree, item.explicit, patch.Sticky())
        self.message.delivered += len(frames)

    def _ending(self, chars: int) -> list[Item]:
        assert self.message.plan is not None
        usage = self._usage(chars)
        return self.shape.filtered(usage) if self.message.plan.content_filter else self.shape.finished(usage)

    def _usage(self, chars: int) -> int:
        return (self.prompt_chars + chars) // 4 + 10

    async def _events(self) -> AsyncGenerator[bytes, None]:
        shape, message = self.shape, self.message
        assert message.plan is not None
        pacing = message.plan.pacing
        sticky = patch.Sticky()
        for event in shape.head():
            yield encode(event.data, event.name)
        if pacing.first_token_ms > 0:
            await asyncio.sleep(pacing.first_token_ms / 1000)
        # start_reply put the initial snapshot in the tree; a continue finds what was sent before.
        snapshot = {"response": patch.deep_copy(message.tree["response"])}
        snapshot["response"]["status"] = "WIP"
        message.tree = patch.deep_copy(snapshot)
        self.body_started = True
        if shape.generation >= 2:
            yield encode(patch.compress({"p": "", "o": "SET", "v": snapshot}, sticky))
        body = shape.body()
        delay = 1 / pacing.chunks_per_second if pacing.chunks_per_second > 0 else 0.0
        chars = sum(f.chars for f in body[: self.start])
        sent = 0
        ending: list[Item] | None = None
        for index in range(self.start, len(body)):
            if self.generation.stopped:
                return
            frame = body[index]
            if chunk := self._send(frame, sticky):
                yield chunk
            message.delivered = index + 1
            chars += frame.chars
            sent += 1
            async for extra in self._after_frame(sent):
                yield extra
            if delay and frame.chars:
                await asyncio.sleep(delay)
            if self.cut_after and chars >= self.cut_after and index + 1 < len(body):
                ending = shape.incomplete(self._usage(chars))
                break
        if self.generation.stopped:
            return
        if self.account.generation is self.generation:
            # DeepSeek's generation ends with its last token: the account takes a new completion
            # while the closing frames (status, title, close) are still on their way. Freed only
            # after them, a server that released its lease on reading them could see a second
            # server's request refused as "generating" and counted as a violation.
            self.account.generation = None
        for item in self._ending(chars) if ending is None else ending:
            if isinstance(item, Named):
                yield encode(item.data, item.name)
            elif chunk := self._send(item, sticky):
                yield chunk
        self.done = True

    async def _after_frame(self, sent: int) -> AsyncIterator[bytes]:
        fault = self.fault
        if fault is None:
            return
        if fault.name == "stall" and sent == 1:
            await asyncio.sleep(fault.number("seconds", 2.0))
        elif fault.name == "malformed_sse" and sent == 1:
            yield b'data: {"p":"response/fragments/-1/content","v":"unterminated\n\n'
        elif fault.name == "drop_mid_stream" and sent >= fault.number("after", 2):
            raise DroppedConnection("drop_mid_stream fault")

    def _send(self, frame: BodyFrame, sticky: patch.Sticky) -> bytes:
        if frame.explicit is not None:
            patch.apply(self.message.tree, frame.explicit, patch.Sticky())
        if frame.raw is not None:
            return encode(frame.raw)
        if frame.explicit is None or self.shape.generation < 2:
            return b""  # generation 1 patches only keep the simulator's record up to date
        return encode(patch.compress(frame.explicit, sticky))


async def split_writes(source: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    """The utf8_split fault: every event goes out in two writes cut inside a character."""
    async with aclosing(source):
        async for chunk in source:
            head, tail = split_inside_character(chunk)
            yield head
            await asyncio.sleep(0)
            if tail:
                yield tail
