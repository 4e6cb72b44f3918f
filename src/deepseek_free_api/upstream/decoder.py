"""DeepSeek completion stream -> internal events (``upstream.events``), for all three generations.

One ``StreamDecoder`` spans one assistant message, across ``chat/continue`` rounds: feed bytes as
they arrive, get events; call ``begin_continuation()`` before feeding the next round's stream.
The generation is detected from the first frames (PROTOCOL.md §5): ``choices`` chunks are gen 1,
a patch state with ``response.content``/``thinking_content`` is gen 2, ``response.fragments`` gen 3.

Frames that arrive together are decoded together: a run of frames that only append plain text
(no ``[``) to one field is applied to the patch state and read once, when the run ends or the
``feed()`` call does, and adjacent text or reasoning pieces of one call are merged into one
event. Any other frame (a new fragment, references, a status) is read at once, with what came
before it read first, so events come in the same order, with citations at the same positions,
as if the tree were read after every frame. The common frame, ``{"v": "text"}`` going on with the
text the last frame grew, takes a shortcut (no path resolution, no second look at the frame), and
while only that text grew the generation layer reads its fragment alone (``grown``), not the whole
response: ``StreamDecoder(fast=False)`` turns both off, the reference the shortcut is tested on.

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
    Ready,
    ReasoningDelta,
    StreamErrorFrame,
    StreamEvent,
    TextDelta,
    Title,
    Usage,
)
from deepseek_free_api.upstream.generations import Gen1Layer, Gen2Layer, Gen3Layer
from deepseek_free_api.upstream.patch import APPEND, PatchError, PatchState
from deepseek_free_api.upstream.sse import SSEEvent, SSEReader

logger = logging.getLogger(__name__)

_TERMINAL: dict[Any, FinishStatus] = {
    "FINISHED": "FINISHED",
    "CONTENT_FILTER": "CONTENT_FILTER",
    "INCOMPLETE": "INCOMPLETE",
}
# Gen 1 finish reasons that end the answer normally; others ("backend_busy", 2025-H1) are errors.
_GEN1_FINISH: dict[str, FinishStatus] = {"stop": "FINISHED", "content_filter": "CONTENT_FILTER"}
_IGNORED_EVENTS = frozenset({"update_session", "finish", "close"})  # "finish" is unreliable (§5.1)


class StreamDecoder:
    """Incremental decoder of one assistant message's SSE stream(s)."""

    def __init__(self, *, fast: bool = True) -> None:
        """``fast=False`` reads every frame the general way (the reference the fast path is tested on)."""
        self._fast = fast
        self._reader = SSEReader()
        self._state = PatchState()
        self._book = CitationBook()
        self._gen1 = Gen1Layer(self._book)
        self._gen2 = Gen2Layer(self._book)
        self._gen3 = Gen3Layer(self._book)
        self._generation: int | None = None
        self._request_id: int | None = None
        self._response_id: int | None = None
        self._ready: Ready | None = None
        self._model_type: str | None = None
        self._finish: Finish | None = None
        self._usage: int | None = None
        self._skipped = 0
        self._pending: str | None = None  # path of the text field whose appends are not read yet

    @property
    def generation(self) -> int | None:
        """1, 2 or 3 once detected."""
        return self._generation

    @property
    def response_message_id(self) -> int | None:
        """The assistant message id (for multi-turn, continue and stop_stream)."""
        return self._response_id

    @property
    def request_message_id(self) -> int | None:
        """The user message id of this turn."""
        return self._request_id

    @property
    def skipped_frames(self) -> int:
        """Malformed frames skipped so far (each also logged as a warning)."""
        return self._skipped

    @property
    def finish(self) -> Finish | None:
        """The terminal status of the current round, or ``None`` while none was seen."""
        return self._finish

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Decode more bytes."""
        out: list[StreamEvent] = []
        for event in self._reader.feed(chunk):
            if event.event == "message":
                self._message(event.data, out)
            else:
                self._event(event, out)
        self._catch_up(out)
        return _coalesced(out)

    def close(self) -> list[StreamEvent]:
        """End of the stream: flush held-back text (no Finish is invented for a cut stream).

        After an INCOMPLETE round the held-back tail (a possible ``[reference:`` start) is kept
        for the ``chat/continue`` stream, which goes on with the same fragment.
        """
        out: list[StreamEvent] = []
        for event in self._reader.close():
            self._event(event, out)
        self._catch_up(out)
        if self._finish is not None and self._finish.status == "INCOMPLETE":
            return _coalesced(out)
        if self._generation == 1:
            out += self._gen1.flush()
        elif self._generation in (2, 3):
            out += self._derive(final=True)
        return _coalesced(out)

    def begin_continuation(self) -> None:
        """The next bytes are a new ``chat/continue`` stream of the same message."""
        self._reader = SSEReader()
        self._state = PatchState()
        self._finish = None
        self._forget()

    # -- events ----------------------------------------------------------------------------

    def _event(self, event: SSEEvent, out: list[StreamEvent]) -> None:
        name = event.event
        if name in _IGNORED_EVENTS:
            return
        if name == "message":
            self._message(event.data, out)
            return
        self._catch_up(out)
        payload = _loads(event.data)
        if name == "ready" and isinstance(payload, Mapping):
            self._on_ready(payload, out)
        elif name in ("hint", "toast"):
            out.append(_error_frame(payload, event.data, name))
        elif name == "title" and isinstance(payload, Mapping) and isinstance(payload.get("content"), str):
            out.append(Title(payload["content"]))
        # Other named events are new UI signals: nothing in them is answer text.

    def _on_ready(self, payload: Mapping[str, Any], out: list[StreamEvent]) -> None:
        model_type = payload.get("model_type")
        ready = Ready(
            request_message_id=_int(payload.get("request_message_id")),
            response_message_id=_int(payload.get("response_message_id")),
            model_type=model_type if isinstance(model_type, str) else None,
        )
        self._model_type = ready.model_type or self._model_type
        if ready.response_message_id is None:
            return  # 2025-05 form {"stream_id"}: the ids come with the snapshot (see _ids)
        self._ids(ready.request_message_id, ready.response_message_id, out)

    def _ids(self, request_id: int | None, response_id: int | None, out: list[StreamEvent]) -> None:
        """Remember the message ids and announce them once (continuations repeat them)."""
        self._request_id = request_id or self._request_id
        self._response_id = response_id or self._response_id
        ready = Ready(self._request_id, self._response_id, self._model_type)
        if self._response_id is not None and ready != self._ready:
            self._ready = ready
            out.append(ready)

    def _message(self, data: str, out: list[StreamEvent]) -> None:
        frame = _loads(data)  # "[DONE]" is no JSON: it comes out None
        if type(frame) is dict and len(frame) == 1 and self._fast and self._appended(frame, out):
            return
        if data.strip() == "[DONE]":  # gen 1 end marker
            return
        if not isinstance(frame, Mapping):
            self._skip("not a JSON object", data)
            return
        if "v" not in frame or not self._continues_run(frame):
            self._catch_up(out)
        if frame.get("type") == "error" and "v" not in frame:
            out.append(_error_frame(frame, data, None))
        elif "choices" in frame:
            self._gen1_chunk(frame, out)
        elif "v" in frame:
            self._patch(frame, data, out)
        elif frame.get("code") == "content_filter":  # pre-2025-07 form (DS2-py sse_parser)
            self._set_finish("CONTENT_FILTER", None, out)
        elif (envelope := _envelope_frame(frame)) is not None:
            out.append(envelope)
        elif "error" in frame:
            out.append(_error_frame(frame.get("error"), data, None))
        else:
            self._skip("unknown frame shape", data)

    def _appended(self, frame: dict[str, Any], out: list[StreamEvent]) -> bool:
        """The fast path of nearly every frame, ``{"v": "text"}``; ``False`` when it does not apply.

        Such a frame keeps the sticky path and op, so when the last frame appended text it appends
        to the same text: exactly what ``_message`` and ``_patch`` would do with it, without
        resolving the path or reading the tree again.
        """
        value = frame.get("v")
        text = self._state.live_text
        if type(value) is not str or "[" in value or text is None or self._generation is None:
            return False
        path = self._state.path
        if self._pending != path:  # as ``_continues_run``: another field's run is read first
            self._catch_up(out)
        text.append(value)
        layer: Gen2Layer | Gen3Layer = self._gen3 if self._generation == 3 else self._gen2
        if layer.holding:
            self._read_state(out)
        else:
            self._pending = path
        return True

    def _continues_run(self, frame: Mapping[str, Any]) -> bool:
        """``frame`` appends plain text to the field whose appends are not read yet."""
        value = frame.get("v")
        return (
            self._pending is not None
            and isinstance(value, str)
            and "[" not in value
            and self._state.resolve(frame) == (self._pending, APPEND)
        )

    def _catch_up(self, out: list[StreamEvent]) -> None:
        """Read the text appended by the frames put off so far."""
        if self._pending is not None:
            self._pending = None
            text = self._state.live_text
            # Only that text grew since the tree was last read: the layer reads it alone.
            grown = None
            if self._fast and text is not None:
                if self._generation == 3:
                    grown = self._gen3.grown(text)
                elif self._generation == 2:
                    grown = self._gen2.grown(text)
            out += self._derive(final=False) if grown is None else grown

    def _forget(self) -> None:
        """The tree changed without the layers reading it: their shortcut (``grown``) is void."""
        self._gen3.forget()
        self._gen2.forget()

    def _patch(self, frame: Mapping[str, Any], data: str, out: list[StreamEvent]) -> None:
        try:
            grown = self._state.apply(frame)
        except PatchError as exc:
            self._forget()  # a BATCH may have applied in part
            self._skip(f"patch not applicable: {exc}", data)
            return
        if grown is not None and self._generation is not None and self._may_defer(frame):
            # Only one string grew, with no "[" that could start a marker: reading the tree
            # now would give the same events as reading it after the next frames.
            self._pending = grown
            return
        self._read_state(out)

    def _read_state(self, out: list[StreamEvent]) -> None:
        """Read the tree after a frame that changed it: ids, text, usage, the end."""
        response = self._response()
        if response is None:
            self._forget()
            return
        if self._generation is None:
            if "fragments" in response:
                self._generation = 3
            elif {"content", "thinking_content", "search_results"} & response.keys():
                self._generation = 2
        if self._response_id is None:
            self._ids(_int(response.get("parent_id")), _int(response.get("message_id")), out)
        raw_status = response.get("status")
        # A status that is no string (an object, a list) is no terminal one, and cannot be hashed.
        status = _TERMINAL.get(raw_status) if isinstance(raw_status, str) else None
        terminal = self._finish is None and status is not None
        # Resolve after the whole frame: a [reference:N] and its entry may share one BATCH.
        out += self._derive(final=terminal and status != "INCOMPLETE")
        usage = _int(response.get("accumulated_token_usage"))
        if usage and usage != self._usage:  # the snapshot's 0 says nothing yet
            self._usage = usage
            out.append(Usage(usage))
        if terminal and status is not None:
            if status == "FINISHED" and response.get("auto_continue") is True:
                status = "INCOMPLETE"  # upstream asks for chat/continue itself
            template = Gen3Layer.template(response) if status == "CONTENT_FILTER" else None
            self._set_finish(status, template, out)

    def _may_defer(self, frame: Mapping[str, Any]) -> bool:
        value = frame["v"]
        layer: Gen2Layer | Gen3Layer = self._gen3 if self._generation == 3 else self._gen2
        return isinstance(value, str) and "[" not in value and not layer.holding

    def _response(self) -> Mapping[str, Any] | None:
        """The patch state's ``response`` object, once there is one."""
        tree = self._state.tree
        response = tree.get("response") if isinstance(tree, dict) else None
        return response if isinstance(response, Mapping) else None

    def _derive(self, *, final: bool) -> list[StreamEvent]:
        response = self._response()
        if response is None:
            return []
        if self._generation == 3:
            return self._gen3.events(response, final=final)
        if self._generation == 2:
            return self._gen2.events(response, final=final)
        return []

    def _gen1_chunk(self, frame: Mapping[str, Any], out: list[StreamEvent]) -> None:
        self._generation = self._generation or 1
        if self._response_id is None:
            self._ids(_int(frame.get("parent_id")), _int(frame.get("message_id")), out)
        choices = frame.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, Mapping):
            return
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            out += self._gen1.events(delta)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason and self._finish is None:
            out += self._gen1.flush()
            if reason in _GEN1_FINISH:
                self._set_finish(_GEN1_FINISH[reason], None, out)
            else:
                out.append(StreamErrorFrame(f"DeepSeek ended the answer with {reason}", reason))

    def _set_finish(self, status: FinishStatus, template: str | None, out: list[StreamEvent]) -> None:
        if self._finish is None:
            self._finish = Finish(status, template)
            out.append(self._finish)

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


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _envelope_frame(frame: Mapping[str, Any]) -> StreamErrorFrame | None:
    """A JSON envelope inside the stream (``{"code": 50006, "data": {"mute_until": …}}``), if failed.

    Account signals arrive this way inside an HTTP-200 stream (chm413, 2026-08): 50006 muted,
    40012 banned, 90008 disabled (also as ``data.biz_code``).
    """
    code = _int(frame.get("code"))
    data: Mapping[str, Any] = frame["data"] if isinstance(frame.get("data"), Mapping) else {}
    biz_code = _int(data.get("biz_code"))
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
