"""The one runner every dialect shares: a chat turn behind an HTTP response.

``TurnResponse`` is an ASGI response that owns the request's concurrency:

- the producer task runs the failover loop and sends event batches into a bounded channel; it
  runs in a cancel scope whose deadline is ``server.request_timeout_s``;
- a watcher task waits for ``http.disconnect`` (streaming or not) and cancels the producer at once;
- a shutdown (SIGTERM) cancels every producer through ``Drain``;
- the consumer (this task) renders batches with the dialect. Keep-alive is a timeout on its
  wait for the next batch, only while nothing is ready; no task or timer per chunk.

The two tasks are plain asyncio tasks and the channel a deque with one waiter: per request that
is cheaper than an anyio task group and memory stream (whose every send and receive also yields to
the loop once). The structure is the same: the response does not return before both tasks have
ended, and if the consumer fails, or is cancelled itself, the producer is cancelled and waited
for. The producer's cancellation is an anyio cancel scope, so that the turn's shielded clean-up
runs in order (stop DeepSeek's generation, close the upstream stream, release the lease) before
the consumer answers. An error before the first event is the dialect's HTTP status and body;
after it, the dialect's error event. A stream sends its headers with its first event, or with the
first keep-alive once an account is leased, so a full queue or a wait timeout is a real 429 with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio
import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from deepseek_free_api.api.channel import Abandoned, Channel
from deepseek_free_api.api.ops.record import RequestRecord, current_request
from deepseek_free_api.chat.events import ChatEvent, Completed
from deepseek_free_api.errors import RequestTimeoutError, ServiceError, ShuttingDownError
from deepseek_free_api.heap import IdleTrim

log = logging.getLogger(__name__)

# Flush every event at once, never let a proxy buffer, never cache (CLIENTS.md "Keep-alive and framing").
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no", "connection": "keep-alive"}
# What a response holds for a client that reads slower than the answer comes (api/channel.py).
_CHANNEL_BATCHES = 64
_CHANNEL_CHARS = 64 * 1024


class Dialect(Protocol):
    """What a public API dialect supplies to the runner (one instance per request)."""

    def frames(self, events: list[ChatEvent]) -> bytes:
        """SSE bytes for a batch of events."""
        ...

    def keepalive(self) -> bytes:
        """SSE bytes that keep an idle stream open."""
        ...

    def end(self) -> bytes:
        """SSE bytes after the last event (``data: [DONE]`` for OpenAI chat)."""
        ...

    def error_frame(self, error: ServiceError) -> bytes:
        """SSE bytes for an error after the stream started."""
        ...

    def reply(self, events: list[ChatEvent]) -> Any:
        """The JSON body of a non-streaming reply."""
        ...

    def error_response(self, error: ServiceError) -> Response:
        """The HTTP response for an error before anything was sent."""
        ...


Run = Callable[["ChannelSink"], Awaitable[None]]
Reason = Literal["gone", "shutdown"]


@dataclass(slots=True)
class _Outcome:
    """How the producer ended, as the consumer needs to know it."""

    leased: bool = False
    cancelled_for: Reason | None = None
    error: ServiceError | None = None


class Drain:
    """Stops every in-flight turn when the server shuts down; tells ``idle`` when none is left."""

    def __init__(self, idle: IdleTrim | None = None) -> None:
        self._active: dict[int, tuple[_Outcome, anyio.CancelScope]] = {}
        self._idle = idle
        self.draining = False

    def enter(self, outcome: _Outcome, scope: anyio.CancelScope) -> None:
        """Register a producer until ``leave`` (a plain call pair, not a context manager: its
        generator and wrapper would live as long as the stream)."""
        self._active[id(scope)] = (outcome, scope)
        if self._idle is not None:
            self._idle.busy()
        if self.draining:
            _cancel(outcome, scope, "shutdown")

    def leave(self, scope: anyio.CancelScope) -> None:
        """The producer of ``scope`` has ended."""
        self._active.pop(id(scope), None)
        if not self._active and self._idle is not None:
            self._idle.idle()

    def start(self) -> int:
        """Cancel every producer (call on the event loop); returns how many were running."""
        self.draining = True
        for outcome, scope in list(self._active.values()):
            _cancel(outcome, scope, "shutdown")
        return len(self._active)


def _cancel(outcome: _Outcome, scope: anyio.CancelScope, reason: Reason) -> None:
    if outcome.cancelled_for is None:
        outcome.cancelled_for = reason
    scope.cancel()


class ChannelSink:
    """The producer's end of the channel (``chat.turn.EventSink``)."""

    def __init__(self, channel: Channel, outcome: _Outcome) -> None:
        self._channel = channel
        self._outcome = outcome

    async def emit(self, events: list[ChatEvent]) -> None:
        await self._channel.send(events)

    def leased(self) -> None:
        self._outcome.leased = True


