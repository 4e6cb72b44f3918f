"""Text every dialect's renderer writes into the answer: reasoning shown inline, and the sources list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from deepseek_free_api.chat.events import Citation
from deepseek_free_api.chat.request import ReasoningMode

# Reasoning shown inside the answer text (``think_tags``, or a ``-fold`` model's ``details``):
# its opening and closing text.
INLINE_REASONING: dict[ReasoningMode, tuple[str, str]] = {
    "think_tags": ("<think>\n", "</think>\n\n"),
    "details": ("<details>\n<summary>Thinking</summary>\n\n", "\n</details>\n\n"),
}


@dataclass(slots=True)
class InlineReasoning:
    """Reasoning written into the answer: opened before its first piece, closed once, never reopened."""

    state: Literal["before", "open", "closed"] = "before"

    def open(self, mode: ReasoningMode, text: str) -> str:
        """``text`` with the opening tag before the first piece."""
        if self.state != "before":
            return text
        self.state = "open"
        return INLINE_REASONING[mode][0] + text

    def close(self, mode: ReasoningMode) -> str:
        """The closing tag when reasoning is open, else nothing."""
        if self.state != "open":
            return ""
        self.state = "closed"
        return INLINE_REASONING[mode][1]


def sources_list(cited: Iterable[Citation]) -> str:
    """The "Sources:" list appended to an answer with citations (empty without any)."""
    lines = [f"{c.number}. [{c.title or c.url}]({c.url})" for c in cited]
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""
