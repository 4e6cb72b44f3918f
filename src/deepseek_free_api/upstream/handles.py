"""Curl handles set up once for DeepSeek: the browser they impersonate is set when they are made.

curl_cffi's session resets a handle after every request (``curl_easy_reset``) and sets all of it
again on the next: the impersonation target, the cookie engine, the proxy, the timeouts, the
headers through its ``Headers`` class (17 % of the server's CPU at 10 concurrent turns, py-spy
2026-12). A ``Handle`` here keeps what never changes for it (the impersonation target with its
TLS and HTTP/2 fingerprint, HTTP version, Accept-Encoding, redirects off, the cookie engine, the
CA file, its body and header callbacks) from when it is made; ``upstream.exchange`` sets what a
request changes. What a handle holds from its last request that a fresh one would not (the
account's connection pool, its proxy, the timeouts) is compared and set again when it differs.

Each account's requests go over that account's own connections, as from its own browser: one
connection (under HTTP/2 one TLS connection carries every request of a client) must never carry
two accounts' calls. libcurl keeps the connections of handles attached to a share with
``CURL_LOCK_DATA_CONNECT`` in that share; one share per account (``AccountShares``), all on one
multi handle (no timer or multi per account). Calls made for no account use the multi's own pool.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict, deque
from typing import Any

from curl_cffi import CurlOpt, CurlShareOpt
from curl_cffi._wrapper import ffi, lib
from curl_cffi.aio import AsyncCurl
from curl_cffi.curl import CURL_WRITEFUNC_ERROR, DEFAULT_CACERT, Curl, CurlShare
from curl_cffi.requests.exceptions import ImpersonateError, SessionClosed
from curl_cffi.requests.impersonate import resolve_latest_browser_type
from curl_cffi.requests.utils import NATIVE_TARGET_NAMES, normalize_http_version

from deepseek_free_api.upstream.transfer import MAX_ACCOUNTS, Transfer


class AccountShares:
    """One connection pool and TLS session cache (``CurlShare``) per account, the least recently
    used forgotten first.

    libcurl keeps the connections of the handles attached to a share with ``CURL_LOCK_DATA_CONNECT``
    apart from every other: no connection (under HTTP/2 one carries every call of a client) ever
    carries two accounts' calls. With ``CURL_LOCK_DATA_SSL_SESSION`` the share keeps the account's
    TLS session tickets too: left in the multi handle, a ticket given to one account was offered
    on another account's next connection, which names them as one client.
    """

    def __init__(self, limit: int = MAX_ACCOUNTS) -> None:
        self._shares: OrderedDict[str, CurlShare] = OrderedDict()
        self._limit = limit

    def of(self, account: str | None) -> CurlShare | None:
        """``account``'s share (None: the multi handle's pool, for calls made for no account)."""
        if account is None:
            return None
        share = self._shares.get(account)
        if share is None:
            share = self._shares[account] = _share()
            while len(self._shares) > self._limit:
                self._shares.popitem(last=False)  # freed once no handle uses it (Handle.share keeps it)
        else:
            self._shares.move_to_end(account)
        return share


def _share() -> CurlShare:
    """An account's share, without curl_cffi's lock callbacks.

    Every handle that uses a share runs on the event loop's thread (one multi handle, driven by
    the loop), and sharing connections is single-threaded anyway (libcurl does not support it
    across threads): the locks guarded nothing, yet cost two Python callbacks per access of the
    connection cache or the TLS sessions, about 30 per chat turn. Without a lock function libcurl
    calls none (``Curl_share_lock``: "only call this if set").
    """
    share = CurlShare(connect=True, dns=False, ssl_session=True)
    share._setopt(CurlShareOpt.LOCKFUNC, ffi.NULL)
    share._setopt(CurlShareOpt.UNLOCKFUNC, ffi.NULL)
    return share


class Handle:
    """One curl handle, set up for the persona, and what its last request left set on it."""

    __slots__ = ("curl", "share", "proxy", "timeouts", "lines", "sink", "transfer", "_contexts", "_callbacks")

    def __init__(self, impersonate: str, http_version: str | None) -> None:
        self.curl = curl = Curl(cacert=DEFAULT_CACERT)
        # In curl_cffi's order (requests.utils.set_curl_options): the impersonation comes last
        # and its own choices (Accept-Encoding, HTTP/2 settings) win over the ones set before it.
        curl.setopt(CurlOpt.FOLLOWLOCATION, 0)
        curl.setopt(CurlOpt.MAXREDIRS, 30)
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if verify:  # as curl_cffi's session reads them
            curl.setopt(CurlOpt.CAINFO, verify)
            curl.setopt(CurlOpt.PROXY_CAINFO, verify)
        curl.setopt(CurlOpt.ACCEPT_ENCODING, b"gzip, deflate, br")
        if http_version:
            curl.setopt(CurlOpt.HTTP_VERSION, normalize_http_version(http_version))  # type: ignore[arg-type]
        # Native targets only: curl_cffi's named fingerprints (loaded from a file) set their
        # default headers per request, after the caller's; they are refused, not half applied.
        target: str = resolve_latest_browser_type(impersonate)  # type: ignore[no-untyped-call]
        if target not in NATIVE_TARGET_NAMES or curl.impersonate(target, default_headers=True) != 0:
            raise ImpersonateError(f"Impersonating {target} is not supported")
        curl.setopt(CurlOpt.MAX_RECV_SPEED_LARGE, 0)
        # No signals from libcurl: Python ignores SIGPIPE already, and curl_cffi's libcurl resolves
        # names with c-ares (no alarm() for DNS timeouts). Without it libcurl set SIGPIPE's handler
        # and put it back around every call into the multi handle: 12 rt_sigaction per chat turn.
        curl.setopt(CurlOpt.NOSIGNAL, 1)
        # libcurl allocates the upload buffer (64 KB by default) for every request with a body, and
        # each stream holds its handle for its whole life: 1,000 streams held 52 MB of buffers for
        # bodies of a few KB. The smallest size libcurl takes; a larger body is sent in more writes.
        curl.setopt(CurlOpt.UPLOAD_BUFFERSIZE, 16 * 1024)
        # The cookie engine on, as curl_cffi has it: each request empties it and loads the
        # account's own cookies (upstream.cookies), so it renders the Cookie header the same way.
        curl.setopt(CurlOpt.COOKIEFILE, b"")
        # The callbacks stay for the handle's life; each request points them at its own sink.
        # Set through curl_cffi first only for its callback contexts (where a callback's exception
        # is kept for the transfer's result), then replaced by direct callbacks (``_callbacks``).
        curl.setopt(CurlOpt.WRITEFUNCTION, _replaced)
        curl.setopt(CurlOpt.HEADERFUNCTION, _replaced)
        self._contexts = tuple(ffi.from_handle(h) for h in (curl._write_handle, curl._header_handle))
        self._callbacks = _callbacks(self)
        lib._curl_easy_setopt(curl._curl, CurlOpt.WRITEFUNCTION, self._callbacks[0])
        lib._curl_easy_setopt(curl._curl, CurlOpt.HEADERFUNCTION, self._callbacks[1])
        self.share: CurlShare | None = None
        self.proxy: str | None = None
        self.timeouts: tuple[int, int, int] = (-1, -1, -1)  # connect ms, total ms, low-speed time s
        self.lines: Any = None  # the header list set (upstream.header_lines), kept alive while set
        self.sink: Any = None  # the request's: .body(bytes) -> int, .headers (a list of lines)
        self.transfer: Transfer | None = None

    def forget_errors(self) -> None:
        """Clear what a callback raised in the previous transfer (curl_cffi keeps it per callback)."""
        for context in self._contexts:
            if context.exception is not None:
                context.exception = None


def _callbacks(handle: Handle) -> tuple[Any, Any]:
    """The body and header callbacks of ``handle``, called by libcurl straight into its sink.

    curl_cffi's own callback (``write_callback``) finds its context from the user pointer, calls
    the Python callback, converts and checks what it returned: two more Python calls and a lookup
    per header line and per body chunk, about 44 of each per chat turn. These hand the bytes to
    the request's sink (``Handle.sink``) at once, or take them unread when no request is set on
    the handle; what a sink returns (the byte count, CURL_WRITEFUNC_PAUSE or CURL_WRITEFUNC_ERROR)
    is what curl_cffi passed on. What a callback raises is kept as curl_cffi keeps it (in the
    context the transfer's result reads) and ends the transfer with CURLE_WRITE_ERROR.
    """
    unpack = ffi.unpack
    body_context, header_context = handle._contexts

    def body(data: Any, size: int, count: int, user: Any) -> int:
        sink = handle.sink
        return sink.body(unpack(data, count)) if sink is not None else count

    def header(data: Any, size: int, count: int, user: Any) -> int:
        sink = handle.sink
        if sink is not None:
            sink.headers.append(unpack(data, count))
        return count

    def keeper(context: Any) -> Any:
        def kept(kind: type[BaseException], error: BaseException, trace: Any) -> int:
            context.exception = error
            return CURL_WRITEFUNC_ERROR

        return kept

    return (
        ffi.callback(_WRITE, body, onerror=keeper(body_context)),
        ffi.callback(_WRITE, header, onerror=keeper(header_context)),
    )


def _replaced(data: bytes) -> int:
    """What curl_cffi is given as the callbacks, only to make their contexts: never called."""
    raise RuntimeError("a handle's curl_cffi callback ran; its direct callback should have")


_WRITE = "size_t(char *, size_t, size_t, void *)"  # libcurl's write and header callbacks (size is 1)


# Idle handles kept however long they stay idle; more are freed ``IDLE_TRIM_S`` after there were
# more. A handle keeps about 30 KB of libcurl's memory while idle (its 16 KB send buffer, kept as a
# spare after its first request, the easy handle's 6 KB, its header lists): after a burst of 1,000
# streams the pool held 1,000 of them for good (heaptrack of a server killed idle after a burst of
# 300, 2026-12: the send buffers alone 4.96 MB; freed, a server idle after 1,000 streams held 208
# MB instead of 226; the next burst makes them again, its peak is not lower). The connections and
# TLS sessions are the accounts' shares', not the handles': none is lost. Freed before the heap
# gives free pages back to the system (heap.IDLE_TRIM_S, 2 s without a turn).
IDLE_KEEP = 64
IDLE_TRIM_S = 1.0


class HandlePool:
    """At most ``max_handles`` handles on one multi handle; a request waits for a free one.

    A handle goes back to the pool when its transfer has ended (finished, failed or aborted), so
    the number of concurrent transfers is bounded as curl_cffi's ``max_clients`` bounded it. Of the
    idle ones, ``IDLE_KEEP`` are kept; the rest are freed once there have been more for a while.
    """

    def __init__(
        self,
        impersonate: str,
        http_version: str | None,
        max_handles: int,
        *,
        idle_keep: int = IDLE_KEEP,
        idle_trim_s: float = IDLE_TRIM_S,
    ) -> None:
        self._impersonate = impersonate
        self._http_version = http_version
        self._max = max_handles
        self._idle: list[Handle] = []  # the last released first: its connection is the warmest
        self._made = 0
        self._waiters: deque[asyncio.Future[Handle]] = deque()
        self._acurl: AsyncCurl | None = None
        self._closed = False
        self._idle_keep = idle_keep
        self._idle_trim_s = idle_trim_s
        self._trim: asyncio.TimerHandle | None = None
        self.shares = AccountShares()

    @property
    def made(self) -> int:
        """Handles that exist (in use or idle)."""
        return self._made

    @property
    def acurl(self) -> AsyncCurl:
        """The multi handle every transfer runs on (made on first use: it needs the running loop)."""
        if self._acurl is None:
            self._acurl = AsyncCurl()
        return self._acurl

    async def take(self) -> Handle:
        """A free handle, made if fewer than ``max_handles`` exist, else the next one released."""
        if self._closed:  # as curl_cffi's closed session: a network error to the caller
            raise SessionClosed("the DeepSeek client is closed")
        if self._idle:
            return self._idle.pop()
        if self._made < self._max:
            self._made += 1
            try:
                return Handle(self._impersonate, self._http_version)
            except BaseException:
                self._made -= 1
                raise
        waiter: asyncio.Future[Handle] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give_back(waiter.result())  # handed over as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def give_back(self, handle: Handle) -> None:
        """``handle``'s transfer has ended: to the next waiter, or to the idle handles."""
        handle.sink = None
        transfer, handle.transfer = handle.transfer, None
        if transfer is not None:
            transfer.bind(self, None)  # its former owner can no longer abort the next request
        if self._closed:
            handle.curl.close()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(handle)
                return
        self._idle.append(handle)
        if len(self._idle) > self._idle_keep and self._trim is None:
            self._trim = asyncio.get_running_loop().call_later(self._idle_trim_s, self._trim_idle)

    def _trim_idle(self) -> None:
        """Free the idle handles beyond ``idle_keep``, the longest idle first."""
        self._trim = None
        excess = len(self._idle) - self._idle_keep
        if excess <= 0 or self._closed:
            return
        freed, self._idle[:excess] = self._idle[:excess], []
        self._made -= len(freed)
        for handle in freed:
            handle.curl.close()

    def abort(self, curl: Any) -> None:
        """For ``Transfer``: take a running transfer out of the multi handle (it ends at once)."""
        acurl = self._acurl
        if acurl is not None and self._closed is False:
            acurl.remove_handle(curl)

    async def close(self) -> None:
        """End every transfer and free the handles and connections."""
        if self._closed:
            return
        self._closed = True
        if self._trim is not None:
            self._trim.cancel()
            self._trim = None
        if self._acurl is not None:
            await self._acurl.close()  # type: ignore[no-untyped-call]
        for handle in self._idle:
            handle.curl.close()
        self._idle.clear()
