"""The upstream side of one turn: DeepSeek's generation, stopped and closed on every exit.

``Generation`` owns the turn's upstream stream from before its request is sent. Leaving its
``async with`` in any way first tells DeepSeek to stop a generation that may have started and not
reached its end, then closes the stream. The message id of the stop is the one DeepSeek said, or
read from the stream if the turn was abandoned before DeepSeek said it, or, when no answer came at
all (the client left or the request timed out while the headers were awaited), the id the answer
gets by PROTOCOL.md §4.3 (DeepSeek accepts a stop for the session's current message, §4.4).

A stop DeepSeek does not confirm is noted in ``unconfirmed``: the failover loop then hands the
lease to ``chat.parking``, which retries the stop and keeps the account from the next request
until DeepSeek confirms or the longest generation has passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import anyio

from deepseek_free_api import scopes
from deepseek_free_api.chat.ports import GenerationNotes
from deepseek_free_api.errors import InvalidSessionError
from deepseek_free_api.upstream.client import CompletionParams, Identity, UpstreamStream
from deepseek_free_api.upstream.decoder import StreamDecoder

log = logging.getLogger(__name__)

# How long a stop_stream may take, and how long we read an abandoned stream for its message id.
STOP_TIMEOUT_S = 5.0
FIND_ID_TIMEOUT_S = 2.0


class Upstream(Protocol):
    """The DeepSeek calls a turn makes (``upstream.client.DeepSeekClient``)."""

    def completion(self, identity: Identity, params: CompletionParams, pow_header: str) -> UpstreamStream: ...
    def continuation(self, identity: Identity, session_id: str, message_id: int) -> UpstreamStream: ...
    async def stop_stream(self, identity: Identity, session_id: str, message_id: int) -> None: ...
    async def delete_session(self, identity: Identity, session_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class UnconfirmedStop:
    """A generation DeepSeek may still run: its stop failed, so the account must not be handed on."""

    identity: Identity
    session_id: str
    message_id: int
    started_at: float  # time.monotonic() when it was requested


def answer_id(parent_message_id: int | None) -> int:
    """The message id DeepSeek gives the answer of a new turn (2 in a new session; PROTOCOL.md §4.3)."""
    return 2 if parent_message_id is None else parent_message_id + 2


async def send_stop(client: Upstream, stop: UnconfirmedStop) -> None:
    """One bounded ``chat/stop_stream``; returns once DeepSeek confirmed nothing runs under that id."""
    try:
        with anyio.fail_after(STOP_TIMEOUT_S):
            await client.stop_stream(stop.identity, stop.session_id, stop.message_id)
    except InvalidSessionError:
        pass  # no such message or session (the request never reached DeepSeek): nothing to stop


class Generation:
    """The upstream side of one turn; ``async with`` it so it is stopped and closed on every exit."""

    def __init__(
        self, client: Upstream, identity: Identity, session_id: str, notes: GenerationNotes | None = None
    ) -> None:
        self.client = client
        self.identity = identity
        self.session_id = session_id
        self._notes = notes
        self.decoder = StreamDecoder()
        self.stream: UpstreamStream | None = None
        self.running = False  # DeepSeek may be generating (requested, and no end seen or confirmed)
        self.unconfirmed: UnconfirmedStop | None = None
        self._expected_id: int | None = None
        self._started_at = 0.0
        self._noting: _Announced | None = None  # the store's note, started by ``announce``

    @property
    def message_id(self) -> int | None:
        """The assistant message id, once DeepSeek said it."""
        return self.decoder.response_message_id

    def announce(self, expected_id: int) -> None:
        """Have the note on the lease travel while the turn waits before ``request`` (the PoW answer);
        ``request`` awaits it. A turn that does not wait meanwhile has ``request`` make it itself."""
        if self._noting is None and self._notes is not None:
            self._noting = _Announced(self._notes, self.session_id, expected_id)

    async def _noted(self, expected_id: int) -> None:
        """The note for ``expected_id`` has landed (CapacityError if the lease was lost meanwhile)."""
        announced, self._noting = self._noting, None
        task = None if announced is None else announced.withdraw()
        if task is not None:
            await _settle(task)
            if announced is not None and announced.expected_id == expected_id:
                task.result()
                return
            # announced for another message: note this one instead
        if self._notes is None:
            return
        # Awaited here, the note costs no task and no turn of the loop (a SQLite or memory store
        # answers at once); shielded like ``_settle``: a note that began lands whatever the caller.
        with scopes.shielded():
            await self._notes.generating(self.session_id, expected_id)

    async def request(self, stream: UpstreamStream, expected_id: int) -> None:
        """Own ``stream`` (closing the previous round's), then send it; ``expected_id``: its answer's id.

        From here on a stop is due on exit, unless DeepSeek refused the request outright. The
        generation is noted on the lease *before* the request goes out (started early by
        ``announce``), so that a process taking the account after this one was killed always knows
        what to stop: noted while the request went out, a kill between the two left a generation
        nobody knew of. A note that fails (the lease was lost) fails the request before anything is
        sent.
        """
        if self.stream is not None:
            await self.stream.aclose()
            self.stream = None
        self.stream = stream  # owned from here: closed on every exit, even if never sent
        await self._noted(expected_id)
        self.running, self._expected_id = True, expected_id
        self._started_at = time.monotonic()
        try:
            await stream.open()
        except Exception:
            if stream.refused:
                self.running = False  # an envelope or error page instead of a stream: nothing started
            raise

    def ended(self) -> None:
        """DeepSeek reached a terminal status (FINISHED, CONTENT_FILTER or INCOMPLETE)."""
        self.running = False

    async def __aenter__(self) -> Generation:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with scopes.shielded():
            try:
                if self._noting is not None:  # announced, never requested: a note on its way lands
                    task, self._noting = self._noting.withdraw(), None
                    if task is not None:
                        await _settle(task)
                if self.running:
                    await self.stop()
            finally:
                if self.stream is not None:
                    await self.stream.aclose()

    async def stop(self) -> None:
        """Tell DeepSeek to stop (caller gone, limit reached, error, shutdown); bounded.

        When DeepSeek does not confirm, ``unconfirmed`` says what to retry (see ``chat.parking``).
        """
        if self.message_id is None and self.stream is not None and self.stream.opened:
            await self._find_message_id(self.stream)
        message_id = self.message_id if self.message_id is not None else self._expected_id
        if message_id is None:  # pragma: no cover - running is only set by request()
            return
        stop = UnconfirmedStop(self.identity, self.session_id, message_id, self._started_at)
        try:
            await send_stop(self.client, stop)
        except Exception as exc:  # noqa: BLE001 - the account is parked until the stop is confirmed
            log.warning("stop_stream for message %d failed (%s); the account stays parked", message_id, exc)
            self.unconfirmed = stop
            return
        self.running = False
        self.unconfirmed = None

    async def _find_message_id(self, stream: UpstreamStream) -> None:
        # Abandoned before ``ready``: the id comes in the first frames, read them (bounded).
        with anyio.move_on_after(FIND_ID_TIMEOUT_S):
            try:
                async with aclosing(aiter(stream)) as chunks:
                    async for chunk in chunks:
                        self.decoder.feed(chunk)
                        if self.message_id is not None:
                            return
            except Exception:  # noqa: BLE001 - a broken stream has no id to offer
                return


class _Announced:
    """A note to start once the turn first waits: at the loop's next turn, which comes only then."""

    def __init__(self, notes: GenerationNotes, session_id: str, expected_id: int) -> None:
        self.expected_id = expected_id
        self._task: asyncio.Future[None] | None = None
        self._start = asyncio.get_running_loop().call_soon(self._begin, notes, session_id)

    def _begin(self, notes: GenerationNotes, session_id: str) -> None:
        self._task = asyncio.ensure_future(notes.generating(session_id, self.expected_id))

    def withdraw(self) -> asyncio.Future[None] | None:
        """The note on its way, if it started; otherwise it never will."""
        self._start.cancel()
        return self._task


async def _settle(note: asyncio.Future[None]) -> None:
    """Wait for a note to land, whatever happens to the waiter (bounded by one store call)."""
    if not note.done():  # landed while the turn waited (the usual case): no scope, no trip through the loop
        with scopes.shielded():
            await asyncio.wait([note])
    if not note.cancelled():
        note.exception()  # retrieved: whoever needs the outcome calls ``result()``
