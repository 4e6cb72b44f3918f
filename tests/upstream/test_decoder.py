"""The stream decoder replays recorded-shape DeepSeek streams (PROTOCOL.md §5.5) into events.

Golden files live in tests/fixtures/streams: ``<case>.sse`` holds raw bytes, and
``<case>.expected.json`` lists the rounds (one stream, or a stream and its chat/continue stream)
and the events a user-facing renderer will get. The same events must come out however the bytes
are split into chunks, except that text arriving together is merged: events are compared with
adjacent TextDelta (and ReasoningDelta) pieces joined, which keeps every citation's position.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepseek_free_api.upstream.decoder import StreamDecoder, decode_all
from deepseek_free_api.upstream.events import (
    Citation,
    Finish,
    ReasoningDelta,
    StreamErrorFrame,
    StreamEvent,
    TextDelta,
    Title,
)

STREAMS = Path(__file__).resolve().parents[1] / "fixtures" / "streams"
CASES = sorted(path.name.removesuffix(".expected.json") for path in STREAMS.glob("*.expected.json"))
EVERY_SPLIT_LIMIT = 3_000  # bytes: below this, every single split point is tried


def joined(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Golden-shape events with adjacent TextDelta / ReasoningDelta pieces merged."""
    out: list[dict[str, Any]] = []
    for event in events:
        if out and event["type"] in ("TextDelta", "ReasoningDelta") and out[-1]["type"] == event["type"]:
            out[-1] = {**out[-1], "text": out[-1]["text"] + event["text"]}
        else:
            out.append(event)
    return out


def as_json(events: list[StreamEvent]) -> list[dict[str, Any]]:
    """Events in the golden files' shape (tuples become lists), text pieces merged."""
    return joined(
        [
            json.loads(json.dumps({"type": type(event).__name__, **dataclasses.asdict(event)}))
            for event in events
        ]
    )


def load(case: str) -> tuple[list[bytes], list[dict[str, Any]]]:
    spec = json.loads((STREAMS / f"{case}.expected.json").read_text(encoding="utf-8"))
    return [(STREAMS / name).read_bytes() for name in spec["rounds"]], joined(spec["events"])


def feed_rounds(decoder: StreamDecoder, rounds: list[list[bytes]]) -> list[StreamEvent]:
    """Decode rounds of chunks the way the chat service does: feed, close, continue."""
    events: list[StreamEvent] = []
    for number, chunks in enumerate(rounds):
        if number:
            decoder.begin_continuation()
        for chunk in chunks:
            events += decoder.feed(chunk)
        events += decoder.close()
    return events


def run(rounds: list[list[bytes]]) -> list[StreamEvent]:
    """``feed_rounds`` on a new decoder, which must skip no frame."""
    decoder = StreamDecoder()
    events = feed_rounds(decoder, rounds)
    assert decoder.skipped_frames == 0
    return events


def split(data: bytes, points: list[int]) -> list[bytes]:
    cuts = sorted({point % (len(data) + 1) for point in points})
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@pytest.mark.parametrize("case", CASES)
def test_golden_stream(case: str) -> None:
    rounds, expected = load(case)
    assert as_json(run([[data] for data in rounds])) == expected


@pytest.mark.parametrize("case", CASES)
def test_golden_stream_byte_by_byte(case: str) -> None:
    rounds, expected = load(case)
    assert as_json(run([[data[i : i + 1] for i in range(len(data))] for data in rounds])) == expected


@pytest.mark.parametrize("case", [case for case in CASES if sum(map(len, load(case)[0])) < EVERY_SPLIT_LIMIT])
def test_golden_stream_every_split_point(case: str) -> None:
    rounds, expected = load(case)
    whole = run([[data] for data in rounds])
    for index, data in enumerate(rounds):
        for cut in range(len(data) + 1):
            chunked = [[other] for other in rounds]
            chunked[index] = [data[:cut], data[cut:]]
            assert as_json(run(chunked)) == as_json(whole), (index, cut)
    assert as_json(whole) == expected


@pytest.mark.parametrize("case", CASES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(st.integers(min_value=0, max_value=1_000_000), max_size=40))
def test_golden_stream_random_splits(case: str, points: list[int]) -> None:
    rounds, expected = load(case)
    assert as_json(run([split(data, points) for data in rounds])) == expected


REQUIRED_CASES = """a-plain b-thinking b-thinking-gen2 b-thinking-gen1 c-search c-search-gen2 c-search-gen1
d-deep-search e1-content-filter e2-hint e3-incomplete-continue e4-busy""".split()


def test_golden_files_cover_every_protocol_example() -> None:
    assert set(REQUIRED_CASES) <= set(CASES)


# -- generated gen 3 streams -------------------------------------------------------------------


