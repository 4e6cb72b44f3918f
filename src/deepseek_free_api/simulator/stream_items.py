"""The pieces a simulated completion stream is made of, shared by the three generations."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from .patch import Frame, frame
from .replies import ReplyPlan, TurnFacts

# The error frame that ends a broken generation (SRC-66610760905, 2026-09).
GENERATION_ERR = {
    "type": "error",
    "content": "Server is temporarily unavailable.",
    "finish_reason": "generation_err",
}
# Canned refusal that replaces a filtered answer (DS2-go sample content-filter-trigger-20260405).
TEMPLATE_REFUSAL = "Sorry, I can't answer that. Let's talk about something else."
_CLOSE = {"click_behavior": "none", "auto_resume": False}


@dataclass(frozen=True, slots=True)
class BodyFrame:
    """One ``data:`` frame: a patch (``explicit``) and/or a raw payload, adding ``chars`` of text.

    Generation 1 frames are raw chunks; their ``explicit`` patch only updates the simulator's
    own record of the message and is never sent.
    """

    explicit: Frame | None = None
    raw: Any = None
    chars: int = 0


@dataclass(frozen=True, slots=True)
class Named:
    """A named SSE event (``ready``, ``hint``, ``finish``, ``title``, ``close`` …)."""

    name: str
    data: Any


Item = BodyFrame | Named


@dataclass(frozen=True, slots=True)
class TurnIds:
    """Message ids of one generation."""

    request: int
    response: int


class StreamShape(Protocol):
    """How one stream generation spells a reply."""

    generation: int

    def head(self) -> list[Named]:
        """Events before the snapshot."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The response object at the start (sent as the first frame in generations 2 and 3)."""
        ...

    def body(self) -> list[BodyFrame]:
        """Content frames, in order."""
        ...

    def finished(self, usage: int) -> list[Item]:
        """The normal end."""
        ...

    def incomplete(self, usage: int) -> list[Item]:
        """The end of a generation that broke (status INCOMPLETE + generation_err)."""
        ...

    def filtered(self, usage: int) -> list[Item]:
        """The content-filter end."""
        ...


def chunks(text: str, size: int) -> list[str]:
    """``text`` cut into pieces of ``size`` characters (at least one piece)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def now_seconds() -> float:
    """Wall-clock time as upstream prints it (float seconds)."""
    return round(time.time(), 3)


@dataclass(frozen=True, slots=True)
class ShapeInput:
    """What every generation's builder needs."""

    ids: TurnIds
    plan: ReplyPlan
    facts: TurnFacts
    emit_finish: bool


# -- the endings generations 2 and 3 share; each passes its own usage frame ---------------------


def finished_end(data: ShapeInput, usage: Frame) -> list[Item]:
    """The normal end: usage, status FINISHED, ``finish`` (if configured), session, title, close."""
    items: list[Item] = [BodyFrame(usage), BodyFrame(frame("response/status", "SET", "FINISHED"))]
    if data.emit_finish:
        items.append(Named("finish", {}))
    items += [
        Named("update_session", {"updated_at": now_seconds()}),
        Named("title", {"content": data.plan.title}),
        Named("close", dict(_CLOSE)),
    ]
    return items


def incomplete_end(usage: Frame) -> list[Item]:
    """The end of a generation that broke: usage, status INCOMPLETE, generation_err, close."""
    return [
        BodyFrame(usage),
        BodyFrame(frame("response/status", "SET", "INCOMPLETE")),
        BodyFrame(raw=dict(GENERATION_ERR)),
        Named("close", dict(_CLOSE)),
    ]


def filtered_end(data: ShapeInput, frames: list[Frame]) -> list[Item]:
    """The content-filter end: the generation's ``frames``, ``finish`` (if configured), close."""
    items: list[Item] = [BodyFrame(f) for f in frames]
    if data.emit_finish:
        items.append(Named("finish", {}))
    items.append(Named("close", dict(_CLOSE)))
    return items
