"""Fetching an image or file a caller gave by http(s) URL, without becoming a door into the network.

Off by default (``files.remote_urls``). When on, a URL is first read strictly, the way curl will
read it: printable ASCII only (no control character, space or backslash, which ``urlsplit``
drops or reads differently from curl and browsers), no credentials, a host that is a DNS name, a
dotted IPv4 address or a bracketed IPv6 address, and a port in range; curl is then given the URL
rebuilt from those checked parts. A URL is only fetched from public addresses
(``chat.addresses``): the host name is resolved here and **every** address it resolves to must
be public. curl is pinned to exactly those addresses (``CURLOPT_RESOLVE``), so a second DNS
answer cannot swap in another one between the check and the connection ("DNS rebinding").
Redirects are followed here, a few at most, each one checked the same way; proxies from the
environment are not used (the proxy would resolve the name, not us). The whole fetch, redirects
included, has one time limit, and the body one size limit. Whatever curl reports is a
``400 url_fetch_failed``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import anyio
from curl_cffi.const import CurlOpt
from curl_cffi.curl import CurlError

from deepseek_free_api import scopes
from deepseek_free_api.chat.addresses import IPAddress, is_public_address
from deepseek_free_api.errors import PayloadTooLargeError, RequestError
from deepseek_free_api.upstream.transfer import OwnedSession, Transfer

Resolver = Callable[[str, int], Awaitable[list[str]]]
AddressPolicy = Callable[[IPAddress], bool]

MAX_REDIRECTS = 3
MAX_URL_CHARS = 8192
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# RFC 3986's characters other than letters and digits: kept as they are in a path or query; any
# other (non-ASCII, '"', '<', '{', '|', …) is percent-encoded there, as a browser does.
_URL_MARKS = "-._~:/?[]@!$&'()*+,;=%"
_DNS_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*")
# A last label like these makes curl (and browsers) read the host as an IPv4 number: 0x7f.1, 2130706433.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True, slots=True)
class Target:
    """A URL as curl will read it: rebuilt from checked parts, without credentials or fragment."""

    url: str
    host: str  # lower case, no brackets, no trailing dot
    port: int
    literal: IPAddress | None  # the host when it is an IP address


def parse_target(url: str, param: str) -> Target:
    """``url`` read strictly (see the module docstring); RequestError ``url_refused`` if it cannot be."""
    if len(url) > MAX_URL_CHARS:
        raise _refused(param, f"'{param}' is longer than {MAX_URL_CHARS} characters")
    if any(char <= " " or char in "\x7f\\" for char in url):
        raise _refused(param, f"'{param}' contains a space, a control character or a backslash")
    try:
        parts = urlsplit(url)
        explicit_port = parts.port
    except ValueError as exc:  # a port out of range, unbalanced brackets
        raise _refused(param, f"'{param}' is not a valid URL (its host or port)") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise _refused(param, f"'{param}' must be an http(s) URL with a host")
    if "@" in parts.netloc:
        raise _refused(param, f"'{param}' must not carry credentials (user:password@)")
    if explicit_port == 0:
        raise _refused(param, f"'{param}' has an invalid port")
    host, shown, literal = _host(parts.netloc, param)
    port = explicit_port or (443 if scheme == "https" else 80)
    rebuilt = f"{scheme}://{shown}" + (f":{explicit_port}" if explicit_port else "")
    rebuilt += quote(parts.path or "/", safe=_URL_MARKS)
    if parts.query:
        rebuilt += "?" + quote(parts.query, safe=_URL_MARKS)
    return Target(rebuilt, host, port, literal)


def _host(netloc: str, param: str) -> tuple[str, str, IPAddress | None]:
    """(host, host as written in the rebuilt URL, its address if it is one) of ``netloc``."""
    if netloc.startswith("["):
        inner = netloc[1 : netloc.find("]")]
        try:
            if "%" in inner:
                raise ValueError("a zone")
            v6 = ipaddress.IPv6Address(inner)
        except ValueError:
            raise _refused(param, f"'{param}' has an invalid IPv6 address (zones are not accepted)") from None
        return str(v6), f"[{v6}]", v6
    host = netloc.rpartition(":")[0] if ":" in netloc else netloc
    host = host.lower().removesuffix(".")
    if len(host) > 253 or not _DNS_NAME.fullmatch(host):
        raise _refused(param, f"'{param}' has a host that is neither a DNS name nor an IP address")
    try:
        v4 = ipaddress.IPv4Address(host)
    except ValueError:
        if _NUMERIC_LABEL.fullmatch(host.rpartition(".")[2]):
            raise _refused(
                param, f"'{param}' has a numeric host that is not a dotted IPv4 address (a.b.c.d)"
            ) from None
        return host, host, None
    return host, host, v4


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a URL gave: its bytes, the declared media type and a file name from the path."""

    data: bytes = field(repr=False)
    media_type: str
    filename: str


