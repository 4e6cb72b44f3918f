"""Structured answers: reading an answer against the format, and the held-back turn with its repair."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest

from deepseek_free_api.chat.conversations import Native
from deepseek_free_api.chat.events import ChatEvent, Citation, Completed, ReasoningDelta, Started, TextDelta
from deepseek_free_api.chat.events import TokenUsage as Usage
from deepseek_free_api.chat.models import parse_model
from deepseek_free_api.chat.request import ChatMessage, ChatRequest, ResponseFormat
from deepseek_free_api.chat.structured import answer_in_format, format_instructions, read_answer
from deepseek_free_api.chat.turn import EventSink, ReplyIds, TurnAccount
from deepseek_free_api.errors import InvalidJsonOutputError

OBJECT = ResponseFormat("json_object")
PERSON = ResponseFormat(
    "json_schema",
    {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "role": {"enum": ["admin", "user"]},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
        },
        "required": ["name", "age"],
        "additionalProperties": False,
        "$defs": {"tag": {"type": "string"}},
    },
    name="person",
)


# -- reading an answer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        '{"name": "Ada", "age": 36}',
        '  {"name": "Ada", "age": 36}\n',
        '```json\n{"name": "Ada", "age": 36}\n```',
        '```\n{"name": "Ada", "age": 36}\n```',
        '```JSON\n{"name": "Ada", "age": 36}```',
    ],
)
def test_a_valid_answer_is_delivered_as_clean_json(answer: str) -> None:
    reading = read_answer(answer, PERSON)
    assert reading.text is not None and json.loads(reading.text) == {"name": "Ada", "age": 36}
    assert not reading.text.startswith("`")


def test_values_written_as_text_are_typed_as_the_schema_says() -> None:
    reading = read_answer('{"name": "Ada", "age": "36", "tags": ["x"]}', PERSON)
    assert reading.text is not None and json.loads(reading.text) == {"name": "Ada", "age": 36, "tags": ["x"]}


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("Sure! Here is the JSON you asked for.", "not valid JSON"),
        ('Here it is:\n```json\n{"name": "Ada", "age": 36}\n```', "not valid JSON"),
        ('{"name": "Ada", "age": 36,}', "not valid JSON"),
        ('{"name": "Ada", "age": NaN}', "NaN is not JSON"),
        ("", "empty"),
        ('{"name": "Ada"}', "age: is required"),
        ('{"name": "Ada", "age": "thirty"}', "age: expected integer, got 'thirty'"),
        ('{"name": "Ada", "age": 3, "role": "root"}', 'role: must be one of ["admin", "user"]'),
        ('{"name": "Ada", "age": 3, "extra": 1}', "extra: is not a known parameter"),
        ('{"name": "Ada", "age": 3, "tags": "x"}', "tags: expected array, got 'x'"),
        ('["Ada", 36]', "expected object"),
    ],
)
def test_an_answer_that_does_not_fit_says_why(answer: str, said: str) -> None:
    reading = read_answer(answer, PERSON)
    assert reading.text is None
    assert said in reading.problem


def test_json_object_wants_an_object_and_nothing_else() -> None:
    assert read_answer('{"a": [1, 2]}', OBJECT).text == '{"a": [1, 2]}'
    assert read_answer("[1, 2]", OBJECT).problem == "it is JSON, but an array, not an object"
    assert read_answer('"text"', OBJECT).text is None


def test_a_schema_without_constraints_takes_any_json_value() -> None:
    anything = ResponseFormat("json_schema", None, name="any")
    assert read_answer("[1, 2]", anything).text == "[1, 2]"
    assert read_answer("not json", anything).text is None


def test_the_instructions_carry_the_schema_compactly() -> None:
    text = format_instructions(PERSON)
    assert "one JSON value and nothing else" in text and '"person"' in text
    assert json.dumps(PERSON.schema, separators=(",", ":")) in text
    assert "one JSON object" in format_instructions(OBJECT)
    assert format_instructions(None) == ""


# -- the held-back turn and its repair ----------------------------------------------------------


@dataclass
class Account:
    id: str = "acct"
    token: str | None = "tok"
    device_id: str = "dev"
    proxy: str | None = None
    locale: str | None = None
    timezone_offset: int | None = None


@dataclass
class Ids:
    moves: list[tuple[str, int, int]] = field(default_factory=list)

    async def format(self, session_id: str, message_id: int) -> str:
        return f"{session_id}@{message_id}"

    async def moved(self, session_id: str, old: int, new: int) -> None:
        self.moves.append((session_id, old, new))


@dataclass
class Sink:
    events: list[ChatEvent] = field(default_factory=list)
    leases: int = 0

    async def emit(self, events: list[ChatEvent]) -> None:
        self.events += events

    def leased(self) -> None:
        self.leases += 1


@dataclass
class ScriptedTurns:
    """Generations answering the scripted texts in order, each as a new message in one session."""

    answers: list[str]
    stop: str = "end_turn"
    calls: list[tuple[ChatRequest, Native | None]] = field(default_factory=list)

    async def __call__(
        self,
        request: ChatRequest,
        account: TurnAccount,
        native: Native | None,
        sink: EventSink,
        ids: ReplyIds,
        /,
    ) -> None:
        self.calls.append((request, native))
        message_id = 2 * len(self.calls)
        answer = self.answers[len(self.calls) - 1]
        half = len(answer) // 2
        await sink.emit([Started(await ids.format("sess", message_id), account.id), ReasoningDelta("hmm")])
        await sink.emit(
            [TextDelta(answer[:half]), Citation("https://x.example", "x", 1), TextDelta(answer[half:])]
        )
        await sink.emit([Completed(self.stop, Usage(10, 5, 1))])  # type: ignore[arg-type]


def request(response_format: ResponseFormat | None = PERSON) -> ChatRequest:
    return ChatRequest(
        model=parse_model("deepseek-chat"),
        messages=(ChatMessage(role="user", text="Who is Ada?"),),
        response_format=response_format,
    )


def run(turns: ScriptedTurns, chat: ChatRequest, *, native_repair: bool = True) -> list[ChatEvent]:
    sink = Sink()
    asyncio.run(answer_in_format(turns, chat, Account(), None, sink, Ids(), native_repair=native_repair))
    return sink.events


def texts(events: list[ChatEvent]) -> list[str]:
    return [event.text for event in events if isinstance(event, TextDelta)]


def test_a_valid_answer_goes_out_in_one_piece_without_citation_markers() -> None:
    turns = ScriptedTurns(['```json\n{"name": "Ada", "age": 36}\n```'])
    events = run(turns, request())
    assert len(turns.calls) == 1
    assert texts(events) == ['{"name": "Ada", "age": 36}']
    assert not any(isinstance(event, Citation) for event in events)
    assert events[0] == Started("sess@2", "acct") and events[-1] == Completed("end_turn", Usage(10, 5, 1))


def test_an_invalid_answer_gets_one_repair_turn_in_the_same_session() -> None:
    turns = ScriptedTurns(['{"name": "Ada", "age": "thirty-six"}', '{"name": "Ada", "age": 36}'])
    events = run(turns, request())
    assert len(turns.calls) == 2
    repair, native = turns.calls[1]
    assert native == Native("acct", "sess", 2)  # continues after the first answer
    assert repair.messages[-2] == ChatMessage(role="assistant", text='{"name": "Ada", "age": "thirty-six"}')
    assert "age: expected integer, got 'thirty-six'" in repair.messages[-1].text
    assert texts(events) == ['{"name": "Ada", "age": 36}']
    assert events[0] == Started("sess@4", "acct")  # the caller continues after the repaired answer
    assert events[-1] == Completed("end_turn", Usage(20, 10, 2))  # both turns counted
    assert sum(isinstance(event, ReasoningDelta) for event in events) == 1


def test_without_native_sessions_the_repair_folds_the_whole_conversation() -> None:
    turns = ScriptedTurns(["no", '{"name": "Ada", "age": 36}'])
    run(turns, request(), native_repair=False)
    repair, native = turns.calls[1]
    assert native is None and [m.role for m in repair.messages] == ["user", "assistant", "user"]


def test_an_answer_invalid_twice_is_a_clear_error() -> None:
    turns = ScriptedTurns(["I think Ada is a person.", '{"name": "Ada"}'])
    with pytest.raises(InvalidJsonOutputError) as caught:
        run(turns, request())
    assert "after one repair round" in caught.value.message
    assert "age: is required" in caught.value.message
    assert len(turns.calls) == 2


def test_an_answer_cut_by_max_tokens_goes_out_unchecked_with_its_reason() -> None:
    turns = ScriptedTurns(['{"name": "Ad'], stop="max_tokens")
    events = run(turns, request())
    assert len(turns.calls) == 1
    assert "".join(texts(events)) == '{"name": "Ad' and isinstance(events[-1], Completed)
    assert events[-1].stop == "max_tokens"


def test_without_a_format_events_pass_as_they_come() -> None:
    turns = ScriptedTurns(["plain text"])
    events = run(turns, request(None))
    assert texts(events) == ["plain", " text"] and any(isinstance(event, Citation) for event in events)


def test_the_repair_continues_after_the_message_an_answer_moved_to() -> None:
    class MovingTurns(ScriptedTurns):
        async def __call__(
            self,
            request: ChatRequest,
            account: TurnAccount,
            native: Native | None,
            sink: EventSink,
            ids: ReplyIds,
            /,
        ) -> None:
            await super().__call__(request, account, native, sink, ids)
            if len(self.calls) == 1:
                await ids.moved("sess", 2, 3)  # chat/continue went on under message 3

    outer = Ids()
    turns = MovingTurns(["oops", '{"name": "Ada", "age": 36}'])
    asyncio.run(answer_in_format(turns, request(), Account(), None, Sink(), outer))
    assert turns.calls[1][1] == Native("acct", "sess", 3)
    assert outer.moves == [("sess", 2, 3)]  # the conversation book hears of the move too
