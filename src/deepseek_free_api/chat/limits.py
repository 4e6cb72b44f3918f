"""Stop sequences and token limits applied to the answer as it streams."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limited:
    """What may be emitted of a piece, and whether the answer must end after it."""

    text: str
    stop: bool = False  # a stop sequence was found
    length: bool = False  # the token budget is used up


class OutputLimiter:
    """Cuts the output at the first stop sequence (across chunk boundaries) or at ``max_tokens``.

    ``max_tokens`` counts reasoning and answer together, as OpenAI's ``max_completion_tokens``
    does for reasoning models. Text that might begin a stop sequence is held back until the next
    piece decides; ``flush()`` releases it at the end.
    """

    def __init__(self, stop: Sequence[str], max_tokens: int | None, count: Callable[[str], int]) -> None:
        self._stops = tuple(s for s in stop if s)
        self._remaining = max_tokens
        self._count = count
        self._held = ""

    def reasoning(self, text: str) -> Limited:
        """Limit a reasoning piece (stop sequences do not apply to reasoning)."""
        return self._budget(text)

    def answer(self, text: str) -> Limited:
        """Limit an answer piece."""
        if not self._stops:
            return self._budget(text)
        buffer = self._held + text
        cut = min((i for i in (buffer.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            limited = self._budget(buffer[:cut])
            return Limited(limited.text, stop=not limited.length, length=limited.length)
        keep = self._partial_stop_suffix(buffer)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return self._budget(buffer[: len(buffer) - keep])

    def flush(self) -> Limited:
        """Release held-back text at the end of the answer."""
        held, self._held = self._held, ""
        return self._budget(held)

    def _partial_stop_suffix(self, buffer: str) -> int:
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), longest, -1):
                if buffer.endswith(stop[:size]):
                    longest = size
                    break
        return longest

    def _budget(self, text: str) -> Limited:
        if self._remaining is None or not text:
            return Limited(text)
        tokens = self._count(text)
        if tokens <= self._remaining:
            self._remaining -= tokens
            return Limited(text, length=self._remaining == 0 and tokens > 0)
        low, high = 0, len(text)  # longest prefix that fits
        while low < high:
            mid = (low + high + 1) // 2
            if self._count(text[:mid]) <= self._remaining:
                low = mid
            else:
                high = mid - 1
        self._remaining = 0
        return Limited(text[:low], length=True)
