"""The tool-call stage of the event pipeline: tool markup in the answer becomes ``ToolCall`` events.

Whatever the prompt asked for, every markup DeepSeek writes is read (``markup``): DSML with either
bar, the V3 markers, and their near misses. Text that may begin a block is held back and nothing
else, so markup never reaches the visible answer however the stream is split; Markdown code is
only text. Each call is checked against the declared tools and its schema (``calls``); several calls
in one block, or blocks one after the other, are parallel calls.

The answer ends with the calls: once a block has given calls, the first text that is not another
block sets ``stop`` to ``tool_use`` (the turn then stops the generation, so the model cannot go on to
invent the results); at the end of the answer ``flush`` does the same. When the answer is empty,
calls the model wrote only in its reasoning (the last usable block there) are the answer's calls.

A block that gives no usable call (``rejected`` says why) is handled as ``malformed`` says:

* ``"text"``: it is text after all and goes out as written;
* ``"repair"``: it ends the answer unsent, kept in ``unusable`` for a repair round (``chat.tools.repair``);
* ``"send"`` (the repair round): each of its calls that names a tool goes out as a call anyway, with
  what could be read of its arguments, so the agent reports the error to the model, as with OpenAI's
  non-strict function calling; a tool that was not declared too (agents answer "no such tool").

Every decision is logged at debug level with the tool's name and the reason, never the arguments.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from deepseek_free_api.chat.events import ChatEvent, ReasoningDelta, TextDelta, ToolCall
from deepseek_free_api.chat.pipeline import Stop
from deepseek_free_api.chat.request import NamedToolChoice, ToolChoice, ToolSpec
from deepseek_free_api.chat.tools.calls import Rejected, Resolved, ToolBox
from deepseek_free_api.chat.tools.scanner import Block, MarkupScanner, Piece

log = logging.getLogger(__name__)

MalformedCalls = Literal["text", "repair", "send"]
_NAME_LOGGED = 80


@dataclass(frozen=True, slots=True)
class Unusable:
    """The block that ended an answer without a usable call (``malformed="repair"``): its text and why."""

    raw: str
    rejected: tuple[Rejected, ...]


def new_call_id() -> str:
    """A fresh call id in OpenAI's style (``call_`` and 24 hex digits)."""
    return "call_" + secrets.token_hex(12)


