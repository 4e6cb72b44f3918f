"""Incremental Server-Sent Events reader for DeepSeek's completion streams.

Bytes go in as they arrive (any split, even inside a multi-byte UTF-8 sequence or a ``\\r\\n``);
complete events come out as ``(event, data)`` pairs. All complete lines of a chunk are decoded in
one go (a line end never falls inside a code point, so a split code point is never seen), and
the rest waits for more bytes. Single ``data:`` lines can exceed 1 MB (whole snapshots, tool-call
arguments; DS2-go dropped ``bufio.Scanner`` for this, 2026), so there is no line limit and the
buffer is scanned from where the last scan stopped, never from the start again.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


class SSEEvent(NamedTuple):
    """One dispatched event; ``event`` is ``"message"`` when the stream named none."""

    event: str
    data: str


def _event(name: str, data: str) -> SSEEvent:
    """``SSEEvent(name, data)`` without the named tuple's Python-level ``__new__`` (per frame)."""
    return tuple.__new__(SSEEvent, (name, data))


class SSEReader:
    """Feed byte chunks, get complete events (WHATWG event-stream rules, lenient at EOF)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scan_from = 0  # no line end before this offset of ``_buffer``
        self._event = ""
        self._data: list[str] = []
        self._has_data = False
        self._first_line = True

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Add bytes; return the events they complete."""
        buffer = self._buffer
        events: list[SSEEvent] = []
        if not buffer and chunk.endswith(b"\n"):
            # Whole lines, nothing waiting (a paced stream sends one frame per chunk): the cut
            # below would take all of it.
            text = chunk.decode("utf-8", errors="replace")
            cut = len(chunk)
        else:
            buffer += chunk
            # A lone "\r" at the very end may be the first half of "\r\n": wait for the next byte.
            end = len(buffer) - (1 if buffer.endswith(b"\r") else 0)
            start = self._scan_from
            cut = max(buffer.rfind(b"\n", start, end), buffer.rfind(b"\r", start, end)) + 1
            if cut > 0:
                text = buffer[:cut].decode("utf-8", errors="replace")  # bad UTF-8 becomes U+FFFD
                del buffer[:cut]
        if cut > 0:
            # DeepSeek ends lines with "\n" only: a plain split is cheaper than the pattern.
            lines = _LINE_END.split(text) if "\r" in text else text.split("\n")
            lines.pop()  # "" after the last line end
            if self._first_line:
                self._first_line = False
                lines[0] = lines[0].removeprefix(_BOM)
            # The two lines nearly every event is made of ("data: …" and the blank line that ends
            # it) are handled here, without a call per line; ``_line`` reads the others.
            data = self._data
            new = tuple.__new__  # ``_event`` inline: once per frame
            for line in lines:
                if not line:  # ``_dispatch``
                    if self._has_data:
                        events.append(new(SSEEvent, (self._event or "message", "\n".join(data))))
                        self._data = data = []
                        self._has_data = False
                    self._event = ""
                elif line.startswith("data: "):
                    data.append(line[6:])
                    self._has_data = True
                else:
                    self._line(line, events)
                    data = self._data
        # What is left holds no line end (but maybe a trailing "\r"): never scan it again.
        self._scan_from = len(buffer) - (1 if buffer.endswith(b"\r") else 0)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: dispatch a last event even without its trailing blank line."""
        events: list[SSEEvent] = []
        if self._buffer:
            line = self._buffer.decode("utf-8", errors="replace").rstrip("\r")
            self._buffer.clear()
            self._scan_from = 0
            self._line(line, events)
        # Lenient on purpose: a server that closes right after "data: [DONE]" without the blank
        # line still meant that event.
        self._dispatch(events)
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if self._first_line:
            self._first_line = False
            line = line.removeprefix(_BOM)
        if not line:
            self._dispatch(events)
            return
        if line.startswith("data: "):  # nearly every line: no partition needed
            self._data.append(line[6:])
            self._has_data = True
            return
        if line.startswith(":"):
            return  # keep-alive comment (": " seen in 2026 captures)
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._has_data = True
        elif field == "event":
            self._event = value
        # "id" and "retry" are never used by DeepSeek; unknown fields are ignored by the spec.

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._has_data:
            events.append(_event(self._event or "message", "\n".join(self._data)))
        self._event = ""
        self._data = []
        self._has_data = False
