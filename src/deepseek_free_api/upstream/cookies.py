"""One cookie jar per account, as each account would have its own browser.

DeepSeek's edge and web app set cookies (PROTOCOL.md §1: the WAF's ``HWWAFSESID``, Cloudflare's
``cf_clearance``, ``smidV2``, ``ds_session_id``) that identify a browser. curl_cffi keeps one jar per
session, and the server has one session for every account: a cookie set in an answer to one
account would go with every other account's calls from then on, and tie them together as one
device would. So each account's calls send and keep the cookies of that account's own jar, found
by its device id (the login, which has no token yet, by the device id it logs in with), the key
of its own connections too (``upstream.handles.AccountShares``); each request empties the
handle's cookie engine first (``upstream.exchange``). Bounded: the jars of the accounts used
last, each of a bounded number of cookies; not kept over a restart (a browser that was closed).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from curl_cffi.requests import Cookies

from deepseek_free_api.upstream.transfer import MAX_ACCOUNTS

MAX_JARS = MAX_ACCOUNTS  # as many as the accounts whose connections are kept apart
MAX_COOKIES = 64  # per jar: a jar past it starts again empty (no answer should set that many)


class CookieJars:
    """The cookie jars of the accounts, by device id, the least recently used dropped first."""

    def __init__(self, max_jars: int = MAX_JARS, max_cookies: int = MAX_COOKIES) -> None:
        self._jars: OrderedDict[str, Cookies] = OrderedDict()
        self._lines: dict[str, tuple[bytes, ...]] = {}  # for_curl's, until the jar changes
        self._max_jars = max_jars
        self._max_cookies = max_cookies

    def for_request(self, key: str | None) -> Cookies | None:
        """The cookies to send for ``key`` (None: none)."""
        if key is None:
            return None
        jar = self._jars.get(key)
        if jar is None:
            return None
        self._jars.move_to_end(key)
        return jar if len(jar) else None

    def for_curl(self, key: str | None, url: str) -> tuple[bytes, ...]:
        """``key``'s cookies as curl's cookie engine loads them (``COOKIELIST`` lines) for ``url``.

        The lines curl_cffi's session made of the jar for each request, made once per change of
        the jar: curl itself leaves out what has expired or does not match the URL.
        """
        if key is None:
            return ()
        lines = self._lines.get(key)
        if lines is not None:
            self._jars.move_to_end(key)  # used last, as for_request has it
            return lines
        jar = self.for_request(key)
        if jar is None:
            return ()
        # Cached only beside a jar, so bounded as the jars are.
        morsels = jar.get_cookies_for_curl(_At(url))
        lines = self._lines[key] = tuple(m.to_curl_format().encode() for m in morsels)  # type: ignore[no-untyped-call]
        return lines

    def keep(self, key: str | None, response: Any) -> None:
        """Keep the cookies ``response`` set, in ``key``'s jar only."""
        if key is None:
            return
        received = getattr(response, "cookies", None)
        if not received:
            return
        jar = self._jars.get(key)
        if jar is None:
            jar = self._jars[key] = Cookies()
            while len(self._jars) > self._max_jars:
                self._lines.pop(self._jars.popitem(last=False)[0], None)
        self._jars.move_to_end(key)
        self._lines.pop(key, None)
        jar.update(received)
        if len(jar) > self._max_cookies:
            jar.clear()
            jar.update(received)


class _At:
    """What ``Cookies.get_cookies_for_curl`` reads of a request: its URL (the host of host-only cookies)."""

    __slots__ = ("url", "headers")

    def __init__(self, url: str) -> None:
        self.url = url
        self.headers: dict[str, str] = {}
