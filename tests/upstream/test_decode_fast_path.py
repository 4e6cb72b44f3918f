"""The decoder's fast path for text frames gives exactly the events of the general path.

``StreamDecoder()`` takes a shortcut for ``{"v": "text"}`` frames and reads only the grown text
when that is all that changed; ``StreamDecoder(fast=False)`` reads every frame the general way.
A user must not be able to tell them apart: the same events, split the same way, the same
message ids, finish and skipped frames, for recorded streams, the simulator's three stream
generations over a real socket, and random streams full of odd frames, however the bytes arrive.
The SSE reader's inlined line handling is checked the same way against its per-line rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepseek_free_api.simulator.config import VersionRule
from deepseek_free_api.upstream.decoder import StreamDecoder
from deepseek_free_api.upstream.events import ReasoningDelta, SearchResults, StreamEvent
from deepseek_free_api.upstream.sse import SSEEvent, SSEReader
from tests.simulator.client import Sim
from tests.simulator.conftest import running, test_config
from tests.upstream.test_decoder import feed_rounds, split

STREAMS = Path(__file__).resolve().parents[1] / "fixtures" / "streams"
CASES = sorted(path.name.removesuffix(".expected.json") for path in STREAMS.glob("*.expected.json"))


def decoded(rounds: list[list[bytes]], *, fast: bool) -> tuple[list[StreamEvent], tuple[Any, ...]]:
    """Events of ``rounds`` (each a ``chat/continue`` round of chunks) and what the decoder knows."""
    decoder = StreamDecoder(fast=fast)
    events = feed_rounds(decoder, rounds)
    known = (
        decoder.generation,
        decoder.request_message_id,
        decoder.response_message_id,
        decoder.finish,
        decoder.skipped_frames,
    )
    return events, known


def assert_same(rounds: list[list[bytes]]) -> list[StreamEvent]:
    fast = decoded(rounds, fast=True)
    assert fast == decoded(rounds, fast=False)
    return fast[0]


def by_frame(data: bytes) -> list[bytes]:
    return [part + b"\n\n" for part in data.split(b"\n\n") if part]


def rounds_of(case: str) -> list[bytes]:
    spec = json.loads((STREAMS / f"{case}.expected.json").read_text(encoding="utf-8"))
    return [(STREAMS / name).read_bytes() for name in spec["rounds"]]


# -- recorded streams -------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_recorded_streams_whole_by_frame_and_byte_by_byte(case: str) -> None:
    rounds = rounds_of(case)
    assert assert_same([[data] for data in rounds])
    assert_same([by_frame(data) for data in rounds])
    assert_same([[data[i : i + 1] for i in range(len(data))] for data in rounds])


@settings(max_examples=10, deadline=None)
@given(case=st.sampled_from(CASES), points=st.lists(st.integers(0, 1 << 20), max_size=12))
def test_recorded_streams_random_splits(case: str, points: list[int]) -> None:
    assert_same([split(data, points) for data in rounds_of(case)])


# -- the simulator's three generations ----------------------------------------------------------

# (prompt, completion fields): plain, reasoning, search with citations, a tool call in DSML,
# the content filter, an answer cut INCOMPLETE.
PROMPTS: list[tuple[str, dict[str, Any]]] = [
    ("hello there", {}),
    ("example b: haiku", {"thinking_enabled": True}),
    ("paris weather", {"search_enabled": True}),
    ("example d: guangzhou weather", {"search_enabled": True, "thinking_enabled": True}),
    ("example tool call", {}),
    ("example e1: filtered", {}),
    ("example e3: broken", {"thinking_enabled": True}),
]
VERSIONS = {1: "0.9.0-chunks", 2: "1.0.0-always", 3: "2.5.0"}


@pytest.fixture(scope="module")
def captured() -> Iterator[dict[tuple[int, str], bytes]]:
    """The simulator's bytes for each prompt in each generation, read over a real socket."""
    rules = (VersionRule(r"^1\.0\.0-always$", 2), VersionRule(r"^0\.9\.0-chunks$", 1))
    with running(test_config(generation_rules=rules)) as client:
        sim = Sim(client, "demo-token-1")
        bodies: dict[tuple[int, str], bytes] = {}
        for generation, version in VERSIONS.items():
            for prompt, fields in PROMPTS:
                reply = sim.complete(sim.session(), prompt, headers={"X-Client-Version": version}, **fields)
                assert reply.status_code == 200, reply.text
                bodies[generation, prompt] = reply.content
        yield bodies


@pytest.mark.parametrize("generation", sorted(VERSIONS))
def test_simulator_generations_give_the_same_events(
    captured: dict[tuple[int, str], bytes], generation: int
) -> None:
    for prompt, _ in PROMPTS:
        body = captured[generation, prompt]
        events = assert_same([[body]])
        assert events, prompt
        assert decoded([[body]], fast=True)[1][0] == generation
        assert_same([by_frame(body)])
        assert_same([split(body, list(range(0, len(body), 61)))])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(st.integers(0, 1 << 20), max_size=20), which=st.integers(0, 10_000))
