"""The event pipeline: small transducers between the decoded upstream stream and the dialects.

Each transducer takes a batch of events and gives back a batch; one that decides the answer must
end says why in ``stop`` (the turn then stops the upstream generation). Stop sequences and the
token budget live here now; the tool-call parser plugs in the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from deepseek_free_api.chat.events import ChatEvent, ReasoningDelta, StopReason, TextDelta

if TYPE_CHECKING:
    from deepseek_free_api.chat.request import ChatRequest
    from deepseek_free_api.chat.tools.parser import MalformedCalls, ToolCallParser


@dataclass(frozen=True, slots=True)
class Stop:
    """Why a transducer ended the answer early."""

    reason: StopReason
    sequence: str | None = None


class Transducer(Protocol):
    """One stage of the pipeline."""

    stop: Stop | None

    def feed(self, events: list[ChatEvent]) -> list[ChatEvent]:
        """Transform a batch; after ``stop`` is set nothing more is passed on."""
        ...

    def flush(self) -> list[ChatEvent]:
        """The end of the answer: release anything held back."""
        ...


class StopSequences:
    """Cuts the answer at the first stop sequence, also across pieces; reasoning is not searched.

    Text that may begin a stop sequence is held back until the next piece decides.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._longest = max((len(s) for s in self._stops), default=0)
        self._held = ""
        self.stop: Stop | None = None

    def feed(self, events: list[ChatEvent]) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        for event in events:
            if self.stop is not None:
                break
            if isinstance(event, TextDelta):
                self._text(event.text, out)
            else:
                out.append(event)
        return out

    def flush(self) -> list[ChatEvent]:
        held, self._held = self._held, ""
        return [TextDelta(held)] if held and self.stop is None else []

    def _text(self, text: str, out: list[ChatEvent]) -> None:
        buffer = self._held + text
        # Only the new text and what was held can hold a match: search no further back than that.
        hits = [(i, s) for s in self._stops if (i := buffer.find(s)) >= 0]
        if hits:
            cut, sequence = min(hits)
            self._held = ""
            if cut:
                out.append(TextDelta(buffer[:cut]))
            self.stop = Stop("stop_sequence", sequence)
            return
        keep = self._partial_suffix(buffer)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        if len(buffer) > keep:
            out.append(TextDelta(buffer[: len(buffer) - keep]))

    def _partial_suffix(self, buffer: str) -> int:
        """Length of the longest tail of ``buffer`` that is a proper prefix of a stop sequence."""
        tail = buffer[-(self._longest - 1) :] if self._longest > 1 else ""
        for size in range(len(tail), 0, -1):
            piece = tail[len(tail) - size :]
            if any(s.startswith(piece) for s in self._stops):
                return size
        return 0


class TokenBudget:
    """Ends the answer at ``max_tokens``, counting reasoning and answer together.

    That is how OpenAI's ``max_completion_tokens`` counts for reasoning models. Each piece is
    counted once as it passes (pieces are small); only the piece that crosses the budget is cut,
    by a binary search for its longest prefix that fits.
    """

    def __init__(self, max_tokens: int, count: Callable[[str], int]) -> None:
        self._remaining = max_tokens
        self._count = count
        self.stop: Stop | None = None

    def feed(self, events: list[ChatEvent]) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        for event in events:
            if self.stop is not None:
                break
            if isinstance(event, TextDelta | ReasoningDelta):
                text = self._take(event.text)
                if text:
                    out.append(type(event)(text))
            else:
                out.append(event)
        return out

    def flush(self) -> list[ChatEvent]:
        return []

    def _take(self, text: str) -> str:
        tokens = self._count(text)
        if tokens < self._remaining:
            self._remaining -= tokens
            return text
        if tokens == self._remaining:
            self._remaining = 0
            self.stop = Stop("max_tokens")
            return text
        low, high = 0, len(text)
        while low < high:
            mid = (low + high + 1) // 2
            if self._count(text[:mid]) <= self._remaining:
                low = mid
            else:
                high = mid - 1
        self._remaining = 0
        self.stop = Stop("max_tokens")
        return text[:low]


class Pipeline:
    """Transducers in order; a batch goes through all of them."""

    def __init__(
        self,
        stages: Sequence[Transducer],
        *,
        costly: Callable[[Sequence[object]], bool] | None = None,
        tools: ToolCallParser | None = None,
    ) -> None:
        self._stages = tuple(stages)
        self._costly = costly
        self.tools = tools  # the tool-call stage, when there is one: the turn reads what it rejected

    def costly(self, events: Sequence[object]) -> bool:
        """Whether ``events`` may make a stage work long enough to belong off the event loop
        (the tool-call stage checking a call against its schema)."""
        return self._costly is not None and self._costly(events)

    @classmethod
    def for_limits(
        cls, stops: Sequence[str], max_tokens: int | None, count: Callable[[str], int]
    ) -> Pipeline:
        """The stages a request's stop sequences and token limit need (none when it sets neither)."""
        stages: list[Transducer] = []
        if any(stops):
            stages.append(StopSequences(stops))
        if max_tokens is not None:
            stages.append(TokenBudget(max_tokens, count))
        return cls(stages)

    @classmethod
    def for_request(
        cls, request: ChatRequest, count: Callable[[str], int], *, malformed: MalformedCalls = "text"
    ) -> Pipeline:
        """The stages a request needs: the tool-call parser first (a stop sequence or the budget
        must not cut a call in half), then its stop sequences and token limit. ``malformed``: what
        the parser does with a call it cannot use (``chat.tools.parser``)."""
        limits = cls.for_limits(request.stop, request.max_tokens, count)._stages
        if not request.wants_tools:
            return cls(limits)
        from deepseek_free_api.chat.tools import ToolCallParser  # it builds on this module's Stop

        parser = ToolCallParser(
            request.tools,
            choice=request.tool_choice,
            parallel=request.parallel_tool_calls,
            malformed=malformed,
        )
        return cls((parser, *limits), costly=parser.may_resolve, tools=parser)

    @property
    def stop(self) -> Stop | None:
        """Why the answer ended early; a later stage's cut wins (it saw what the earlier let through)."""
        for stage in reversed(self._stages):
            if stage.stop is not None:
                return stage.stop
        return None

    def feed(self, events: list[ChatEvent]) -> list[ChatEvent]:
        """Run a batch through every stage; adjacent text pieces come out merged."""
        for stage in self._stages:
            events = stage.feed(events)
        return coalesce(events)

    def flush(self) -> list[ChatEvent]:
        """End of the answer: each stage's held-back text goes through the stages after it."""
        events: list[ChatEvent] = []
        for stage in self._stages:
            events = stage.feed(events) if events else []
            events += stage.flush()
        return coalesce(events)


def coalesce(events: list[ChatEvent]) -> list[ChatEvent]:
    """Merge adjacent answer pieces and adjacent reasoning pieces (one rendered chunk each)."""
    if len(events) < 2:
        return events
    out: list[ChatEvent] = []
    for event in events:
        last = out[-1] if out else None
        if isinstance(event, TextDelta) and isinstance(last, TextDelta):
            out[-1] = TextDelta(last.text + event.text)
        elif isinstance(event, ReasoningDelta) and isinstance(last, ReasoningDelta):
            out[-1] = ReasoningDelta(last.text + event.text)
        else:
            out.append(event)
    return out
