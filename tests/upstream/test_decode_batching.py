"""Frames that arrive together are decoded together, and a user sees the same answer.

Feeding a stream one frame at a time reads the state after every frame; feeding it whole (or in
any chunks) lets the decoder read it once per run of plain text frames. Both must give the same
text, reasoning, citations at the same positions, search results, usage and finish, in the same
order; only the number of pieces the text comes in may differ.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deepseek_free_api.upstream.decoder import StreamDecoder
from deepseek_free_api.upstream.events import Citation, ReasoningDelta, StreamEvent, TextDelta

TOKENS = [
    "a",
    "b ",
    " ",
    "[",
    "]",
    ":",
    "0",
    "1",
    "é",
    "世",
    "🌍",
    "\n",
    "reference:",
    "citation:",
    "[reference:0]",
]
SEARCH = {"id": 1, "type": "TOOL_SEARCH", "status": "FINISHED", "results": []}
OPEN = {
    "id": 2,
    "type": "TOOL_OPEN",
    "status": "FINISHED",
    "result": {"url": "https://open.example/", "title": "O"},
}
CONTENT = "response/fragments/-1/content"

texts = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6).map("".join)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("text"), texts),
        st.tuples(st.just("bare"), texts),  # {"v": …}: inherits path and op when it can
        st.tuples(st.just("entry"), st.sampled_from([1, 2])),
        st.tuples(st.just("ref_batch"), st.sampled_from([1, 2])),
        st.tuples(st.just("usage"), st.integers(1, 10_000)),
        st.tuples(st.just("search"), st.integers(1, 3)),
        st.tuples(st.just("title"), texts),
        st.tuples(st.just("comment"), st.just("")),
    ),
    max_size=40,
)


def frame(payload: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def stream(thinking: list[str], steps: list[tuple[str, Any]], finish: bool) -> list[bytes]:
    """One gen-3 stream as a list of frames: THINK, then a RESPONSE shaped by ``steps``."""
    think = {"id": 3, "type": "THINK", "content": thinking[0]}
    snapshot = {"message_id": 2, "status": "WIP", "fragments": [think, SEARCH, OPEN]}
    frames = [
        frame({"request_message_id": 1, "response_message_id": 2}, "ready"),
        frame({"v": {"response": snapshot}}),
    ]
    frames += [
        frame({"p": "response/fragments/0/content", "o": "APPEND", "v": text}) for text in thinking[1:]
    ]
    response = {"id": 4, "type": "RESPONSE", "content": "", "references": []}
    frames.append(frame({"p": "response/fragments", "o": "APPEND", "v": [response]}))
    references = 0
    for kind, value in steps:
        if kind == "text":
            frames.append(frame({"p": CONTENT, "o": "APPEND", "v": value}))
        elif kind == "bare":
            frames.append(frame({"v": value}))
        elif kind == "entry":
            entry = [{"id": value, "type": "TOOL_SEARCH" if value == 1 else "TOOL_OPEN"}]
            frames.append(frame({"p": "response/fragments/-1/references", "o": "APPEND", "v": entry}))
            references += 1
        elif kind == "ref_batch":
            sub = [
                {"p": "content", "o": "APPEND", "v": f"[reference:{references}]"},
                {"p": "references", "v": [{"id": value}]},
            ]
            references += 1
            frames.append(frame({"p": "response/fragments/-1", "o": "BATCH", "v": sub}))
        elif kind == "usage":
            frames.append(
                frame({"p": "response", "o": "BATCH", "v": [{"p": "accumulated_token_usage", "v": value}]})
            )
        elif kind == "search":
            hits = [{"url": f"https://s{n}.example/", "title": f"S{n}"} for n in range(value)]
            frames.append(frame({"p": "response/fragments/1/results", "o": "SET", "v": hits}))
        elif kind == "title":
            frames.append(frame({"content": value}, "title"))
        else:
            frames.append(b": keep-alive\n\n")
    if finish:
        frames.append(frame({"p": "response/status", "o": "SET", "v": "FINISHED"}))
    return frames


def decode(chunks: list[bytes]) -> list[StreamEvent]:
    decoder = StreamDecoder()
    events: list[StreamEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.close()


def joined(events: list[StreamEvent]) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    for event in events:
        last = out[-1] if out else None
        if isinstance(event, TextDelta | ReasoningDelta) and type(last) is type(event):
            out[-1] = type(event)(last.text + event.text)
        else:
            out.append(event)
    return out


@settings(max_examples=200, deadline=None)
@given(
    thinking=st.lists(texts, min_size=1, max_size=5),
    steps=actions,
    finish=st.booleans(),
    cuts=st.lists(st.integers(0, 100_000), max_size=10),
)
def test_whole_chunked_and_frame_by_frame_give_the_same_answer(
    thinking: list[str], steps: list[tuple[str, Any]], finish: bool, cuts: list[int]
) -> None:
    frames = stream(thinking, steps, finish)
    whole = b"".join(frames)
    points = sorted({cut % (len(whole) + 1) for cut in cuts})
    chunked = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    by_frame = joined(decode(frames))
    assert joined(decode([whole])) == by_frame
    assert joined(decode(chunked)) == by_frame


def test_one_feed_of_many_text_frames_gives_one_text_event() -> None:
    pieces = [f"piece {n}, " for n in range(200)]
    frames = stream(["Hm"], [("text", pieces[0]), *(("bare", piece) for piece in pieces[1:])], True)
    decoder = StreamDecoder()
    events = decoder.feed(b"".join(frames))
    assert [event for event in events if isinstance(event, TextDelta)] == [TextDelta("".join(pieces))]


def test_citation_keeps_its_position_inside_a_batch_of_frames() -> None:
    steps: list[tuple[str, Any]] = [
        ("text", "before "),
        ("bare", "more "),
        ("ref_batch", 2),
        ("text", " after"),
        ("bare", " end"),
    ]
    events = decode([b"".join(stream(["Hm"], steps, True))])
    shown = [
        e.text if isinstance(e, TextDelta) else f"<{e.url}>"
        for e in events
        if isinstance(e, TextDelta | Citation)
    ]
    assert shown == ["before more ", "<https://open.example/>", " after end"]
