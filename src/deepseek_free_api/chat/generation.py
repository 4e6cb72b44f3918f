"""The upstream side of one turn: DeepSeek's generation, stopped and closed on every exit.

``Generation`` owns the turn's upstream stream. Leaving its ``async with`` in any way first tells
DeepSeek to stop a generation that has not reached its end (reading the message id from the
stream if the turn was abandoned before DeepSeek said it), then closes the stream. The failover
loop releases the lease only after that, so an account is never handed on while it generates.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Protocol

import anyio

from deepseek_free_api.upstream.client import CompletionParams, Identity, UpstreamStream
from deepseek_free_api.upstream.decoder import StreamDecoder

log = logging.getLogger(__name__)

# How long a stop_stream may take, and how long we read an abandoned stream for its message id.
STOP_TIMEOUT_S = 5.0
FIND_ID_TIMEOUT_S = 2.0


class Upstream(Protocol):
    """The DeepSeek calls a turn makes (``upstream.client.DeepSeekClient``)."""

    async def open_completion(
        self, identity: Identity, params: CompletionParams, pow_header: str
    ) -> UpstreamStream: ...
    async def open_continue(self, identity: Identity, session_id: str, message_id: int) -> UpstreamStream: ...
    async def stop_stream(self, identity: Identity, session_id: str, message_id: int) -> None: ...
    async def delete_session(self, identity: Identity, session_id: str) -> None: ...


class Generation:
    """The upstream side of one turn; ``async with`` it so it is stopped and closed on every exit."""

    def __init__(self, client: Upstream, identity: Identity, session_id: str) -> None:
        self.client = client
        self.identity = identity
        self.session_id = session_id
        self.decoder = StreamDecoder()
        self.stream: UpstreamStream | None = None
        self.running = False  # DeepSeek is generating (a stream was opened and has not ended)

    @property
    def message_id(self) -> int | None:
        """The assistant message id, once DeepSeek said it."""
        return self.decoder.response_message_id

    async def open(self, stream: UpstreamStream) -> None:
        """Take over a freshly opened stream (closing the previous round's)."""
        if self.stream is not None:
            await self.stream.aclose()
        self.stream, self.running = stream, True

    def ended(self) -> None:
        """DeepSeek reached a terminal status (FINISHED, CONTENT_FILTER or INCOMPLETE)."""
        self.running = False

    async def __aenter__(self) -> Generation:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with anyio.CancelScope(shield=True):
            try:
                if self.running:
                    await self.stop()
            finally:
                if self.stream is not None:
                    await self.stream.aclose()

    async def stop(self) -> None:
        """Tell DeepSeek to stop (caller gone, limit reached, error, shutdown); bounded, best effort."""
        if self.message_id is None and self.stream is not None:
            await self._find_message_id(self.stream)
        if self.message_id is None:
            log.warning("a generation was left without its message id; DeepSeek may still be generating")
            return
        try:
            with anyio.fail_after(STOP_TIMEOUT_S):
                await self.client.stop_stream(self.identity, self.session_id, self.message_id)
            self.running = False
        except Exception as exc:  # noqa: BLE001 - best effort; the lease is released after it anyway
            log.warning("stop_stream failed: %s", exc)

    async def _find_message_id(self, stream: UpstreamStream) -> None:
        # Abandoned before ``ready``: the id comes in the first frames, read them (bounded).
        with anyio.move_on_after(FIND_ID_TIMEOUT_S):
            try:
                async for chunk in stream:
                    self.decoder.feed(chunk)
                    if self.message_id is not None:
                        return
            except Exception:  # noqa: BLE001 - a broken stream has no id to offer
                return
