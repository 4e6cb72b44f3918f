"""The SSE reader gives the same events however the bytes arrive."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from deepseek_free_api.upstream.sse import SSEEvent, SSEReader

STREAM = (
    "event: ready\r\n"
    'data: {"request_message_id":1}\r\n'
    "\r\n"
    ": keep-alive\n"
    "\n"
    'data: {"v":"Grüße, 世界 🌍"}\n'
    "\n"
    "data:no-space\r"
    "\r"
    "event: title\n"
    "data: line one\n"
    "data: line two\n"
    "\n"
).encode()
EXPECTED = [
    SSEEvent("ready", '{"request_message_id":1}'),
    SSEEvent("message", '{"v":"Grüße, 世界 🌍"}'),
    SSEEvent("message", "no-space"),
    SSEEvent("title", "line one\nline two"),
]


def read(chunks: list[bytes]) -> list[SSEEvent]:
    reader = SSEReader()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += reader.feed(chunk)
    return events + reader.close()


def test_named_unnamed_comment_and_multiline_events() -> None:
    assert read([STREAM]) == EXPECTED


def test_every_split_point_gives_the_same_events() -> None:
    for cut in range(len(STREAM) + 1):
        assert read([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_byte_by_byte_including_inside_utf8_sequences() -> None:
    assert read([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    # "\r" then "\n" in the next chunk must not count as two line ends (an empty event boundary).
    events = read([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert events == [SSEEvent("message", "a\nb")]


def test_data_line_over_one_megabyte() -> None:
    payload = "x" * 1_500_000 + "é"
    raw = f"data: {payload}\n\n".encode()
    chunks = [raw[i : i + 65_536] for i in range(0, len(raw), 65_536)]
    assert read(chunks) == [SSEEvent("message", payload)]


def test_last_event_without_blank_line_is_delivered_at_close() -> None:
    reader = SSEReader()
    assert reader.feed(b"data: [DONE]") == []
    assert reader.close() == [SSEEvent("message", "[DONE]")]


def test_event_without_data_is_not_dispatched_and_name_resets() -> None:
    assert read([b"event: finish\n\ndata: x\n\n"]) == [SSEEvent("message", "x")]


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert read([b"data: a\xffb\n\n"]) == [SSEEvent("message", "a\ufffdb")]


def test_leading_bom_is_ignored() -> None:
    assert read(["\ufeffdata: x\n\n".encode()]) == [SSEEvent("message", "x")]


_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(st.tuples(st.sampled_from(["", "hint", "title"]), _text), min_size=1, max_size=6),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_random_streams_and_random_splits(
    events: list[tuple[str, str]], newline: str, cuts: list[int]
) -> None:
    raw = "".join(
        (f"event: {name}{newline}" if name else "") + f"data: {data}{newline}{newline}"
        for name, data in events
    ).encode()
    points = sorted({cut % (len(raw) + 1) for cut in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert read(chunks) == [SSEEvent(name or "message", data) for name, data in events]
