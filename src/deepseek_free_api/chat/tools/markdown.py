"""Where a streamed answer is in its Markdown: inside code (a fence or an inline span) or not.

Tool markup inside code only shows what a call looks like; the scanner asks ``in_code`` before it
treats a ``<`` as the start of a call. Fences follow CommonMark (up to three spaces of indent, three
or more backticks or tildes, closed by a run at least as long); an inline span is closed by a run of
the same length, and ends with its line (a stray backtick must not hide the calls that follow).
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"[\n`<]")


class MarkdownState:
    """Where we are in the Markdown of the answer: inside a code fence, an inline code span, or not."""

    def __init__(self) -> None:
        self.fence: str | None = None  # the opening fence while inside a fenced block
        self._head = ""  # the start of the current line while it may still be a fence
        self._head_done = False
        self._fence_line = False  # this line opens a fence (the rest is its info string)
        self._closing = False  # this line may close the fence (only whitespace may follow)
        self._ticks = 0  # a run of backticks not yet ended
        self._inline = 0  # length of the backtick run that opened an inline code span

    @property
    def in_code(self) -> bool:
        """Whether the next character is Markdown code (so markup there is only shown)."""
        return self.fence is not None or self._fence_line or self._inline > 0

    def feed(self, text: str, start: int, end: int) -> None:
        """Account for ``text[start:end]``."""
        i = start
        while i < end:
            ch = text[i]
            if not self._head_done and ch != "\n":
                if self._extends_head(ch):
                    self._head += ch
                    i += 1
                    continue
                self._decide_head()
            if ch == "\n":
                self._end_line()
            elif self.fence is not None or self._fence_line:
                if self._closing and not ch.isspace():
                    self._closing = False
                if not self._closing:
                    newline = text.find("\n", i, end)
                    i = end if newline < 0 else newline
                    continue
            elif ch == "`":
                self._ticks += 1
            else:
                self._end_ticks()
                match = _SPECIAL.search(text, i + 1, end)
                i = end if match is None else match.start()
                continue
            i += 1

    def mid_line(self) -> None:
        """Text that is not scanned (a block) was passed: the line has begun."""
        if not self._head_done:
            self._decide_head()
        self._end_ticks()

    def _extends_head(self, ch: str) -> bool:
        run = self._head.lstrip(" ")
        if ch == " ":
            return not run and len(self._head) < 3
        return ch in "`~" and (not run or run[0] == ch)

    def _decide_head(self) -> None:
        self._head_done = True
        run = self._head.lstrip(" ")
        if len(run) >= 3:
            if self.fence is None:
                self.fence, self._fence_line = run, True
            elif run[0] == self.fence[0] and len(run) >= len(self.fence):
                self._closing = True
        elif run.startswith("`") and self.fence is None:
            self._ticks = len(run)

    def _end_ticks(self) -> None:
        if self._ticks:
            if not self._inline:
                self._inline = self._ticks
            elif self._inline == self._ticks:
                self._inline = 0
            self._ticks = 0

    def _end_line(self) -> None:
        if not self._head_done:
            self._decide_head()
        if self._closing:
            self.fence = None
        self._head, self._head_done, self._fence_line, self._closing = "", False, False, False
        self._ticks = self._inline = 0
