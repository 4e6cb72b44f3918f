"""One repair round for a tool call the model wrote wrong, in the same DeepSeek session.

A call that names an undeclared tool or misses a required parameter cannot be sent as it is, and
sent as text it ends an agent's turn with markup in the answer (opencode 1.18 printed it and did
nothing). So the first generation runs with ``malformed="repair"``: the first block without a usable
call ends the answer unsent (text before it has already gone out). One more generation then
continues the same session after that answer (in a new session with the whole conversation folded
in when sessions are deleted after each turn), with a user message saying what was wrong, as
``chat.structured`` repairs a JSON answer. Its events follow the first's in the same reply: one
conversation id (it moves on to the repair's message), both generations' usage.

The repair round runs with ``malformed="send"``: a call still malformed goes out as a tool call
anyway, so the agent reports the error to the model (OpenAI's non-strict function calling does the
same); a call naming an undeclared tool too, under the name written, since agents answer an unknown
tool with an error the model can act on. Markup naming no tool at all stays text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from deepseek_free_api.chat.conversations import Native
from deepseek_free_api.chat.events import ChatEvent, Completed, Started, TokenUsage
from deepseek_free_api.chat.request import ChatMessage, ChatRequest, ToolSpec
from deepseek_free_api.chat.tools.calls import Rejected
from deepseek_free_api.chat.tools.parser import MalformedCalls

if TYPE_CHECKING:
    from deepseek_free_api.chat.ports import EventSink, ReplyIds, TurnAccount

log = logging.getLogger(__name__)

_PROBLEMS_SHOWN = 5
_PROBLEM_CHARS = 800
_TOOLS_SHOWN = 40


@dataclass(frozen=True, slots=True)
class Unanswered:
    """A generation that ended at a block without a usable call: where it lives and what was wrong.

    ``written`` is the answer as the model wrote it, the block included; ``usage`` counts it too.
    """

    session_id: str
    message_id: int | None
    written: str
    rejected: tuple[Rejected, ...]
    usage: TokenUsage | None


class ToolRound(Protocol):
    """One generation of the turn (``TurnRunner``'s), reading calls as ``malformed`` says."""

    async def __call__(
        self,
        request: ChatRequest,
        account: TurnAccount,
        native: Native | None,
        sink: EventSink,
        ids: ReplyIds,
        malformed: MalformedCalls,
        /,
    ) -> Unanswered | None: ...


def repair_message(rejected: Sequence[Rejected], tools: Sequence[ToolSpec]) -> str:
    """The user message of the repair round."""
    problems = "; ".join(
        f"{f'{r.name!r}' if r.name else 'a call'}: {r.reason}" for r in rejected[:_PROBLEMS_SHOWN]
    )
    if len(problems) > _PROBLEM_CHARS:
        problems = problems[: _PROBLEM_CHARS - 3] + "..."
    names = ", ".join(tool.name for tool in tools[:_TOOLS_SHOWN])
    if len(tools) > _TOOLS_SHOWN:
        names += f" (and {len(tools) - _TOOLS_SHOWN} more)"
    return (
        f"Your tool call cannot be used: {problems}. The declared tools are: {names}. Write the tool "
        "call again, correctly and with every required parameter, in the same format; write only the "
        "call, without repeating what you wrote before it. If no declared tool fits, answer in text."
    )


async def answer_with_tools(
    generate: ToolRound,
    request: ChatRequest,
    account: TurnAccount,
    native: Native | None,
    sink: EventSink,
    ids: ReplyIds,
    *,
    native_repair: bool = True,
) -> None:
    """Run the turn with ``generate``; a malformed call gets one repair round (see the module doc)."""
    if not request.wants_tools:
        await generate(request, account, native, sink, ids, "text")
        return
    first = _Noting(sink)
    unanswered = await generate(request, account, native, first, ids, "repair")
    if unanswered is None:
        return
    log.info(
        "the model's tool call cannot be used (%s); one repair round",
        "; ".join(f"{r.name!r:.80}: {r.reason}" for r in unanswered.rejected[:_PROBLEMS_SHOWN]),
    )
    repair = replace(
        request,
        messages=(
            *request.messages,
            ChatMessage(role="assistant", text=unanswered.written),
            ChatMessage(role="user", text=repair_message(unanswered.rejected, request.tools)),
        ),
    )
    at = None
    if native_repair and unanswered.message_id is not None:
        at = Native(account.id, unanswered.session_id, unanswered.message_id)
    announced = first.started
    second = _Following(sink, announced=announced, earlier=unanswered.usage)
    moved = _Moved(ids, unanswered) if announced else ids
    await generate(repair, account, at, second, moved, "send")


class _Noting:
    """The first round's sink: passes everything on, noting whether a conversation id went out."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self.started = False

    async def emit(self, events: list[ChatEvent]) -> None:
        self.started |= any(isinstance(event, Started) for event in events)
        await self._sink.emit(events)

    def leased(self) -> None:
        self._sink.leased()


class _Following:
    """The repair round's sink: no second ``Started`` after the first's; usage of both rounds."""

    def __init__(self, sink: EventSink, *, announced: bool, earlier: TokenUsage | None) -> None:
        self._sink = sink
        self._announced = announced
        self._earlier = earlier

    async def emit(self, events: list[ChatEvent]) -> None:
        out: list[ChatEvent] = []
        for event in events:
            if isinstance(event, Started) and self._announced:
                continue  # the caller holds the first round's id; ``_Moved`` points it here
            if isinstance(event, Completed) and event.usage is not None and self._earlier is not None:
                event = replace(event, usage=self._earlier + event.usage)
            out.append(event)
        if out:
            await self._sink.emit(out)

    def leased(self) -> None:
        self._sink.leased()


class _Moved:
    """Reply ids for the repair round: the id the caller got for the first answer moves to the repair."""

    def __init__(self, ids: ReplyIds, first: Unanswered) -> None:
        self._ids = ids
        self._first = first

    async def format(self, session_id: str, message_id: int) -> str:
        first = self._first
        if first.message_id is not None and session_id == first.session_id:
            await self._ids.moved(session_id, first.message_id, message_id)
        return await self._ids.format(session_id, message_id)

    async def moved(self, session_id: str, old: int, new: int) -> None:
        await self._ids.moved(session_id, old, new)
