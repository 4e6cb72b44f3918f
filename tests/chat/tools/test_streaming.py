"""However the stream is cut, a client sees the same answer, and never a piece of markup."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chat.tools.helpers import Outcome, expected, fixture, fixture_names, run

MARKUP_PIECES = ("DSML", "｜", "invoke", "parameter", "tool▁", "tool_calls", "function_calls")


def same(a: Outcome, b: Outcome) -> bool:
    return (a.events, a.stop) == (b.events, b.stop)


@pytest.mark.parametrize("name", fixture_names())
def test_every_split_point_gives_the_same_events(name: str) -> None:
    text = fixture(name)
    whole = run([text])
    for cut in range(1, len(text)):
        parts = run([text[:cut], text[cut:]])
        where = f"{text[max(0, cut - 15) : cut]!r}|{text[cut : cut + 15]!r}"
        assert same(parts, whole), f"split at {cut}: {where}"


@pytest.mark.parametrize("name", [n for n in fixture_names() if expected(n)["calls"]])
def test_one_character_at_a_time_never_shows_markup(name: str) -> None:
    outcome = run(list(fixture(name)))
    assert outcome.text == expected(name)["text"]
    assert outcome.calls == expected(name)["calls"]
    if name != "fenced-example.txt":  # that one shows markup in code, on purpose
        assert not any(piece in outcome.text for piece in MARKUP_PIECES)


def test_every_byte_split_through_a_utf8_decoder_gives_the_same_events() -> None:
    """Cuts inside the three-byte ``｜`` and ``▁`` too, decoded incrementally as the SSE reader does."""
    raw = fixture("v3-markers.txt").encode()
    whole = run([raw.decode()])
    for cut in range(1, len(raw)):
        decoder = codecs.getincrementaldecoder("utf-8")()
        pieces = [decoder.decode(raw[:cut]), decoder.decode(raw[cut:], final=True)]
        assert same(run(pieces), whole), f"byte {cut}"


@pytest.mark.parametrize("name", ["dsml-v4.txt", "two-blocks.txt"])
def test_every_three_way_split_of_a_tag_gives_the_same_events(name: str) -> None:
    text = fixture(name)
    start = text.index("<")
    tag_end = text.index(">", text.index("invoke")) + 1  # the wrapper and the invoke tag
    whole = run([text])
    for first in range(start, tag_end):
        for second in range(first + 1, tag_end + 1):
            assert same(run([text[:first], text[first:second], text[second:]]), whole), (first, second)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(fixture_names()),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=40),
    reasoning=st.booleans(),
)
def test_any_split_of_any_stream_gives_the_same_events(name: str, cuts: list[int], reasoning: bool) -> None:
    text = fixture(name)
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    thought = ("Thinking about the call.",) if reasoning else ()
    assert same(run(pieces, reasoning=thought), run([text], reasoning=thought))


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30))
def test_any_split_of_a_reasoning_only_call_gives_the_same_call(cuts: list[int]) -> None:
    thought = "Let me call it.\n" + fixture("dsml-near-miss.txt")
    points = sorted({c % (len(thought) + 1) for c in cuts})
    pieces = tuple(thought[a:b] for a, b in zip([0, *points], [*points, len(thought)], strict=True))
    outcome = run([], reasoning=pieces)
    assert outcome.calls == [("write_file", {"path": "hello.txt", "content": "hi\n"})]
    assert outcome.reasoning == thought