class ToolCallParser:
    """Pipeline stage turning tool markup in the answer into ``ToolCall`` events (see the module doc).

    ``choice`` narrows the usable tools to the named one; ``parallel=False`` keeps only the first
    call. ``new_id`` makes the call ids (dialects may want their own prefix). ``malformed``: see the
    module doc.
    """

    def __init__(
        self,
        tools: Sequence[ToolSpec],
        *,
        choice: ToolChoice = "auto",
        parallel: bool = True,
        new_id: Callable[[], str] = new_call_id,
        malformed: MalformedCalls = "text",
    ) -> None:
        named = [choice.name] if isinstance(choice, NamedToolChoice) else None
        self._toolbox = ToolBox(tools, [] if choice == "none" else named)
        self._parallel = parallel
        self._new_id = new_id
        self._malformed = malformed
        self._scanner = MarkupScanner()
        self._reasoning: list[str] | None = []  # kept while the answer is still empty
        self._reasoning_marked = False  # the kept reasoning has a "<": flush may find calls in it
        self.calls: list[ToolCall] = []
        self.rejected: list[Rejected] = []
        self.unusable: Unusable | None = None
        self.stop: Stop | None = None

    def feed(self, events: list[ChatEvent]) -> list[ChatEvent]:
        """Answer text is scanned; reasoning passes (and is kept while the answer is empty)."""
        out: list[ChatEvent] = []
        for event in events:
            if self.stop is not None:
                break
            if isinstance(event, TextDelta):
                self._take(self._scanner.feed(event.text), out)
            else:
                if isinstance(event, ReasoningDelta) and self._reasoning is not None:
                    self._reasoning.append(event.text)
                    self._reasoning_marked |= "<" in event.text
                out.append(event)
        return out

    def may_resolve(self, events: Sequence[object]) -> bool:
        """Whether feeding ``events`` (and the flush after them) may check calls against schemas.

        Every block begins with ``<`` and only held text or kept reasoning can complete one, so a
        batch without ``<`` while nothing is held checks no call (``Reader`` runs the rest in a
        worker thread). A wrong answer costs time, never correctness: checking is bounded anyway.
        """
        if self._scanner.holding or (self._reasoning is not None and self._reasoning_marked):
            return True
        return any(isinstance(event, TextDelta | ReasoningDelta) and "<" in event.text for event in events)

    def flush(self) -> list[ChatEvent]:
        """The end of the answer: held text goes out, a cut block is read, calls end the answer."""
        if self.stop is not None:
            return []
        out: list[ChatEvent] = []
        self._take(self._scanner.finish(), out)
        if self.stop is None and not self.calls and self._reasoning:
            self._calls_in_reasoning(out)
        if self.calls and self.stop is None:
            self.stop = Stop("tool_use")
        return out

    def _take(self, pieces: list[Piece], out: list[ChatEvent]) -> None:
        for piece in pieces:
            if self.stop is not None:
                return
            if isinstance(piece, Block):
                self._block(piece, out)
            elif self.calls:
                if piece.strip():
                    self.stop = Stop("tool_use")  # text after the calls: the answer is over
            else:
                if piece.strip():
                    self._reasoning = None
                out.append(TextDelta(piece))

    def _block(self, block: Block, out: list[ChatEvent]) -> None:
        found, rejected = self._read(block)
        self.rejected += rejected
        if not found:
            if self.calls:
                self.stop = Stop("tool_use")  # an unusable block after the calls ends the answer too
            elif rejected and self._malformed == "repair":
                # Ends the answer like a call would; the turn asks the model to write it again.
                self.unusable = Unusable(block.raw, tuple(rejected))
                self.stop = Stop("tool_use")
                log.debug("tool-call block unusable: asking for a repair round")
            else:
                self._reasoning = None
                out.append(TextDelta(block.raw))
                if rejected:
                    log.debug("tool-call block unusable: passed on as text")
            return
        self._reasoning = None
        self._emit(found, out)

    def _emit(self, found: list[Resolved], out: list[ChatEvent]) -> None:
        for index, resolved in enumerate(found):
            call = ToolCall(self._new_id(), resolved.name, resolved.arguments_json)
            self.calls.append(call)
            out.append(call)
            if not self._parallel:
                for extra in found[index + 1 :]:
                    log.debug("tool call %s: dropped, parallel tool calls are off", _logged(extra.name))
                    self.rejected.append(Rejected(extra.name, "parallel tool calls are off"))
                self.stop = Stop("tool_use")
                return

    def _read(self, block: Block) -> tuple[list[Resolved], list[Rejected]]:
        found: list[Resolved] = []
        rejected: list[Rejected] = []
        for markup in block.calls:
            result = self._toolbox.resolve(markup)
            if isinstance(result, Resolved):
                log.debug("tool call %s: accepted", _logged(result.name))
                found.append(result)
                continue
            rejected.append(result)
            if self._malformed == "send" and result.name is not None:
                log.debug("tool call %s: sent although %s", _logged(result.name), result.reason)
                found.append(Resolved(result.name, result.arguments or {}))
            else:
                log.debug("tool call %s: rejected, %s", _logged(result.name), result.reason)
        if not block.complete:
            log.debug("tool-call block: the answer ended inside it")
            rejected.append(Rejected(None, "the answer ended inside a tool call"))
        return found, rejected

    def _calls_in_reasoning(self, out: list[ChatEvent]) -> None:
        scanner = MarkupScanner()
        pieces = scanner.feed("".join(self._reasoning or ())) + scanner.finish()
        self._reasoning = None
        for block in reversed([piece for piece in pieces if isinstance(piece, Block)]):
            found, rejected = self._read(block)
            if found:
                self.rejected += rejected
                self._emit(found, out)
                return


def _logged(name: str | None) -> str:
    """A written tool name for the log: quoted, clipped (the model may write anything there)."""
    if name is None:
        return "(no name)"
    return repr(name if len(name) <= _NAME_LOGGED else name[: _NAME_LOGGED - 3] + "...")