def frame(payload: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def gen3(*frames: dict[str, Any], finish: bool = True, fragments: list[Any] | None = None) -> bytes:
    """A gen 3 stream: ready, snapshot with one RESPONSE fragment (plus ``fragments``), frames."""
    start = [{"id": 9, "type": "RESPONSE", "content": "", "references": []}]
    parts = [
        frame({"request_message_id": 1, "response_message_id": 2}, "ready"),
        frame(
            {"v": {"response": {"message_id": 2, "status": "WIP", "fragments": (fragments or []) + start}}}
        ),
        *map(frame, frames),
    ]
    if finish:
        parts.append(frame({"p": "response/status", "o": "SET", "v": "FINISHED"}))
    return b"".join(parts)


def text(events: list[StreamEvent]) -> str:
    """The answer as a renderer would show it, citations as [n]."""
    out = []
    for event in events:
        if isinstance(event, TextDelta):
            out.append(event.text)
        elif isinstance(event, Citation):
            out.append(f"[{event.number}]")
    return "".join(out)


def append(value: str) -> dict[str, Any]:
    return {"p": "response/fragments/-1/content", "o": "APPEND", "v": value}


OPEN = {
    "id": 5,
    "type": "TOOL_OPEN",
    "status": "FINISHED",
    "result": {"url": "https://a.example/", "title": "A"},
}
REF_BATCH = {
    "p": "response/fragments/-1",
    "o": "BATCH",
    "v": [
        {"p": "content", "o": "APPEND", "v": "[reference:0]"},
        {"p": "references", "v": [{"id": 5, "type": "TOOL_OPEN"}]},
    ],
}


def test_marker_split_across_deltas_never_leaks_whatever_the_split() -> None:
    marker = "See [reference:0] now."
    for cut in range(1, len(marker)):
        data = gen3(
            {"p": "response/fragments/-1/references", "o": "SET", "v": [{"id": 5, "type": "TOOL_OPEN"}]},
            append(marker[:cut]),
            append(marker[cut:]),
            fragments=[OPEN],
        )
        events = decode_all(data)
        assert text(events) == "See [1] now.", cut
        assert all("[" not in event.text for event in events if isinstance(event, TextDelta)), cut


def test_brackets_that_are_not_markers_pass_through() -> None:
    body = "a [link](x) [1] [refer to it] [citation:x] [reference: 2] ["
    events = decode_all(gen3(*(append(char) for char in body)))
    assert text(events) == body


def test_unresolvable_marker_is_dropped_and_text_flows_on() -> None:
    events = decode_all(gen3(append("one [reference:7]"), *(append(f" {n}") for n in range(10))))
    assert text(events) == "one  0 1 2 3 4 5 6 7 8 9"
    # The text after the marker was not held until the end of the stream.
    finish_at = next(i for i, event in enumerate(events) if isinstance(event, Finish))
    last_text = max(i for i, event in enumerate(events) if isinstance(event, TextDelta))
    assert last_text < finish_at


def test_marker_before_its_reference_entry_waits_for_it() -> None:
    events = decode_all(
        gen3(
            append("Fact"),
            append("[reference:0]"),
            {"p": "response/fragments/-1/references", "o": "APPEND", "v": [{"id": 5, "type": "TOOL_OPEN"}]},
            append(" end"),
            fragments=[OPEN],
        )
    )
    assert text(events) == "Fact[1] end"
    assert Citation("https://a.example/", "A", 1) in events


def test_citation_numbers_count_distinct_urls_in_order() -> None:
    search = {
        "id": 4,
        "type": "SEARCH",  # the mid-2026 name of the search fragment
        "results": [{"url": "https://b.example/", "title": "B"}, {"url": "https://a.example/", "title": "A"}],
    }
    events = decode_all(
        gen3(
            REF_BATCH,
            {
                "v": [
                    {"p": "content", "o": "APPEND", "v": "x[reference:1]"},
                    {"p": "references", "v": [{"id": 4}]},
                ]
            },
            {"v": [{"p": "content", "o": "APPEND", "v": "y[reference:0]"}]},
            fragments=[OPEN, search],
        )
    )
    assert [(e.url, e.number) for e in events if isinstance(e, Citation)] == [
        ("https://a.example/", 1),
        ("https://b.example/", 2),
        ("https://a.example/", 1),
        ("https://a.example/", 1),
    ]


def test_cut_stream_flushes_held_text_at_close_without_finish() -> None:
    decoder = StreamDecoder()
    events = decoder.feed(gen3(append("tail [refer"), finish=False))
    assert text(events) == "tail "
    assert text(decoder.close()) == "[refer"
    assert decoder.finish is None


def test_held_tail_is_flushed_before_finish() -> None:
    events = decode_all(gen3(append("x ["), append("cit")))
    assert text(events) == "x [cit"
    assert isinstance(events[-1], Finish)


def test_auto_continue_counts_as_incomplete() -> None:
    data = gen3(append("a"), {"p": "response/auto_continue", "o": "SET", "v": True})
    assert Finish("INCOMPLETE") in decode_all(data)


def test_only_the_first_terminal_status_finishes() -> None:
    data = gen3(append("a")) + frame({"p": "response/status", "o": "SET", "v": "CONTENT_FILTER"})
    assert [event for event in decode_all(data) if isinstance(event, Finish)] == [Finish("FINISHED")]


def test_properties_after_a_stream() -> None:
    decoder = StreamDecoder()
    decoder.feed(gen3(append("a")))
    assert (decoder.generation, decoder.request_message_id, decoder.response_message_id) == (3, 1, 2)
    assert decoder.finish == Finish("FINISHED")


def test_gen2_continuation_emits_only_new_thinking_and_content() -> None:
    def stream(thinking: str, content: str, *tail: dict[str, Any]) -> bytes:
        snapshot = {"message_id": 2, "parent_id": 1, "status": "WIP", "thinking_content": thinking}
        return frame(
            {"v": {"response": {**snapshot, "content": content, "accumulated_token_usage": 10}}}
        ) + b"".join(map(frame, tail))

    decoder = StreamDecoder()
    first = decoder.feed(
        stream(
            "Think",
            "Ans",
            {"p": "response/content", "o": "APPEND", "v": "wer ["},
            {"p": "response/status", "o": "SET", "v": "INCOMPLETE"},
        )
    )
    first += decoder.close()
    decoder.begin_continuation()
    second = decoder.feed(
        stream(
            "Think",
            "Answer [",
            {"p": "response/content", "o": "APPEND", "v": "1] done"},
            {"p": "response/status", "o": "SET", "v": "FINISHED"},
        )
    )
    second += decoder.close()
    assert [e for e in first if isinstance(e, ReasoningDelta)] == [ReasoningDelta("Think")]
    assert text(first) == "Answer "
    assert second[-1] == Finish("FINISHED")
    assert not [e for e in second if isinstance(e, ReasoningDelta)]
    # The "[" held back at INCOMPLETE continues into the next round as text.
    assert text(second) == "[1] done"
    assert decoder.generation == 2


def test_gen1_backend_busy_is_an_error_frame() -> None:
    chunk = {
        "choices": [{"index": 0, "delta": {"content": "", "type": "text"}, "finish_reason": "backend_busy"}]
    }
    events = decode_all(frame(chunk) + b"data: [DONE]\n\n")
    assert [type(event) for event in events] == [StreamErrorFrame]
    assert events[0].finish_reason == "backend_busy"  # type: ignore[union-attr]


def test_toast_and_hint_frames_become_error_frames() -> None:
    events = decode_all(
        frame({"message": "Please update the app"}, "toast") + frame({"content": "x"}, "hint")
    )
    assert events == [
        StreamErrorFrame("Please update the app", None, "toast"),
        StreamErrorFrame("x", None, "hint"),
    ]


def test_title_event() -> None:
    assert decode_all(frame({"content": "Hi"}, "title")) == [Title("Hi")]


def test_malformed_lines_are_skipped_counted_and_logged_without_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = gen3(append("one"), finish=False)
    data += b'data: {"v": "secret-user-text\n\n'  # cut JSON
    data += b"data: 12\n\n"  # JSON but not a frame
    data += frame({"p": "response/fragments/7/content", "o": "APPEND", "v": "x"})  # no such fragment
    data += frame(append(" two"))
    data += frame({"p": "response/status", "o": "SET", "v": "FINISHED"})
    decoder = StreamDecoder()
    with caplog.at_level(logging.WARNING):
        events = decoder.feed(data) + decoder.close()
    assert text(events) == "one two"
    assert decoder.finish == Finish("FINISHED")
    assert decoder.skipped_frames == 3
    assert len(caplog.records) == 3
    assert "secret-user-text" not in caplog.text


def test_a_status_that_is_no_string_does_not_end_or_break_the_answer() -> None:
    # An object (or list) where the status string belongs: not a terminal status, and the answer
    # goes on. It used to raise TypeError (unhashable) out of the decoder, failing the turn.
    data = gen3(
        append("one "), {"p": "response/status", "o": "SET", "v": {"state": "FINISHED"}}, append("two")
    )
    decoder = StreamDecoder()
    events = decoder.feed(data) + decoder.close()
    assert text(events) == "one two"
    assert decoder.finish == Finish("FINISHED")


def test_garbage_stream_gives_no_finish() -> None:
    decoder = StreamDecoder()
    events = decoder.feed(b"<html><body>Just a moment...</body></html>\n\n") + decoder.close()
    assert events == []
    assert decoder.finish is None
    assert decoder.generation is None


def test_markers_standing_together_cite_each_source_once_but_separate_claims_cite_again() -> None:
    search = {
        "id": 4,
        "type": "TOOL_SEARCH",
        "results": [{"url": "https://b.example/"}, {"url": "https://c.example/"}],
    }
    entry = {"p": "response/fragments/-1/references", "o": "APPEND", "v": [{"id": 4, "type": "TOOL_SEARCH"}]}
    events = decode_all(
        gen3(
            entry,
            entry,
            entry,
            append("One[reference:0] [reference:1]. Two"),
            append("[reference:2]."),
            fragments=[search],
        )
    )
    assert text(events) == "One[1][2] . Two[1][2]."
