"""The header lines of DeepSeek calls, as curl takes them: encoded once per account, not per call.

An account's calls send the persona's headers for that account (``Persona.headers``: about twenty
that change only with the token, device, locality or this machine's time zone), then a call's own
(the JSON Content-Type, a completion's proof of work and chat page). Building the dict, encoding
every line and linking them into a ``curl_slist`` again for every call made a session call's
set-up 18 µs of CPU (bench/call_setup.py, 2026-12). Here an account's lines are encoded once
(``AccountHeaders``), the list of a call that sends nothing of its own beyond what recurs
(session, PoW challenge, stop, status) is linked once (5 µs per call), and a call with its own
values encodes only those (a completion: 19 -> 13 µs). curl_cffi's ``Expect:`` line is added as
curl_cffi adds it. The bytes sent are the ones curl_cffi made of the same header dict
(tests/upstream/test_lean_requests.py compares them).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from curl_cffi._wrapper import ffi, lib

from deepseek_free_api.upstream.persona import Locality, Persona, host_timezone_offset
from deepseek_free_api.upstream.transfer import MAX_ACCOUNTS

Headers = dict[str, str | None]
Extra = tuple[tuple[str, str | None], ...]  # a call's own headers, in the order they are set
_LISTS_PER_ACCOUNT = 4  # recurring sets of a call's own headers: none, the JSON Content-Type...


def line(name: str, value: str | None) -> bytes:
    """The line curl_cffi makes of one header: None removes a header curl would add."""
    return (f"{name}:" if value is None else f"{name};" if value == "" else f"{name}: {value}").encode()


def linked(lines: list[bytes]) -> Any:
    """A ``curl_slist`` of ``lines``, freed once nothing refers to it (a handle keeps the one it uses)."""
    slist = ffi.NULL
    for one in lines:
        slist = lib.curl_slist_append(slist, one)
    return ffi.gc(slist, lib.curl_slist_free_all)


class AccountHeaders:
    """The persona's headers for one account, encoded once, and the lists of its recurring calls."""

    __slots__ = ("headers", "_lines", "_where", "_expect", "_lists")

    def __init__(self, headers: Headers) -> None:
        self.headers = headers
        self._lines = [line(name, value) for name, value in headers.items()]
        self._where = {name: index for index, name in enumerate(headers)}
        self._expect = any(name.lower() == "expect" for name in headers)
        self._lists: dict[Extra, Any] = {}

    def merged(self, extra: Extra) -> Headers:
        """The header dict of a call with ``extra``: as ``dict.update``, a name set again keeps its place."""
        headers = dict(self.headers)
        headers.update(extra)
        return headers

    def slist(self, extra: Extra, recurring: bool) -> Any:
        """The curl list of a call with ``extra``; kept for the next call when ``recurring``."""
        kept = self._lists.get(extra)
        if kept is not None:
            return kept
        lines = self._lines.copy()
        added: dict[str, int] = {}
        for name, value in extra:
            at = self._where.get(name, added.get(name))
            if at is None:
                added[name] = len(lines)
                lines.append(line(name, value))
            else:
                lines[at] = line(name, value)
        if not self._expect and not any(name.lower() == "expect" for name, _ in extra):
            lines.append(b"Expect: ")
        slist = linked(lines)
        if recurring and len(self._lists) < _LISTS_PER_ACCOUNT:
            self._lists[extra] = slist
        return slist


class HeaderCache:
    """``AccountHeaders`` per account and what its headers depend on, the least recently used
    forgotten first (at most ``MAX_ACCOUNTS``, as the accounts' cookies and connections)."""

    def __init__(self, persona: Persona, origin: str, limit: int = MAX_ACCOUNTS) -> None:
        self._persona = persona
        self._origin = origin
        self._limit = limit
        self._accounts: OrderedDict[tuple[Any, ...], AccountHeaders] = OrderedDict()

    def of(self, token: str | None, device_id: str | None, locality: Locality | None) -> AccountHeaders:
        """The headers of calls with this token, device and locality (None: the persona's)."""
        # This machine's offset is part of the key: it changes with daylight saving time. The
        # locality's fields, not the dataclass: each call brings a new one, whose generated
        # __hash__ and __eq__ are Python calls (four per call).
        where = (None, None) if locality is None else (locality.locale, locality.timezone_offset)
        key = (token, device_id, *where, host_timezone_offset())
        found = self._accounts.get(key)
        if found is not None:
            self._accounts.move_to_end(key)
            return found
        persona = self._persona
        headers = persona.headers(token=token, device_id=device_id, origin=self._origin, locality=locality)
        made = self._accounts[key] = AccountHeaders(headers)
        while len(self._accounts) > self._limit:
            self._accounts.popitem(last=False)  # a list still set on a handle lives on until replaced
        return made