def test_simulator_streams_random_splits(
    captured: dict[tuple[int, str], bytes], points: list[int], which: int
) -> None:
    keys = sorted(captured)
    assert_same([split(captured[keys[which % len(keys)]], points)])


# -- random streams -------------------------------------------------------------------------------

TEXTS = ["a", "b c", " ", "é世🌍", "\n", "[", "]", "reference:", "[reference:0]", "[citation:1]", "x\\y"]
texts = st.lists(st.sampled_from(TEXTS), min_size=0, max_size=4).map("".join)
FRAGMENTS = ["THINK", "RESPONSE", "TIP", "TOOL_SEARCH", "TOOL_OPEN", "TEMPLATE_RESPONSE"]
PATHS = [
    "response/fragments/-1/content",
    "response/fragments/0/content",
    "response/fragments/-2/content",
    "response/content",
    "response/thinking_content",
    "response/fragments/-1/references",
    "response/fragments/9/content",  # out of range: a patch that does not apply
    "response",
    "",
]


def dumped(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


@st.composite
def frames(draw: st.DrawFn) -> str:
    """One SSE event (or comment), chosen among the frames DeepSeek sends and some it should not."""
    kind = draw(st.integers(-4, 17))
    text = draw(texts)
    if kind <= 5:  # the common frame, with and without a marker start
        return f"data: {dumped({'v': text})}\n\n"
    if kind == 6 and draw(st.booleans()):  # the other field of generation 2
        path = draw(st.sampled_from(["response/content", "response/thinking_content"]))
        return f"data: {dumped({'p': path, 'o': 'APPEND', 'v': text})}\n\n"
    if kind == 6:
        return f"data: {dumped({'p': draw(st.sampled_from(PATHS)), 'o': 'APPEND', 'v': text})}\n\n"
    if kind == 7:
        fragment: dict[str, Any] = {"type": draw(st.sampled_from(FRAGMENTS)), "content": text}
        if draw(st.booleans()):
            fragment["id"] = draw(st.integers(1, 3))  # ids repeat now and then
        if fragment["type"] == "TOOL_SEARCH":
            fragment["results"] = [{"url": f"https://s{n}.example/"} for n in range(draw(st.integers(0, 2)))]
        return f"data: {dumped({'p': 'response/fragments', 'o': 'APPEND', 'v': [fragment]})}\n\n"
    if kind == 8:  # a BATCH, on one fragment or on the response; the second step may not apply
        second = draw(st.sampled_from(["references", "status", "x/-7", "fragments/9/content"]))
        if draw(st.booleans()):
            sub = [{"p": "content", "o": "APPEND", "v": text}, {"p": second, "o": "APPEND", "v": [{"id": 1}]}]
            return f"data: {dumped({'p': 'response/fragments/-1', 'o': 'BATCH', 'v': sub})}\n\n"
        first = draw(st.sampled_from(["fragments/0/content", "thinking_content", "content"]))
        sub = [{"p": first, "o": "APPEND", "v": text}, {"p": second, "v": 1}]
        return f"data: {dumped({'p': 'response', 'o': 'BATCH', 'v': sub})}\n\n"
    if kind == 9:
        usage = [{"p": "accumulated_token_usage", "v": draw(st.integers(0, 99))}]
        return f"data: {dumped({'p': 'response', 'o': 'BATCH', 'v': usage})}\n\n"
    if kind == 10:
        status = draw(st.sampled_from(["WIP", "FINISHED", "INCOMPLETE", "CONTENT_FILTER"]))
        return f"data: {dumped({'p': 'response/status', 'v': status})}\n\n"
    if kind == 11:  # a snapshot of either patch generation
        response: dict[str, Any] = {"message_id": 2, "parent_id": 1, "status": "WIP"}
        if draw(st.booleans()):
            response["fragments"] = [{"id": 1, "type": "THINK", "content": text}]
        else:
            response.update(thinking_content=text, content="", search_results=None)
        return f"data: {dumped({'v': {'response': response}})}\n\n"
    if kind == 12:
        choice = {"delta": {"type": draw(st.sampled_from(["text", "thinking"])), "content": text}}
        return f"data: {dumped({'choices': [choice], 'message_id': 2})}\n\n"
    if kind == 13:
        return draw(
            st.sampled_from(
                [
                    'data: {"type":"error","content":"Server is temporarily unavailable."}\n\n',
                    'data: {"code":50006,"msg":"MUTED","data":{"mute_until":1900000000}}\n\n',
                    'data: {"code":"content_filter"}\n\n',
                    'data: {"error":{"message":"x"}}\n\n',
                    'data: {"p":"response/status"}\n\n',
                ]
            )
        )
    if kind == 14:
        return draw(
            st.sampled_from(["data: [DONE]\n\n", "data: {not json\n\n", "data: [1, 2]\n\n", "data: 7\n\n"])
        )
    if kind == 15:
        named = draw(st.sampled_from(["title", "hint", "toast", "ready", "update_session", "close"]))
        payload = {"content": text, "request_message_id": 1, "response_message_id": 2}
        return f"event: {named}\ndata: {dumped(payload)}\n\n"
    if kind == 16:
        return ": keep-alive\n\n"
    return f"data: {dumped({'o': draw(st.sampled_from(['APPEND', 'SET'])), 'v': text})}\n\n"


READY = 'event: ready\ndata: {"request_message_id":1,"response_message_id":2}\n\n'
HEADS = [  # how each patch generation starts: a snapshot, then text
    "",
    READY + 'data: {"v":{"response":{"message_id":2,"status":"WIP","fragments":[{"id":1,"type":"RESPONSE",'
    '"content":"","references":[]}]}}}\n\n'
    'data: {"p":"response/fragments/-1/content","o":"APPEND","v":"Hi"}\n\n',
    READY + 'data: {"v":{"response":{"message_id":2,"status":"WIP","thinking_content":"","content":""}}}\n\n'
    'data: {"p":"response/thinking_content","o":"APPEND","v":"Hm"}\n\n',
]


@settings(max_examples=400, deadline=None)
@given(
    bodies=st.lists(st.lists(frames(), max_size=30).map("".join), min_size=1, max_size=3),
    points=st.lists(st.integers(0, 1 << 16), max_size=8),
    head=st.sampled_from(HEADS),
)
def test_random_streams_give_the_same_events(bodies: list[str], points: list[int], head: str) -> None:
    rounds = [(head + body).encode() for body in bodies]
    assert_same([[data] for data in rounds])
    assert_same([by_frame(data) for data in rounds])
    assert_same([split(data, points) for data in rounds])


def gen3_stream(*frames: dict[str, Any], fragments: list[dict[str, Any]]) -> bytes:
    snapshot = {"v": {"response": {"message_id": 2, "status": "WIP", "fragments": fragments}}}
    payloads = [snapshot, *frames, {"p": "response/status", "o": "SET", "v": "FINISHED"}]
    return READY.encode() + b"".join(f"data: {dumped(payload)}\n\n".encode() for payload in payloads)


def append(path: str, value: str) -> dict[str, Any]:
    return {"p": path, "o": "APPEND", "v": value}


def test_a_batch_that_applies_in_part_is_read_whole() -> None:
    # The BATCH grows the reasoning, then fails: the answer text after it must not be read
    # alone, or the reasoning it added would never be shown.
    think = {"id": 1, "type": "THINK", "content": "t"}
    answer = {"id": 2, "type": "RESPONSE", "content": "", "references": []}
    broken = {
        "p": "response",
        "o": "BATCH",
        "v": [append("fragments/0/content", "more"), {"p": "fragments/9/content", "v": 1}],
    }
    body = gen3_stream(
        append("response/fragments/-1/content", "a"),
        {"v": "b"},
        broken,
        append("response/fragments/-1/content", "c"),
        {"v": "d"},
        fragments=[think, answer],
    )
    events = assert_same([by_frame(body)])
    assert ReasoningDelta("more") in events
    assert_same([[body]])


def test_searches_sharing_an_id_are_read_whole() -> None:
    # Two searches with one id and type share a count: every full read reports them again, and
    # the answer text between must not change that.
    def search(count: int) -> dict[str, Any]:
        return {"id": 7, "type": "TOOL_SEARCH", "results": [{"url": f"https://s{n}/"} for n in range(count)]}

    answer = {"id": 2, "type": "RESPONSE", "content": "", "references": []}
    body = gen3_stream(
        append("response/fragments/-1/content", "a"),
        *({"v": piece} for piece in "bcdef"),
        fragments=[search(1), search(2), answer],
    )
    events = assert_same([by_frame(body)])
    assert sum(isinstance(event, SearchResults) for event in events) > 2


# -- the SSE reader -------------------------------------------------------------------------------


def reference_events(data: bytes) -> list[SSEEvent]:
    """The events the per-line rules (``_line`` and ``_dispatch``) give for the whole stream."""
    reader = SSEReader()
    events: list[SSEEvent] = []
    lines = re.split(r"\r\n|\r|\n", data.decode("utf-8", errors="replace"))
    tail = lines.pop()  # after the last line end: a line only at the end of the stream
    for line in lines:
        reader._line(line, events)
    if tail:
        reader._line(tail, events)
    reader._dispatch(events)
    return events


PIECES = [
    "data: ",
    "data:",
    "event: ",
    "event:x",
    ": c",
    "id: 1",
    "\n",
    "\r",
    "\r\n",
    "a",
    "é",
    "\ufeff",
    "{}",
]


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=40),
    points=st.lists(st.integers(0, 1 << 12), max_size=10),
    bad=st.booleans(),
)
def test_sse_reader_follows_the_per_line_rules(pieces: list[str], points: list[int], bad: bool) -> None:
    data = "".join(pieces).encode() + (b"\xff\xe4\n" if bad else b"")
    for chunks in ([data], split(data, points), [data[i : i + 1] for i in range(len(data))]):
        reader = SSEReader()
        events = [event for chunk in chunks for event in reader.feed(chunk)]
        assert events + reader.close() == reference_events(data)
