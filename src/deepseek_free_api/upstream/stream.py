"""A DeepSeek event stream over curl, owned from before it opens, and network failures in our words."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from curl_cffi.const import CurlECode
from curl_cffi.requests.exceptions import RequestException, Timeout

from deepseek_free_api.errors import (
    UpstreamError,
    UpstreamProtocolError,
    UpstreamServerError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from deepseek_free_api.upstream.bodies import MAX_ANSWER_BYTES, AnswerTooLarge
from deepseek_free_api.upstream.classifier import classify_http

log = logging.getLogger("deepseek_free_api.upstream.client")


class UpstreamStream:
    """One streaming call to DeepSeek, owned from before its request is sent.

    ``open()`` sends the request and waits for DeepSeek's answer. Cancelled or failed before the
    answer arrived, it aborts the transfer it started (``upstream.transfer``), so nothing keeps a
    connection open that DeepSeek would go on generating for. ``refused`` says DeepSeek answered
    without an event stream (an error envelope or page): then no generation started. ``aclose()``
    ends the transfer however far it got; the owner calls it on every exit.

    Iterating yields what has arrived, joined: when several network reads are already queued they
    come out as one chunk, so the decoder and the renderer work in batches under load. What the
    reader takes is told to the answer (``taken``): a reader that falls behind (its client reads
    slowly) pauses the transfer at ``upstream.stream_buffer_bytes``, and it goes on once the reader
    catches up. The idle timeout is the project's own: no byte for ``idle_timeout_s`` ends the
    stream with UpstreamTimeoutError; bytes waiting for the reader count as heard, so a slow client
    never trips it (neither does curl's low-speed limit, connect + idle, the backstop: libcurl
    leaves paused transfers out of it). ``server.request_timeout_s`` still caps the whole request.

    Until ``first_out`` (the turn wrote the answer's first token), bytes that came and wait for the
    reader count as first-token work in the loop's register (``upstream.first_tokens``).
    """

    def __init__(
        self,
        send: Callable[[], Awaitable[Any]],
        path: str,
        *,
        abort: Callable[[], None] = lambda: None,
        idle_timeout_s: float | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self._send = send
        self._max_answer = max_answer_bytes
        self._abort = abort
        self.path = path
        self.idle_timeout_s = idle_timeout_s
        self._response: Any = None
        self.refused = False
        self._steady = False

    @property
    def opened(self) -> bool:
        """Whether DeepSeek answered with an event stream that can be read."""
        return self._response is not None

    async def open(self) -> None:
        """Send the request; return once the stream flows, or raise the classified refusal."""
        try:
            response = await self._send()
        except BaseException:
            self._abort()  # cancelled or failed before any answer: the transfer must not go on
            raise
        content_type = response.headers.get("content-type", "")
        if response.status_code == 200 and content_type.startswith("text/event-stream"):
            self._response = response
            return
        # Not a stream: an envelope (muted, busy, bad PoW…), an HTML block page or a server error.
        self.refused = True
        status, path = response.status_code, self.path
        try:
            content = await response.acontent(self._max_answer)
        except AnswerTooLarge as exc:
            raise too_large(exc, path) from exc
        except RequestException as exc:
            raise UpstreamServerError(
                f"could not read DeepSeek's HTTP {status} answer to {path}: {network_reason(exc, path)}"
            ) from exc
        finally:
            await response.aclose()
        error = classify_http(status, dict(response.headers), content, content_type)
        if error is None:
            error = UpstreamProtocolError(
                f"DeepSeek answered {path} with HTTP {status} and {content_type or 'no type'}"
                " instead of an event stream"
            )
        raise error

    def steady(self) -> None:
        """The answer's first token is out: from now on chunks that come close together are
        taken together (``GATHER_S``), and a fast stream's socket is read once per ``GATHER_S``
        (``FAST_S``, ``FAST_RUN``); until then each is taken as soon as it comes."""
        self._steady = True

    def first_out(self) -> None:
        """The answer's first token is written: its bytes no longer go before other work."""
        if self._response is not None:
            self._response.calm()

    def __aiter__(self) -> AsyncGenerator[bytes, None]:
        """The chunks as they arrive; its reader closes it (``contextlib.aclosing``) when done."""
        return self._iterate()

    async def _iterate(self) -> AsyncGenerator[bytes, None]:
        if self._response is None:
            raise UpstreamServerError(f"the stream of {self.path} was never opened")
        # The answer's queue of bytes ends with STREAM_END or an exception (upstream.exchange); we
        # read it directly to take all that is ready.
        response = self._response
        queue: asyncio.Queue[Any] = response.queue
        silence = None if not self.idle_timeout_s else _Silence(queue, self.idle_timeout_s)
        loop = asyncio.get_running_loop()
        taken = -GATHER_S
        streak = 0  # chunks in a row taken less than FAST_S after the one before
        try:
            while True:
                if queue.empty():
                    response.let_go()  # nothing of this answer is ready to run while it waits
                item = await queue.get()
                if self._steady and isinstance(item, bytes) and (early := taken + GATHER_S - loop.time()) > 0:
                    # What comes meanwhile joins this chunk; a fast stream's is read in one go at the end.
                    if streak >= FAST_RUN:
                        response.hold(taken + GATHER_S)
                    await asyncio.sleep(early)
                if silence is not None:
                    silence.heard()
                pieces: list[bytes] = []
                while isinstance(item, bytes):
                    if item:
                        pieces.append(item)
                    if queue.empty():
                        item = None
                        break
                    item = queue.get_nowait()
                if pieces:
                    now = loop.time()
                    streak = streak + 1 if now - taken < FAST_S else 0
                    taken = now
                    response.taken(sum(map(len, pieces)))  # the transfer goes on if it waited
                    if streak >= FAST_RUN and self._steady:
                        response.hold(now + GATHER_S)  # what comes meanwhile: one read, not dozens
                    yield pieces[0] if len(pieces) == 1 else b"".join(pieces)
                if item is None:
                    continue
                _raise_end(item, silence)
                return  # STREAM_END
        finally:
            response.calm()
            if silence is not None:
                silence.cancel()

    async def aclose(self) -> None:
        """End the transfer now, however far it got (idempotent).

        Taking the transfer out of curl ends it at once, stalled or not; its handle is then free.
        """
        self._abort()
        if self._response is not None:
            await self._response.aclose()


# Chunks that arrive within this long of the last one taken are taken together, once it has
# passed. Every chunk costs a decode, a batch through the turn and a write to the client (about
# 0.2 ms in all): a reply streamed as fast as the network allows came in 500-1,500 small chunks,
# and the server's CPU, not the network, set its pace. DeepSeek's tokens come tens of
# milliseconds apart: each still goes on at once.
GATHER_S = 0.004
# A stream whose chunks come less than FAST_S apart, FAST_RUN times in a row, is a fast one: once
# steady, after each chunk its transfer reads nothing for GATHER_S (``StreamAnswer.hold``), so the
# events sent meanwhile come in one read of the socket, not one or two per read. A stream of tokens
# tens of milliseconds apart (DeepSeek's pace) is never held, nor is the tail of a short answer
# that came all at once (a hold would only end it 4 ms later).
FAST_S = 2 * GATHER_S
FAST_RUN = 3


def _raise_end(item: Any, silence: _Silence | None) -> None:
    """Raise what ended the stream, unless it ended normally (STREAM_END)."""
    if item is _SILENT:
        assert silence is not None
        raise UpstreamTimeoutError(
            f"DeepSeek sent nothing for {silence.seconds:g} s in the middle of a stream"
            " (upstream.stream_idle_timeout_s)"
        )
    if isinstance(item, Timeout):
        raise UpstreamTimeoutError("DeepSeek sent nothing for too long in the middle of a stream") from item
    if isinstance(item, RequestException):
        reason = network_reason(item, "a stream")
        raise UpstreamServerError(f"the stream from DeepSeek broke: {reason}") from item


_SILENT = object()  # put in the queue when the idle timeout ran out


class _Silence:
    """Marks a stream silent once no byte came for ``seconds``: one timer per period, none per chunk.

    Bytes count from when the reader takes them, which is never earlier than they arrived, so a
    stream is never cut before ``seconds`` of real silence; bytes waiting in the queue count as
    heard now (the reader is busy, not the upstream).
    """

    def __init__(self, queue: asyncio.Queue[Any], seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = queue
        self.seconds = seconds
        self._last = self._loop.time()
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(seconds, self._check)

    def heard(self) -> None:
        """The reader took something from the stream."""
        self._last = self._loop.time()

    def cancel(self) -> None:
        """The stream is over: no timer left behind."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        now = self._loop.time()
        if not self._queue.empty():
            self._last = now
        due = self._last + self.seconds
        if now >= due:
            self._timer = None
            self._queue.put_nowait(_SILENT)
            return
        self._timer = self._loop.call_at(due, self._check)


# What went wrong on the way to DeepSeek, in our words, by libcurl error code
# (https://curl.se/libcurl/c/libcurl-errors.html): curl's own text, with its "curl: (18)" prefix and
# its link to the libcurl manual, means nothing to an API caller and goes to the DEBUG log only.
_CURL_WORDS: dict[int, str] = {
    CurlECode.COULDNT_RESOLVE_HOST: "its host name could not be resolved (DNS)",
    CurlECode.COULDNT_RESOLVE_PROXY: "the proxy's host name could not be resolved (DNS)",
    CurlECode.COULDNT_CONNECT: "the connection was refused or could not be made",
    CurlECode.PROXY: "the proxy refused or failed the connection",
    CurlECode.OPERATION_TIMEDOUT: "the connection timed out",
    CurlECode.SSL_CONNECT_ERROR: "the TLS handshake failed",
    CurlECode.PEER_FAILED_VERIFICATION: "its TLS certificate could not be verified",
    CurlECode.SSL_CACERT_BADFILE: "the trusted TLS certificates could not be read",
    CurlECode.SSL_CERTPROBLEM: "the TLS client certificate was refused",
    CurlECode.SEND_ERROR: "the connection was reset while sending",
    CurlECode.RECV_ERROR: "the connection was reset while receiving",
    CurlECode.PARTIAL_FILE: "the connection closed before the whole answer arrived",
    CurlECode.GOT_NOTHING: "the connection closed without any answer",
    CurlECode.WEIRD_SERVER_REPLY: "the answer was not valid HTTP",
    CurlECode.HTTP2: "the HTTP/2 connection failed",
    CurlECode.HTTP2_STREAM: "the HTTP/2 stream was reset",
    CurlECode.TOO_MANY_REDIRECTS: "it redirected too many times",
    CurlECode.WRITE_ERROR: "the transfer was aborted",
    CurlECode.ABORTED_BY_CALLBACK: "the transfer was aborted",
}


# Failures before any byte reached DeepSeek: the network, the proxy or TLS, not an account. Another
# account would fail the same way, so the request fails at once (UpstreamUnreachableError).
_UNREACHABLE = frozenset(
    {
        CurlECode.COULDNT_RESOLVE_HOST,
        CurlECode.COULDNT_RESOLVE_PROXY,
        CurlECode.COULDNT_CONNECT,
        CurlECode.PROXY,
        CurlECode.SSL_CONNECT_ERROR,
        CurlECode.PEER_FAILED_VERIFICATION,
        CurlECode.SSL_CACERT_BADFILE,
        CurlECode.SSL_CERTPROBLEM,
    }
)


def too_large(exc: AnswerTooLarge, path: str) -> UpstreamProtocolError:
    """The error an answer cut at ``upstream.max_answer_bytes`` is."""
    return UpstreamProtocolError(
        f"DeepSeek's answer to {path} was larger than {exc.limit} bytes"
        " (upstream.max_answer_bytes); it was cut off"
    )


def network_error(exc: RequestException, where: str, host: str) -> UpstreamError:
    """The error a failed transfer to DeepSeek is: unreachable (fail fast) or a broken transfer (retry)."""
    reason = network_reason(exc, where)
    if int(getattr(exc, "code", 0) or 0) in _UNREACHABLE:
        return UpstreamUnreachableError(f"could not reach DeepSeek ({where}): {reason} (host {host})")
    return UpstreamServerError(f"could not reach DeepSeek ({where}): {reason}")


def network_reason(exc: RequestException, where: str) -> str:
    """What happened, in the project's words; curl's own text goes to the DEBUG log only."""
    code = int(getattr(exc, "code", 0) or 0)
    log.debug("transfer error on %s (%s, curl code %d): %s", where, type(exc).__name__, code, exc)
    words = _CURL_WORDS.get(code)
    if words is not None:
        return words
    if code:
        return f"the transfer failed (network error {code})"
    return f"the transfer failed ({type(exc).__name__})"
