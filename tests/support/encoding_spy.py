"""A stand-in for the DeepSeek tokenizer that notes how many characters it was given to encode."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from deepseek_free_api.chat.tokens import TokenCounter


class EncodingSpy:
    """Wraps a ``tokenizers.Tokenizer``: ``encoded`` counts the characters of every encode."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.encoded = 0

    def encode_batch_fast(self, texts: list[str], add_special_tokens: bool) -> Any:
        self.encoded += sum(map(len, texts))
        return self.tokenizer.encode_batch_fast(texts, add_special_tokens=add_special_tokens)


@contextlib.contextmanager
def spying(counter: TokenCounter) -> Iterator[EncodingSpy]:
    """``counter`` encodes through a spy while the block runs (a server in this process counts with
    ``TokenCounter.load()``: spying on that one sees what the server counts)."""
    spy = EncodingSpy(counter._tokenizer)
    counter._tokenizer = spy  # type: ignore[assignment]
    try:
        yield spy
    finally:
        counter._tokenizer = spy.tokenizer
