"""One request to DeepSeek on a handle of ``upstream.handles``: what a request sets, and its answer.

A request sets on its handle only what it changes: URL, method and body, the header lines, the
account's cookies, and (when they differ from the handle's last request) the timeouts, the proxy
and the account's connection pool. Everything a previous request may have left on the handle is
set again, so a handle reused for another account or another kind of call sends what a fresh
one sends (tests/upstream/test_lean_requests.py compares the bytes with curl_cffi's session).

Where the body goes, and its bounds, is ``upstream.bodies``: a whole answer up to a limit, a
stream's queue up to a bound past which the transfer pauses.

The answer reads what the client uses (``upstream.answers``: status, headers, body, cookies set).
Failures raise curl_cffi's exception types (``Timeout``, ``RequestException``...), which
``upstream.stream.network_error`` puts in our words.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from curl_cffi import CurlError, CurlOpt
from curl_cffi._wrapper import ffi, lib
from curl_cffi.aio import CURL_POLL_NONE, CURL_SOCKET_TIMEOUT
from curl_cffi.curl import Curl
from curl_cffi.requests.exceptions import RequestException, code2error

from deepseek_free_api.flag import Flag
from deepseek_free_api.upstream.answers import Answer, parse_head, received_cookies
from deepseek_free_api.upstream.bodies import STREAM_END, AnswerTooLarge, StreamBody, WholeBody
from deepseek_free_api.upstream.handles import Handle, HandlePool
from deepseek_free_api.upstream.header_lines import AccountHeaders, Extra
from deepseek_free_api.upstream.transfer import Transfer

log = logging.getLogger(__name__)


class Call(NamedTuple):
    """What one request sends: the account's persona headers, then the call's own (``extra``)."""

    method: str
    url: str
    lines: AccountHeaders  # the persona's headers for the account, encoded once
    extra: Extra  # the call's own headers, in order; a value of None is one curl must not add
    recurring: bool  # whether calls with the same ``extra`` come again (its header list is kept)
    body: bytes | None
    account: str | None  # whose connections and cookies (None: the shared pool, no cookies)
    proxy: str | None
    cookies: tuple[bytes, ...]  # the account's, as curl's cookie engine loads them (upstream.cookies)

    @property
    def headers(self) -> dict[str, str | None]:
        """Every header the call sends, in order, as a dict (curl_cffi's ``headers=``)."""
        return self.lines.merged(self.extra)


class StreamAnswer:
    """A streamed answer whose headers came: ``queue`` gets the chunks, then STREAM_END or an error.

    Its reader calls ``taken`` with the size of what it took from the queue (the stream's pace),
    and ``hold`` to have the transfer read nothing more for a moment (``StreamBody.hold``).
    """

    def __init__(self, handle: Handle, pool: HandlePool, sink: StreamBody, released: asyncio.Event) -> None:
        self.status_code, self.headers, set_cookies = parse_head(sink.headers)
        self.cookies = received_cookies(set_cookies) if set_cookies else None
        self.queue = sink.queue
        self.taken = sink.taken
        self.let_go = sink.let_go
        self.calm = sink.calm
        self.hold = sink.hold
        self._curl = handle.curl
        self._pool = pool
        self._released = released

    async def acontent(self, limit: int) -> bytes:
        """The rest of the body (for an answer that is not an event stream), at most ``limit`` bytes."""
        self.calm()  # no token will come of it
        chunks: list[bytes] = []
        size = 0
        while True:
            item = await self.queue.get()
            if isinstance(item, bytes):
                self.taken(len(item))
                size += len(item)
                if size > limit:
                    await self.aclose()
                    raise AnswerTooLarge(limit)
                chunks.append(item)
            elif item is STREAM_END:
                return b"".join(chunks)
            else:
                raise item

    async def aclose(self) -> None:
        """End the transfer where it stands and wait until its handle is free again (idempotent)."""
        self.calm()
        if not self._released.is_set():
            self._pool.abort(self._curl)
            await self._released.wait()


async def fetch(pool: HandlePool, call: Call, timeouts: tuple[float, float], limit: int) -> Answer:
    """Send ``call`` and read its whole answer; ``timeouts``: connect, then the rest of the call.

    A body of more than ``limit`` bytes ends the transfer as it passes the limit: AnswerTooLarge.
    """
    sink = WholeBody(limit)
    handle, done = await _start(pool, call, sink, timeouts, stream=False)
    try:
        await done
        status, headers, set_cookies = parse_head(sink.headers)
    except CurlError as exc:
        if sink.size > limit:
            raise AnswerTooLarge(limit) from exc
        raise _error(exc) from exc
    finally:
        if not done.done() or done.cancelled():  # our caller was cancelled: end the transfer
            pool.abort(handle.curl)
        pool.give_back(handle)
    return Answer(status, headers, b"".join(sink.chunks), set_cookies)


async def open_stream(
    pool: HandlePool, call: Call, timeouts: tuple[float, float], transfer: Transfer, bound: int
) -> StreamAnswer:
    """Send ``call`` and return once the first body bytes came; ``transfer`` can abort it from now on.

    ``bound``: the most bytes received and not yet taken by the reader before the transfer pauses.
    """
    sink = StreamBody(bound)
    released = Flag()  # an asyncio.Event without its deque (per live stream)
    handle, done = await _start(pool, call, sink, timeouts, stream=True)
    handle.transfer = transfer
    transfer.bind(pool, handle.curl)

    def ended(future: asyncio.Future[None]) -> None:
        queue, first = sink.queue, sink.first
        sink.flush()  # what came last goes before the end
        if not future.cancelled() and (exc := future.exception()) is not None:
            queue.put_nowait(_error(exc) if isinstance(exc, CurlError) else RequestException(str(exc)))
        queue.put_nowait(STREAM_END)
        if not first.done():
            first.set_result(None)
        pool.give_back(handle)
        released.set()

    done.add_done_callback(ended)
    try:
        await sink.first
    except BaseException:
        sink.calm()
        transfer.abort()  # cancelled before the answer: the transfer must not go on
        raise
    if not sink.queue.empty() and isinstance(first := sink.queue._queue[0], RequestException):  # type: ignore[attr-defined]
        sink.calm()
        raise first  # it failed before any byte of the body (refused, timed out, reset)
    return StreamAnswer(handle, pool, sink, released)


async def _start(
    pool: HandlePool, call: Call, sink: WholeBody | StreamBody, timeouts: tuple[float, float], *, stream: bool
) -> tuple[Handle, asyncio.Future[None]]:
    """A handle with ``call`` set on it, its transfer started on the multi handle."""
    handle = await pool.take()
    try:
        _prepare(handle, pool, call, sink, timeouts, stream=stream)
        acurl = pool.acurl
        done = acurl.add_handle(handle.curl)
    except BaseException:
        pool.give_back(handle)
        raise
    # Start it now. libcurl asks for its first socket_action "in 0 ms", which curl_cffi schedules
    # with call_later: after every callback already ready in this turn of the loop. In a burst
    # those are the other requests' own steps up to their calls, so no call left before the last
    # request was ready (bench/timeline.py --concurrency 50: calls made at 4.7-25 ms, answer
    # heads at 35-62 ms) and DeepSeek had nothing to work on meanwhile. Here the request is written
    # at once on a kept connection (a new one is begun without waiting); the timer libcurl set
    # next replaces the one for "0 ms". Added to the multi handle, the transfer is the multi's:
    # what this raises is what that timer's call would have raised in the loop, and the transfer
    # still ends through ``done``.
    try:
        acurl.process_data(CURL_SOCKET_TIMEOUT, CURL_POLL_NONE)
    except Exception:  # noqa: BLE001 - the scheduled call drives it as before
        log.debug("starting a transfer at once failed; the loop's timer starts it", exc_info=True)
    return handle, done


def _prepare(
    handle: Handle,
    pool: HandlePool,
    call: Call,
    sink: WholeBody | StreamBody,
    timeouts: tuple[float, float],
    *,
    stream: bool,
) -> None:
    curl = handle.curl
    _set(curl, CurlOpt.URL, call.url.encode())
    if call.method == "POST":
        body = b"" if call.body is None else call.body  # as curl_cffi: a POST always has a body
        curl._body_handle = body  # curl reads it during the transfer: kept alive
        _set(curl, CurlOpt.POSTFIELDS, body)  # also makes it a POST
        _set(curl, CurlOpt.POSTFIELDSIZE, len(body))
    elif call.method == "GET" and call.body is None:
        _set(curl, CurlOpt.POSTFIELDS, ffi.NULL)
        _set(curl, CurlOpt.POSTFIELDSIZE, -1)
        _set(curl, CurlOpt.HTTPGET, 1)
    else:
        raise ValueError(f"{call.method} with{'out' if call.body is None else ''} a body is not sent here")
    lines = call.lines.slist(call.extra, call.recurring)
    if lines is not handle.lines:
        _set(curl, CurlOpt.HTTPHEADER, lines)
        handle.lines = lines  # alive while set on the handle
    _set(curl, CurlOpt.COOKIELIST, b"ALL")  # whatever the last request or answer left
    for cookie in call.cookies:
        _set(curl, CurlOpt.COOKIELIST, cookie)
    connect, rest = timeouts
    wanted = (
        (int(connect * 1000), 0, math.ceil(connect + rest))
        if stream
        else (int(connect * 1000), int((connect + rest) * 1000), 0)
    )
    if wanted != handle.timeouts:
        handle.timeouts = wanted
        _set(curl, CurlOpt.CONNECTTIMEOUT_MS, wanted[0])
        _set(curl, CurlOpt.TIMEOUT_MS, wanted[1])
        # A stream's time limit is on silence, not length (curl_cffi's low-speed trick).
        _set(curl, CurlOpt.LOW_SPEED_LIMIT, 1 if wanted[2] else 0)
        _set(curl, CurlOpt.LOW_SPEED_TIME, wanted[2])
    if call.proxy != handle.proxy:
        _set_proxy(handle, call.url, call.proxy)
    share = pool.shares.of(call.account)
    if share is not handle.share:
        _set(curl, CurlOpt.SHARE, ffi.NULL if share is None else share._curl_share)
        handle.share = curl._share = share  # alive while the handle uses it
    handle.forget_errors()
    handle.sink = sink
    if isinstance(sink, StreamBody):
        sink.handle = handle


def _set_proxy(handle: Handle, url: str, proxy: str | None) -> None:
    curl = handle.curl
    handle.proxy = proxy
    # NULL: curl's default, the environment's proxy, as a handle curl_cffi never gave a proxy.
    _set(curl, CurlOpt.PROXY, ffi.NULL if proxy is None else proxy.encode())
    # As curl_cffi: a new connection when the proxy's credentials change, and no TLS session
    # resumed across proxies; an http proxy tunnels to an https site.
    _set(curl, CurlOpt.PROXY_CREDENTIAL_NO_REUSE, 0 if proxy is None else 1)
    tunnel = proxy is not None and urlsplit(url).scheme == "https" and not proxy.startswith("socks")
    _set(curl, CurlOpt.HTTPPROXYTUNNEL, 1 if tunnel else 0)


def _set(curl: Curl, option: CurlOpt, value: Any) -> None:
    """``curl_easy_setopt``, without ``Curl.setopt``'s conversion table per call: an int is a long."""
    code = lib._curl_easy_setopt(
        curl._curl, option, ffi.new("long*", value) if value.__class__ is int else value
    )
    if code:
        curl._check_error(code, "setopt", option, value)


def _error(exc: CurlError) -> RequestException:
    """curl_cffi's exception for a failed transfer (``Timeout`` for code 28, ...)."""
    error: type[RequestException] = code2error(exc.code, str(exc))  # type: ignore[arg-type]
    return error(str(exc), exc.code)  # type: ignore[arg-type]


__all__ = ["STREAM_END", "AnswerTooLarge", "Call", "StreamAnswer", "fetch", "open_stream"]