class TurnResponse(Response):
    """Runs ``run`` (the failover loop) and answers in ``dialect``; see the module docstring."""

    def __init__(
        self,
        run: Run,
        dialect: Dialect,
        *,
        stream: bool,
        keepalive_s: float,
        timeout_s: float,
        drain: Drain,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(headers=headers)
        self._run = run
        self._dialect = dialect
        self._stream = stream
        self._keepalive_s = keepalive_s
        self._timeout_s = timeout_s
        self._drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome = _Outcome()
        record = current_request.get()  # the access log's; what the answer came to goes there
        loop = asyncio.get_running_loop()
        producer = anyio.CancelScope(deadline=loop.time() + self._timeout_s)  # anyio's clock is the loop's
        channel = Channel(_CHANNEL_BATCHES, _CHANNEL_CHARS)
        self._drain.enter(outcome, producer)
        try:
            produce = loop.create_task(self._produce(producer, channel, outcome))
            watch = loop.create_task(self._watch(receive, producer, outcome))
            failed = True
            try:
                if self._stream:
                    await self._send_stream(channel, send, outcome, watch, record)
                else:
                    await self._send_reply(channel, send, outcome, watch, record)
                failed = False
            except OSError:  # the socket is gone under us: same as a disconnect
                _cancel(outcome, producer, "gone")
                failed = False
            finally:
                watch.cancel()
                channel.abandon()
                if failed:  # the consumer raised or was cancelled: nobody is left to answer
                    _cancel(outcome, producer, "gone")
                await _join((produce, watch), producer)
        finally:
            self._drain.leave(producer)

    async def _produce(self, scope: anyio.CancelScope, channel: Channel, outcome: _Outcome) -> None:
        try:
            with scope:
                try:
                    await self._run(ChannelSink(channel, outcome))
                except ServiceError as error:
                    outcome.error = error
                except Abandoned:
                    outcome.cancelled_for = outcome.cancelled_for or "gone"  # the consumer left
                except Exception:
                    log.exception("the chat turn failed")
                    outcome.error = ServiceError("internal error")
            if scope.cancelled_caught and outcome.error is None:
                if outcome.cancelled_for == "shutdown":
                    outcome.error = ShuttingDownError("the server is shutting down; the answer was stopped")
                elif outcome.cancelled_for is None:
                    outcome.error = RequestTimeoutError(
                        f"the request took longer than server.request_timeout_s ({self._timeout_s:g} s); "
                        "the answer was stopped"
                    )
        finally:
            channel.end()

    @staticmethod
    async def _watch(receive: Receive, producer: anyio.CancelScope, outcome: _Outcome) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                _cancel(outcome, producer, "gone")
                return

    async def _send_stream(
        self,
        channel: Channel,
        send: Send,
        outcome: _Outcome,
        watch: asyncio.Task[None],
        record: RequestRecord | None,
    ) -> None:
        dialect = self._dialect
        started = False
        while True:
            batch = await channel.receive(self._keepalive_s)
            if batch is None:  # nothing within the keep-alive interval
                if outcome.leased:
                    started = await self._body(send, started, dialect.keepalive())
                continue
            if not batch:  # the producer is done without a Completed: an error, or cancelled
                break
            _noted(record, batch)
            frames = dialect.frames(batch)
            if isinstance(batch[-1], Completed):
                watch.cancel()  # the client may hang up now: the clean-up must not be cancelled
                await self._body(send, started, frames + dialect.end(), last=True)
                return
            started = await self._body(send, started, frames)
        if outcome.cancelled_for == "gone":
            return
        error = outcome.error or ServiceError("the answer ended without a reason")
        if record is not None:
            record.error = error
        if not started:
            await self._error(error, send)
            return
        log.warning("stream failed after it started: %s: %s", type(error).__name__, error.message)
        await self._body(send, started, dialect.error_frame(error) + dialect.end(), last=True)

    async def _send_reply(
        self,
        channel: Channel,
        send: Send,
        outcome: _Outcome,
        watch: asyncio.Task[None],
        record: RequestRecord | None,
    ) -> None:
        events: list[ChatEvent] = []
        while batch := await channel.receive():
            _noted(record, batch)
            events += batch
            if isinstance(batch[-1], Completed):
                watch.cancel()
                break
        else:
            if outcome.cancelled_for == "gone":
                return
            error = outcome.error or ServiceError("the answer ended without a reason")
            if record is not None:
                record.error = error
            await self._error(error, send)
            return
        body = orjson.dumps(self._dialect.reply(events))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _body(self, send: Send, started: bool, data: bytes, *, last: bool = False) -> bool:
        if not started:
            headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
            headers += [(k.encode(), v.encode()) for k, v in SSE_HEADERS.items()]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data, "more_body": not last})
        return True

    async def _error(self, error: ServiceError, send: Send) -> None:
        response = self._dialect.error_response(error)
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers}
        )
        await send({"type": "http.response.body", "body": response.body})


def _noted(record: RequestRecord | None, batch: list[ChatEvent]) -> None:
    """Tell the access log when the answer's first event came, and the usage at its end."""
    if record is None:
        return
    if record.first_event is None:
        record.first_event = time.perf_counter()
    last = batch[-1]
    if isinstance(last, Completed):
        record.usage = last.usage


async def _join(tasks: tuple[asyncio.Task[None], ...], producer: anyio.CancelScope) -> None:
    """Wait until ``tasks`` have ended, as a task group's exit does: cancelled meanwhile, cancel
    the producer, still wait, then raise the cancellation; an error of a task is raised here."""
    cancelled = False
    while not all(task.done() for task in tasks):
        try:
            await asyncio.wait(tasks)
        except asyncio.CancelledError:
            cancelled = True
            producer.cancel()
    if cancelled:
        raise asyncio.CancelledError
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
