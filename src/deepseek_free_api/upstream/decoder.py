"""DeepSeek completion stream -> internal events (``upstream.events``), for all three generations.

One ``StreamDecoder`` spans one assistant message, across ``chat/continue`` rounds: feed bytes as
they arrive, get events; call ``begin_continuation()`` before feeding the next round's stream.
The generation is detected from the first frames (PROTOCOL.md §5): ``choices`` chunks are gen 1,
a patch state with ``response.content``/``thinking_content`` is gen 2, ``response.fragments`` gen 3.

Here the bytes become SSE events and each frame goes where it belongs: patch frames (gen 2 and 3)
to the message's patch tree (``upstream.message_tree``, which also decodes runs of frames that
arrive together in one go, and takes a shortcut for the common ``{"v": "text"}`` frame), gen-1
chunks to their layer, named events and error frames straight to events; the message's ids, usage
and finish to ``upstream.message_facts``. Adjacent text or reasoning pieces of one ``feed()`` call
are merged into one event.

Malformed input (a ``data:`` line that is not JSON, a patch frame that does not apply) is skipped,
counted in ``skipped_frames`` and logged without its content: DeepSeek adds frame kinds without
notice, and one odd frame should not cost the user a whole answer. A stream that never reaches a
terminal status still ends without ``Finish``, which the caller treats as an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson

from deepseek_free_api.upstream.citations import CitationBook
from deepseek_free_api.upstream.events import (
    Finish,
    FinishStatus,
    ReasoningDelta,
    StreamErrorFrame,
    StreamEvent,
    TextDelta,
    Title,
)
from deepseek_free_api.upstream.generations import Gen1Layer
from deepseek_free_api.upstream.message_facts import MessageFacts, as_int
from deepseek_free_api.upstream.message_tree import MessageTree
from deepseek_free_api.upstream.patch import PatchError
from deepseek_free_api.upstream.sse import SSEEvent, SSEReader

logger = logging.getLogger(__name__)

# Gen 1 finish reasons that end the answer normally; others ("backend_busy", 2025-H1) are errors.
_GEN1_FINISH: dict[str, FinishStatus] = {"stop": "FINISHED", "content_filter": "CONTENT_FILTER"}
_IGNORED_EVENTS = frozenset({"update_session", "finish", "close"})  # "finish" is unreliable (§5.1)


class StreamDecoder:
    """Incremental decoder of one assistant message's SSE stream(s)."""

    def __init__(self, *, fast: bool = True) -> None:
        """``fast=False`` reads every frame the general way (the reference the fast path is tested on)."""
        self._fast = fast
        self._reader = SSEReader()
        book = CitationBook()
        self._gen1 = Gen1Layer(book)
        self._facts = MessageFacts()
        self._tree = MessageTree(book, self._facts, fast=fast)
        self._skipped = 0

    @property
    def generation(self) -> int | None:
        """1, 2 or 3 once detected."""
        return self._tree.generation

    @property
    def response_message_id(self) -> int | None:
        """The assistant message id (for multi-turn, continue and stop_stream)."""
        return self._facts.response_id

    @property
    def request_message_id(self) -> int | None:
        """The user message id of this turn."""
        return self._facts.request_id

    @property
    def skipped_frames(self) -> int:
        """Malformed frames skipped so far (each also logged as a warning)."""
        return self._skipped

    @property
    def finish(self) -> Finish | None:
        """The terminal status of the current round, or ``None`` while none was seen."""
        return self._facts.finish

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Decode more bytes."""
        out: list[StreamEvent] = []
        for event in self._reader.feed(chunk):
            if event.event == "message":
                self._message(event.data, out)
            else:
                self._event(event, out)
        self._tree.catch_up(out)
        return _coalesced(out)

    def close(self) -> list[StreamEvent]:
        """End of the stream: flush held-back text (no Finish is invented for a cut stream).

        After an INCOMPLETE round the held-back tail (a possible ``[reference:`` start) is kept
        for the ``chat/continue`` stream, which goes on with the same fragment.
        """
        out: list[StreamEvent] = []
        for event in self._reader.close():
            self._event(event, out)
        self._tree.catch_up(out)
        finish = self._facts.finish
        if finish is not None and finish.status == "INCOMPLETE":
            return _coalesced(out)
        if self._tree.generation == 1:
            out += self._gen1.flush()
        elif self._tree.generation in (2, 3):
            out += self._tree.derive(final=True)
        return _coalesced(out)

    def begin_continuation(self) -> None:
        """The next bytes are a new ``chat/continue`` stream of the same message."""
        self._reader = SSEReader()
        self._facts.finish = None
        self._tree.new_round()

    def _event(self, event: SSEEvent, out: list[StreamEvent]) -> None:
        name = event.event
        if name in _IGNORED_EVENTS:
            return
        if name == "message":
            self._message(event.data, out)
            return
        self._tree.catch_up(out)
        payload = _loads(event.data)
        if name == "ready" and isinstance(payload, dict):
            self._facts.ready(payload, out)
        elif name in ("hint", "toast"):
            out.append(_error_frame(payload, event.data, name))
        elif name == "title" and isinstance(payload, dict) and isinstance(payload.get("content"), str):
            out.append(Title(payload["content"]))
        # Other named events are new UI signals: nothing in them is answer text.

    def _message(self, data: str, out: list[StreamEvent]) -> None:
        try:  # inline, not ``_loads``: once per frame
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:  # "[DONE]" is no JSON: it comes out None
            frame = None
        if type(frame) is dict and len(frame) == 1 and self._fast and self._tree.appended(frame, out):
            return
        if data.strip() == "[DONE]":  # gen 1 end marker
            return
        if not isinstance(frame, dict):  # orjson's objects are dicts: no ABC check per frame
            self._skip("not a JSON object", data)
            return
        if "v" not in frame or not self._tree.continues_run(frame):
            self._tree.catch_up(out)
        if frame.get("type") == "error" and "v" not in frame:
            out.append(_error_frame(frame, data, None))
        elif "choices" in frame:
            self._gen1_chunk(frame, out)
        elif "v" in frame:
            try:
                self._tree.apply(frame, out)
            except PatchError as exc:
                self._skip(f"patch not applicable: {exc}", data)
        elif frame.get("code") == "content_filter":  # pre-2025-07 form (DS2-py sse_parser)
            self._facts.finished("CONTENT_FILTER", None, out)
        elif (envelope := _envelope_frame(frame)) is not None:
            out.append(envelope)
        elif "error" in frame:
            out.append(_error_frame(frame.get("error"), data, None))
        else:
            self._skip("unknown frame shape", data)

    def _gen1_chunk(self, frame: Mapping[str, Any], out: list[StreamEvent]) -> None:
        self._tree.generation = self._tree.generation or 1
        facts = self._facts
        if facts.response_id is None:
            facts.ids(as_int(frame.get("parent_id")), as_int(frame.get("message_id")), out)
        choices = frame.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, Mapping):
            return
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            out += self._gen1.events(delta)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason and facts.finish is None:
            out += self._gen1.flush()
            if reason in _GEN1_FINISH:
                facts.finished(_GEN1_FINISH[reason], None, out)
            else:
                out.append(StreamErrorFrame(f"DeepSeek ended the answer with {reason}", reason))

    def _skip(self, reason: str, data: str) -> None:
        self._skipped += 1
        # Never the frame itself: it may hold the user's text.
        logger.warning("skipped a DeepSeek stream frame (%s; %d chars)", reason, len(data))


def decode_all(data: bytes) -> list[StreamEvent]:
    """Decode one whole stream at once."""
    decoder = StreamDecoder()
    return [*decoder.feed(data), *decoder.close()]


def _coalesced(events: list[StreamEvent]) -> list[StreamEvent]:
    """``events`` with each run of adjacent TextDelta (or ReasoningDelta) merged into one."""
    if len(events) < 2:
        return events
    out: list[StreamEvent] = []
    run: list[TextDelta | ReasoningDelta] = []
    for event in [*events, None]:
        if isinstance(event, TextDelta | ReasoningDelta) and (not run or type(event) is type(run[0])):
            run.append(event)
            continue
        if len(run) == 1:
            out.append(run[0])
        elif run:
            out.append(type(run[0])("".join(piece.text for piece in run)))
        run = [event] if isinstance(event, TextDelta | ReasoningDelta) else []
        if event is not None and not run:
            out.append(event)
    return out


def _loads(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _envelope_frame(frame: Mapping[str, Any]) -> StreamErrorFrame | None:
    """A JSON envelope inside the stream (``{"code": 50006, "data": {"mute_until": …}}``), if failed.

    Account signals arrive this way inside an HTTP-200 stream (chm413, 2026-08): 50006 muted,
    40012 banned, 90008 disabled (also as ``data.biz_code``).
    """
    code = as_int(frame.get("code"))
    data: Mapping[str, Any] = frame["data"] if isinstance(frame.get("data"), Mapping) else {}
    biz_code = as_int(data.get("biz_code"))
    if not code and not biz_code:
        return None
    biz_data: Mapping[str, Any] = data["biz_data"] if isinstance(data.get("biz_data"), Mapping) else {}
    until = data.get("mute_until", biz_data.get("mute_until"))
    texts = (frame.get("msg"), data.get("biz_msg"), biz_data.get("msg"))
    message = next((text for text in texts if isinstance(text, str) and text), "")
    return StreamErrorFrame(
        message,
        code=code or None,
        biz_code=biz_code or None,
        mute_until=float(until) if isinstance(until, int | float) and not isinstance(until, bool) else None,
    )


def _error_frame(payload: Any, raw: str, event: str | None) -> StreamErrorFrame:
    """A ``{"type":"error"}`` frame, ``hint`` or ``toast`` (peers read content or message)."""
    if isinstance(payload, Mapping):
        for key in ("content", "message", "msg", "biz_msg"):
            if isinstance(payload.get(key), str) and payload[key]:
                message = payload[key]
                break
        else:
            message = ""
        reason = payload.get("finish_reason")
        return StreamErrorFrame(message, reason if isinstance(reason, str) else None, event)
    if isinstance(payload, str):
        return StreamErrorFrame(payload, None, event)
    return StreamErrorFrame(raw.strip()[:500], None, event)
