from __future__ import annotations

from deepseek_free_api.chat.events import ChatEvent, Citation, ReasoningDelta, TextDelta
from deepseek_free_api.chat.pipeline import Pipeline, Stop


def count_chars(text: str) -> int:
    return len(text)


def run(pipeline: Pipeline, pieces: list[str]) -> tuple[str, Stop | None]:
    out: list[ChatEvent] = []
    for piece in pieces:
        out += pipeline.feed([TextDelta(piece)])
        if pipeline.stop is not None:
            break
    else:
        out += pipeline.flush()
    return "".join(e.text for e in out if isinstance(e, TextDelta)), pipeline.stop


def limits(stops: list[str], max_tokens: int | None = None) -> Pipeline:
    return Pipeline.for_limits(stops, max_tokens, count_chars)


def test_stop_sequence_split_across_chunks_is_not_leaked() -> None:
    text, stop = run(limits(["END"]), ["Hello E", "N", "D and more"])
    assert (text, stop) == ("Hello ", Stop("stop_sequence", "END"))


def test_partial_stop_prefix_that_does_not_complete_is_released() -> None:
    assert run(limits(["END"]), ["Hello EN", "TRY"]) == ("Hello ENTRY", None)


def test_held_back_prefix_is_flushed_at_the_end() -> None:
    assert run(limits(["</stop>"]), ["value </st"]) == ("value </st", None)


def test_first_of_several_stop_sequences_wins_and_is_named() -> None:
    assert run(limits(["zz", "b"]), ["aabzz"]) == ("aa", Stop("stop_sequence", "b"))


def test_max_tokens_truncates_inside_a_piece() -> None:
    assert run(limits([], 7), ["abcd", "efghij"]) == ("abcdefg", Stop("max_tokens"))


def test_reasoning_counts_against_the_budget() -> None:
    pipeline = limits([], 5)
    assert pipeline.feed([ReasoningDelta("abc")]) == [ReasoningDelta("abc")]
    assert pipeline.feed([TextDelta("defgh")]) == [TextDelta("de")]
    assert pipeline.stop == Stop("max_tokens")


def test_exact_budget_reports_max_tokens() -> None:
    pipeline = limits([], 3)
    assert pipeline.feed([TextDelta("abc")]) == [TextDelta("abc")]
    assert pipeline.stop == Stop("max_tokens")


def test_budget_cut_after_a_stop_sequence_cut_says_max_tokens() -> None:
    assert run(limits(["!"], 3), ["abcdef!"]) == ("abc", Stop("max_tokens"))


def test_held_back_text_counts_against_the_budget_when_flushed() -> None:
    assert run(limits(["</x>"], 3), ["ab</"]) == ("ab<", Stop("max_tokens"))


def test_batches_come_out_merged_and_citations_stay_in_place() -> None:
    cite = Citation(url="https://a.example", title="A", number=1)
    out = Pipeline([]).feed([TextDelta("a"), TextDelta("b"), cite, TextDelta("c"), ReasoningDelta("r")])
    assert out == [TextDelta("ab"), cite, TextDelta("c"), ReasoningDelta("r")]


def test_nothing_passes_after_a_stop() -> None:
    pipeline = limits(["STOP"])
    out = pipeline.feed([TextDelta("one STOP two"), TextDelta("three")])
    assert out == [TextDelta("one ")]
    assert pipeline.feed([TextDelta("more")]) == []
