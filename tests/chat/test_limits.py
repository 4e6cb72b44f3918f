from __future__ import annotations

from deepseek_free_api.chat.limits import OutputLimiter


def count_chars(text: str) -> int:
    return len(text)


def run(limiter: OutputLimiter, pieces: list[str]) -> tuple[str, str | None]:
    out = []
    for piece in pieces:
        limited = limiter.answer(piece)
        out.append(limited.text)
        if limited.stop or limited.length:
            return "".join(out), "stop" if limited.stop else "length"
    out.append(limiter.flush().text)
    return "".join(out), None


def test_stop_sequence_split_across_chunks_is_not_leaked() -> None:
    text, reason = run(OutputLimiter(["END"], None, count_chars), ["Hello E", "N", "D and more"])
    assert (text, reason) == ("Hello ", "stop")


def test_partial_stop_prefix_that_does_not_complete_is_released() -> None:
    text, reason = run(OutputLimiter(["END"], None, count_chars), ["Hello EN", "TRY"])
    assert (text, reason) == ("Hello ENTRY", None)


def test_held_back_prefix_is_flushed_at_the_end() -> None:
    text, reason = run(OutputLimiter(["</stop>"], None, count_chars), ["value </st"])
    assert (text, reason) == ("value </st", None)


def test_first_of_several_stop_sequences_wins() -> None:
    text, reason = run(OutputLimiter(["zz", "b"], None, count_chars), ["aabzz"])
    assert (text, reason) == ("aa", "stop")


def test_max_tokens_truncates_inside_a_piece() -> None:
    text, reason = run(OutputLimiter([], 7, count_chars), ["abcd", "efghij"])
    assert (text, reason) == ("abcdefg", "length")


def test_reasoning_counts_against_the_budget() -> None:
    limiter = OutputLimiter([], 5, count_chars)
    assert limiter.reasoning("abc").text == "abc"
    limited = limiter.answer("defgh")
    assert limited.text == "de" and limited.length


def test_exact_budget_reports_length() -> None:
    limiter = OutputLimiter([], 3, count_chars)
    limited = limiter.answer("abc")
    assert limited.text == "abc" and limited.length
