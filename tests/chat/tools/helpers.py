"""Running the tool-call stage the way the turn does, and reading what a client would see."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepseek_free_api.chat.events import ChatEvent, ReasoningDelta, TextDelta, ToolCall
from deepseek_free_api.chat.pipeline import Stop, coalesce
from deepseek_free_api.chat.request import ToolChoice, ToolSpec
from deepseek_free_api.chat.tools import ToolCallParser

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tools"

WEATHER = ToolSpec(
    "get_weather",
    "Current weather",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
        "additionalProperties": False,
    },
)
WRITE = ToolSpec(
    "write_file",
    "Write a file",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
)
TOOLS = (WEATHER, WRITE)


def parser(
    tools: tuple[ToolSpec, ...] = TOOLS, choice: ToolChoice = "auto", parallel: bool = True
) -> ToolCallParser:
    """A parser whose ids count up (``call_0``, ``call_1``…), so runs compare equal."""
    counter = itertools.count()
    return ToolCallParser(tools, choice=choice, parallel=parallel, new_id=lambda: f"call_{next(counter)}")


@dataclass
class Outcome:
    """What came out: the events (adjacent text merged), the stop, and the stage itself."""

    events: list[ChatEvent]
    stop: Stop | None
    stage: ToolCallParser

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    @property
    def reasoning(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, ReasoningDelta))

    @property
    def calls(self) -> list[tuple[str, Any]]:
        return [(e.name, json.loads(e.arguments)) for e in self.events if isinstance(e, ToolCall)]


def run(
    pieces: list[str],
    *,
    reasoning: tuple[str, ...] = (),
    stage: ToolCallParser | None = None,
) -> Outcome:
    """Feed reasoning then answer pieces one event per batch, as the turn does; flush at the end."""
    stage = stage or parser()
    out: list[ChatEvent] = []
    batches: list[ChatEvent] = [ReasoningDelta(r) for r in reasoning]
    batches += [TextDelta(p) for p in pieces]
    for event in batches:
        out += stage.feed([event])
        if stage.stop is not None:
            break
    out += stage.flush()
    return Outcome(coalesce(out), stage.stop, stage)


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.txt"))


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
    return {"text": data[name]["text"], "calls": [tuple(call) for call in data[name]["calls"]]}