class RemoteFetcher:
    """GET one http(s) URL from public addresses only, within a size and a time limit."""

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout_s: float,
        resolver: Resolver = system_resolver,
        address_allowed: AddressPolicy = is_public_address,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._resolve = resolver
        self._allowed = address_allowed
        self._max_redirects = max_redirects

    async def fetch(self, url: str, param: str) -> Fetched:
        """The body of ``url``; RequestError (400, or 413 when too large) names ``param``."""
        try:
            with anyio.fail_after(self._timeout_s):
                for _ in range(self._max_redirects + 1):
                    fetched_or_next = await self._hop(parse_target(url, param), param)
                    if isinstance(fetched_or_next, Fetched):
                        return fetched_or_next
                    url = fetched_or_next
        except TimeoutError as exc:
            raise _failed(param, f"'{param}': the URL did not deliver within {self._timeout_s:g} s") from exc
        raise _failed(param, f"'{param}': the URL redirected more than {self._max_redirects} times")

    async def pinned_addresses(self, target: Target, param: str) -> list[str]:
        """The addresses of ``target``'s host, each one allowed; else RequestError."""
        if target.literal is not None:
            addresses = [target.literal]
        else:
            try:
                resolved = await self._resolve(target.host, target.port)
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
            except (OSError, ValueError) as exc:
                raise _failed(param, f"'{param}': the URL's host name could not be resolved") from exc
        if not addresses:
            raise _failed(param, f"'{param}': the URL's host name has no address")
        for address in addresses:
            if not self._allowed(address):
                # The address is not quoted back: the caller must not learn the inside of the network.
                raise _refused(
                    param,
                    f"'{param}': the URL leads to a private, loopback, link-local or other special-purpose "
                    "address; only public addresses are fetched",
                )
        return [str(a) for a in addresses]

    async def _hop(self, target: Target, param: str) -> Fetched | str:
        """One request: the body, or the next URL of a redirect."""
        addresses = await self.pinned_addresses(target, param)
        shown = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
        options: dict[CurlOpt, Any] = {
            CurlOpt.RESOLVE: [f"{target.host}:{target.port}:{shown}"],
            CurlOpt.PROTOCOLS_STR: "http,https",
        }
        session = OwnedSession(curl_options=options, trust_env=False)
        transfer = Transfer()
        response: Any = None
        try:
            with transfer.current():
                response = await session.request(
                    "GET", target.url, stream=True, allow_redirects=False, timeout=self._timeout_s
                )
            if response.status_code in _REDIRECTS and response.headers.get("location"):
                return urljoin(target.url, str(response.headers["location"]))
            if response.status_code != 200:
                raise _failed(param, f"'{param}': the URL answered HTTP {response.status_code}")
            data = await self._body(response, param)
        except CurlError as exc:  # every curl failure, RequestException or not (curl_cffi 0.17)
            raise _failed(param, f"'{param}': the URL could not be fetched ({type(exc).__name__})") from exc
        finally:
            # curl_cffi's Response.aclose reads the rest of the body first (400 MiB for a 1 MiB
            # limit, measured 2026-12): the transfer is taken out of curl where it stands instead,
            # whatever ended it (a refusal, a redirect, an error, a cancellation, the time limit).
            with scopes.shielded():
                await transfer.end(response)
                await session.close()
        media_type = str(response.headers.get("content-type") or "").split(";")[0].strip().lower()
        name = unquote(PurePosixPath(urlsplit(target.url).path).name)
        return Fetched(data, media_type, name)

    async def _body(self, response: Any, param: str) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise self._too_large(param)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_content():
            size += len(chunk)
            if size > self._max_bytes:
                raise self._too_large(param)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, param: str) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"'{param}': the URL's content is larger than files.max_bytes ({self._max_bytes} bytes)",
            param=param,
        )


def _refused(param: str, message: str) -> RequestError:
    return RequestError(message, param=param, code="url_refused")


def _failed(param: str, message: str) -> RequestError:
    return RequestError(message, param=param, code="url_fetch_failed")
