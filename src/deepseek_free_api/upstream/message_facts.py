"""What a DeepSeek stream tells of the message besides its text, each fact announced as its event once.

The message ids and model type come in the ``ready`` event, in the first patch snapshot (the
2025-05 ``ready`` carries only a ``stream_id``) or in every gen-1 chunk, and again in each
``chat/continue`` round: ``Ready`` goes out when they are first known and only if they change.
``Usage`` goes out when the token count changes, ``Finish`` once per round. ``MessageFacts`` keeps
them for one ``StreamDecoder`` (``upstream.decoder``), which finds them in the frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepseek_free_api.upstream.events import Finish, FinishStatus, Ready, StreamEvent, Usage


class MessageFacts:
    """The ids, model type, usage and finish of one assistant message, as told so far."""

    def __init__(self) -> None:
        self.request_id: int | None = None  # the user message of this turn
        self.response_id: int | None = None  # the assistant message (multi-turn, continue, stop)
        self.finish: Finish | None = None  # of the current round: reset by a continuation
        self._ready: Ready | None = None
        self._model_type: str | None = None
        self._usage: int | None = None

    def ready(self, payload: Mapping[str, Any], out: list[StreamEvent]) -> None:
        """The ``ready`` event's payload."""
        model_type = payload.get("model_type")
        ready = Ready(
            request_message_id=as_int(payload.get("request_message_id")),
            response_message_id=as_int(payload.get("response_message_id")),
            model_type=model_type if isinstance(model_type, str) else None,
        )
        self._model_type = ready.model_type or self._model_type
        if ready.response_message_id is None:
            return  # 2025-05 form {"stream_id"}: the ids come with the snapshot (see ids)
        self.ids(ready.request_message_id, ready.response_message_id, out)

    def ids(self, request_id: int | None, response_id: int | None, out: list[StreamEvent]) -> None:
        """Remember the message ids and announce them once (continuations repeat them)."""
        self.request_id = request_id or self.request_id
        self.response_id = response_id or self.response_id
        ready = Ready(self.request_id, self.response_id, self._model_type)
        if self.response_id is not None and ready != self._ready:
            self._ready = ready
            out.append(ready)

    def used(self, tokens: int, out: list[StreamEvent]) -> None:
        """The message's token count so far: announced when it changed."""
        if tokens != self._usage:
            self._usage = tokens
            out.append(Usage(tokens))

    def finished(self, status: FinishStatus, template: str | None, out: list[StreamEvent]) -> None:
        """The round ended with ``status``: announced unless it already ended."""
        if self.finish is None:
            self.finish = Finish(status, template)
            out.append(self.finish)


def as_int(value: Any) -> int | None:
    """``value`` if it is a JSON integer (no bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
