"""Structured answers (``response_format`` json_object / json_schema) from a chat with no JSON mode.

DeepSeek's web chat cannot constrain what the model writes, so a structured answer is asked for,
checked and, once, repaired:

* ``format_instructions``: the model is told to answer with only a JSON value (and the schema,
  compact); the turn puts this before the conversation, after any tool instructions.
* ``read_answer``: the finished answer, without a ```json fence around the whole of it, must parse
  as strict JSON: an object for json_object, valid against the schema for json_schema. The schema
  is checked by the tool-call code's validator (``chat.tools.schema``: types, enum/const,
  properties/required, additionalProperties false, items, anyOf/oneOf/allOf, local $ref, nullable;
  not lengths, ranges, patterns or formats), which also converts values the model wrote as text
  where the schema says what they are (``"3"`` -> ``3``), as for tool arguments.
* ``answer_in_format``: the turn's events are held back until the answer is checked. JSON cannot
  be checked before it is complete, and an invalid answer half sent could not be taken back, so a
  stream sends keep-alives meanwhile and then the checked answer in one piece. An invalid answer
  gets one repair turn in the same session (a native continuation, saying what was wrong); the
  caller gets the repaired answer, its conversation id and both turns' usage, or, if the repair
  fails too, ``InvalidJsonOutputError``, never an invalid answer. Answers that did not end by
  themselves (max_tokens, a stop sequence, a tool call, the content filter) go out unchecked: their
  finish reason says so, as with OpenAI's JSON mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Protocol

import anyio

from deepseek_free_api.chat.conversations import Native
from deepseek_free_api.chat.events import ChatEvent, Citation, Completed, TextDelta, TokenUsage
from deepseek_free_api.chat.request import ChatMessage, ChatRequest, ResponseFormat
from deepseek_free_api.chat.tools.schema import conform
from deepseek_free_api.errors import InvalidJsonOutputError
from deepseek_free_api.json_text import JsonTooDeepError, parse_json

if TYPE_CHECKING:
    from deepseek_free_api.chat.turn import EventSink, ReplyIds, TurnAccount

# A fence around the whole answer; the model adds one although told not to.
_FENCE = re.compile(r"\A```[ \t]*(?:json)?[ \t]*\n?(?P<body>.*?)\n?[ \t]*```\Z", re.DOTALL | re.IGNORECASE)
_PROBLEMS_SHOWN = 5
_PROBLEM_CHARS = 600
CHECK_TIME_LIMIT_S = 2.0

_RULES = (
    "no words before or after it, no Markdown code fence, no comments. It must parse with a strict "
    "JSON parser: double-quoted keys and strings, no trailing commas, no NaN or Infinity."
)


class Generate(Protocol):
    """One generation of the turn (``TurnRunner``'s): events to ``sink``, the last one ``Completed``."""

    async def __call__(
        self,
        request: ChatRequest,
        account: TurnAccount,
        native: Native | None,
        sink: EventSink,
        ids: ReplyIds,
        /,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Reading:
    """An answer read against the format: ``text`` is the JSON to deliver, None when it does not fit."""

    text: str | None
    problem: str = ""


def format_instructions(response_format: ResponseFormat | None) -> str:
    """The prompt text asking for the format ("" without one)."""
    if response_format is None:
        return ""
    if response_format.kind == "json_object":
        return f"## Answer format\n\nAnswer with one JSON object and nothing else: {_RULES}"
    text = f"## Answer format\n\nAnswer with one JSON value and nothing else: {_RULES}"
    if not response_format.schema:
        return text
    named = f' "{response_format.name}"' if response_format.name else ""
    about = f" ({response_format.description})" if response_format.description else ""
    schema = json.dumps(response_format.schema, ensure_ascii=False, separators=(",", ":"))
    return f"{text}\nThe value must be valid against this JSON schema{named}{about}:\n{schema}"


def repair_message(problem: str) -> str:
    """The user message of the repair turn."""
    return (
        f"Your previous answer cannot be used: {problem}. Answer again with only the corrected JSON, "
        "nothing else."
    )


def read_answer(
    answer: str, response_format: ResponseFormat, *, time_limit_s: float | None = None
) -> Reading:
    """Check a finished answer against the format; see the module docstring."""
    text = answer.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group("body").strip()
    if not text:
        return Reading(None, "it is empty")
    try:
        value = parse_json(text, parse_constant=_no_constant)
    except JsonTooDeepError as exc:
        return Reading(None, f"it is not valid JSON here ({exc})")
    except ValueError as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return Reading(None, f"it is not valid JSON ({reason}{where})")
    if response_format.kind == "json_object":
        if not isinstance(value, dict):
            return Reading(None, f"it is JSON, but {_kind(value)}, not an object")
        return Reading(text)
    if response_format.schema is None:
        return Reading(text)
    converted, errors = conform(value, response_format.schema, time_limit_s=time_limit_s)
    if errors:
        return Reading(None, f"it does not match the schema: {_summary(errors)}")
    if _dumps(converted) != _dumps(value):
        return Reading(_dumps(converted))  # values the model wrote as text, typed as the schema says
    return Reading(text)


async def answer_in_format(
    generate: Generate,
    request: ChatRequest,
    account: TurnAccount,
    native: Native | None,
    sink: EventSink,
    ids: ReplyIds,
    *,
    native_repair: bool = True,
) -> None:
    """Run the turn with ``generate``, holding its events until the answer fits the format.

    ``native_repair`` = False folds the whole conversation into a new session for the repair turn
    (when sessions are deleted after each turn, the first one is gone by then).
    """
    response_format = request.response_format
    if response_format is None:
        await generate(request, account, native, sink, ids)
        return
    first, where = _Held(sink), _Where(ids)
    await generate(request, account, native, first, where)
    reading = await _read(first, response_format)
    if reading is None or reading.text is not None:
        await sink.emit(first.delivered(reading))
        return
    repair = replace(
        request,
        messages=(
            *request.messages,
            ChatMessage(role="assistant", text=first.answer),
            ChatMessage(role="user", text=repair_message(reading.problem)),
        ),
    )
    at = Native(account.id, *where.at) if native_repair and where.at is not None else None
    second = _Held(sink)
    await generate(repair, account, at, second, ids)
    retry = await _read(second, response_format)
    if retry is not None and retry.text is None:
        raise InvalidJsonOutputError(
            "the model's answer is not the JSON that response_format asks for, also after one repair "
            f"round: {retry.problem}"
        )
    await sink.emit(second.delivered(retry, earlier=first.usage))


async def _read(held: _Held, response_format: ResponseFormat) -> Reading | None:
    """The answer read against the format; None when it did not end by itself (not checked).

    Parsing a long answer and checking it against the schema is CPU work, so it runs in a worker
    thread, within ``CHECK_TIME_LIMIT_S`` (the schema check's step budget bounds it as well).
    """
    completed = held.completed
    if completed is None or completed.stop != "end_turn":
        return None
    read = partial(read_answer, held.answer, response_format, time_limit_s=CHECK_TIME_LIMIT_S)
    return await anyio.to_thread.run_sync(read)


class _Held:
    """A sink that keeps one generation's events until its answer is checked."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self.events: list[ChatEvent] = []

    async def emit(self, events: list[ChatEvent]) -> None:
        self.events += events

    def leased(self) -> None:
        self._sink.leased()  # keep-alives may flow while the answer is held

    @property
    def completed(self) -> Completed | None:
        last = self.events[-1] if self.events else None
        return last if isinstance(last, Completed) else None

    @property
    def usage(self) -> TokenUsage | None:
        completed = self.completed
        return completed.usage if completed is not None else None

    @property
    def answer(self) -> str:
        return "".join(event.text for event in self.events if isinstance(event, TextDelta))

    def delivered(self, reading: Reading | None, *, earlier: TokenUsage | None = None) -> list[ChatEvent]:
        """The events for the caller: the checked JSON as one text piece, usage of every turn."""
        out: list[ChatEvent] = []
        placed = False
        for event in self.events:
            if reading is not None and reading.text is not None and isinstance(event, TextDelta | Citation):
                # One piece where the text began; citation markers would break the JSON.
                if isinstance(event, TextDelta) and not placed:
                    out.append(TextDelta(reading.text))
                    placed = True
            elif isinstance(event, Completed) and earlier is not None and event.usage is not None:
                out.append(replace(event, usage=earlier + event.usage))
            else:
                out.append(event)
        return out


class _Where:
    """Reply ids that also note where the generation's answer lives (session, message id)."""

    def __init__(self, ids: ReplyIds) -> None:
        self._ids = ids
        self.at: tuple[str, int] | None = None

    async def format(self, session_id: str, message_id: int) -> str:
        self.at = (session_id, message_id)
        return await self._ids.format(session_id, message_id)

    async def moved(self, session_id: str, old: int, new: int) -> None:
        self.at = (session_id, new)
        await self._ids.moved(session_id, old, new)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _summary(errors: Sequence[str]) -> str:
    text = "; ".join(errors[:_PROBLEMS_SHOWN])
    if len(errors) > _PROBLEMS_SHOWN:
        text += f" (and {len(errors) - _PROBLEMS_SHOWN} more)"
    return text if len(text) <= _PROBLEM_CHARS else text[: _PROBLEM_CHARS - 3] + "..."


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
