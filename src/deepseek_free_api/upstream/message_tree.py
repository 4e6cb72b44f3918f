"""The patch tree of a generation-2 or -3 message, its frames applied and read into events.

Frames that arrive together are decoded together: a run of frames that only append plain text
(no ``[``) to one field is applied to the patch state and read once, when the run ends or the
decoder's ``feed()`` call does, and adjacent text or reasoning pieces of one call are merged into
one event (``upstream.decoder``). Any other frame (a new fragment, references, a status) is read at
once, with what came before it read first, so events come in the same order, with citations at the
same positions, as if the tree were read after every frame. The common frame, ``{"v": "text"}``
going on with the text the last frame grew, takes a shortcut (no path resolution, no second look at
the frame), and while only that text grew the generation layer reads its fragment alone
(``grown``), not the whole response: ``fast=False`` turns both off, the reference the shortcut is
tested on. What the tree tells of the message itself (ids, usage, status) goes to ``MessageFacts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepseek_free_api.upstream.citations import CitationBook
from deepseek_free_api.upstream.events import FinishStatus, StreamEvent
from deepseek_free_api.upstream.generations import Gen2Layer, Gen3Layer
from deepseek_free_api.upstream.message_facts import MessageFacts, as_int
from deepseek_free_api.upstream.patch import APPEND, PatchError, PatchState

_TERMINAL: dict[Any, FinishStatus] = {
    "FINISHED": "FINISHED",
    "CONTENT_FILTER": "CONTENT_FILTER",
    "INCOMPLETE": "INCOMPLETE",
}


class MessageTree:
    """The patch state of one message (renewed per ``chat/continue`` round) and its reading."""

    def __init__(self, book: CitationBook, facts: MessageFacts, *, fast: bool) -> None:
        """``fast=False`` reads every frame the general way (see the module docstring)."""
        self._fast = fast
        self._facts = facts
        self._state = PatchState()
        self._gen2 = Gen2Layer(book)
        self._gen3 = Gen3Layer(book)
        # 1, 2 or 3 once detected: 2 and 3 from the tree's shape, 1 by the decoder (gen-1 chunks).
        self.generation: int | None = None
        self._pending: str | None = None  # path of the text field whose appends are not read yet

    def new_round(self) -> None:
        """The next frames are a ``chat/continue`` stream: they build a new tree."""
        self._state = PatchState()
        self._forget()

    def appended(self, frame: dict[str, Any], out: list[StreamEvent]) -> bool:
        """The fast path of nearly every frame, ``{"v": "text"}``; ``False`` when it does not apply.

        Such a frame keeps the sticky path and op, so when the last frame appended text it appends
        to the same text: exactly what ``continues_run`` and ``apply`` would do with it, without
        resolving the path or reading the tree again.
        """
        value = frame.get("v")
        text = self._state.live_text
        if type(value) is not str or "[" in value or text is None or self.generation is None:
            return False
        path = self._state.path
        if self._pending != path:  # as ``continues_run``: another field's run is read first
            self.catch_up(out)
        text.append(value)
        layer: Gen2Layer | Gen3Layer = self._gen3 if self.generation == 3 else self._gen2
        if layer.holding:
            self._read(out)
        else:
            self._pending = path
        return True

    def continues_run(self, frame: Mapping[str, Any]) -> bool:
        """``frame`` appends plain text to the field whose appends are not read yet."""
        value = frame.get("v")
        return (
            self._pending is not None
            and isinstance(value, str)
            and "[" not in value
            and self._state.resolve(frame) == (self._pending, APPEND)
        )

    def catch_up(self, out: list[StreamEvent]) -> None:
        """Read the text appended by the frames put off so far."""
        if self._pending is not None:
            self._pending = None
            text = self._state.live_text
            # Only that text grew since the tree was last read: the layer reads it alone.
            grown = None
            if self._fast and text is not None:
                if self.generation == 3:
                    grown = self._gen3.grown(text)
                elif self.generation == 2:
                    grown = self._gen2.grown(text)
            out += self.derive(final=False) if grown is None else grown

    def apply(self, frame: Mapping[str, Any], out: list[StreamEvent]) -> None:
        """Apply a patch frame, and read the tree now or, for a plain append, with the frames after it.

        Raises ``PatchError`` when the frame does not apply.
        """
        try:
            grown = self._state.apply(frame)
        except PatchError:
            self._forget()  # a BATCH may have applied in part
            raise
        if grown is not None and self.generation is not None and self._may_defer(frame):
            # Only one string grew, with no "[" that could start a marker: reading the tree
            # now would give the same events as reading it after the next frames.
            self._pending = grown
            return
        self._read(out)

    def derive(self, *, final: bool) -> list[StreamEvent]:
        """The events of what the tree holds that were not given yet (``final``: hold nothing back)."""
        response = self._response()
        if response is None:
            return []
        if self.generation == 3:
            return self._gen3.events(response, final=final)
        if self.generation == 2:
            return self._gen2.events(response, final=final)
        return []

    def _forget(self) -> None:
        """The tree changed without the layers reading it: their shortcut (``grown``) is void."""
        self._gen3.forget()
        self._gen2.forget()

    def _read(self, out: list[StreamEvent]) -> None:
        """Read the tree after a frame that changed it: ids, text, usage, the end."""
        response = self._response()
        if response is None:
            self._forget()
            return
        if self.generation is None:
            if "fragments" in response:
                self.generation = 3
            elif {"content", "thinking_content", "search_results"} & response.keys():
                self.generation = 2
        facts = self._facts
        if facts.response_id is None:
            facts.ids(as_int(response.get("parent_id")), as_int(response.get("message_id")), out)
        raw_status = response.get("status")
        # A status that is no string (an object, a list) is no terminal one, and cannot be hashed.
        status = _TERMINAL.get(raw_status) if isinstance(raw_status, str) else None
        terminal = facts.finish is None and status is not None
        # Resolve after the whole frame: a [reference:N] and its entry may share one BATCH.
        out += self.derive(final=terminal and status != "INCOMPLETE")
        usage = as_int(response.get("accumulated_token_usage"))
        if usage:  # the snapshot's 0 says nothing yet
            facts.used(usage, out)
        if terminal and status is not None:
            if status == "FINISHED" and response.get("auto_continue") is True:
                status = "INCOMPLETE"  # upstream asks for chat/continue itself
            template = Gen3Layer.template(response) if status == "CONTENT_FILTER" else None
            facts.finished(status, template, out)

    def _may_defer(self, frame: Mapping[str, Any]) -> bool:
        value = frame["v"]
        layer: Gen2Layer | Gen3Layer = self._gen3 if self.generation == 3 else self._gen2
        return isinstance(value, str) and "[" not in value and not layer.holding

    def _response(self) -> Mapping[str, Any] | None:
        """The patch state's ``response`` object, once there is one."""
        tree = self._state.tree
        response = tree.get("response") if isinstance(tree, dict) else None
        return response if isinstance(response, dict) else None  # parsed JSON: dict, no ABC check
