"""Fetching an image or file a caller gave by http(s) URL, without becoming a door into the network.

Off by default (``files.remote_urls``). When on, a URL is only fetched from public addresses: the
host name is resolved here and **every** address it resolves to must be global unicast (no
private, loopback, link-local, unique-local, carrier-grade NAT, multicast or reserved range; an
IPv4 address mapped into IPv6 is judged as IPv4). curl is then pinned to exactly those addresses
(``CURLOPT_RESOLVE``), so a second DNS answer cannot swap in another one between the check and the
connection ("DNS rebinding"). Redirects are followed here, a few at most, each one checked the
same way; proxies from the environment are not used (the proxy would resolve the name, not us).
The whole fetch, redirects included, has one time limit, and the body one size limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import anyio
from curl_cffi.const import CurlOpt
from curl_cffi.requests import AsyncSession
from curl_cffi.requests.exceptions import RequestException

from deepseek_free_api.errors import PayloadTooLargeError, RequestError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
AddressPolicy = Callable[[IPAddress], bool]

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is global unicast: never private, loopback, link-local, multicast or reserved."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None and not is_public_address(embedded):
            return False
    return address.is_global and not address.is_multicast


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


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
                    fetched_or_next = await self._hop(url, param)
                    if isinstance(fetched_or_next, Fetched):
                        return fetched_or_next
                    url = fetched_or_next
        except TimeoutError as exc:
            raise _failed(param, f"'{param}': the URL did not deliver within {self._timeout_s:g} s") from exc
        raise _failed(param, f"'{param}': the URL redirected more than {self._max_redirects} times")

    async def pinned_addresses(self, url: str, param: str) -> tuple[str, int, list[str]]:
        """(host, port, addresses) of an http(s) URL whose every address is allowed; else RequestError."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise _refused(param, f"'{param}' must be an http(s) URL with a host")
        try:
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError as exc:
            raise _refused(param, f"'{param}' has an invalid port") from exc
        host = parts.hostname
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                resolved = await self._resolve(host, port)
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
            except OSError as exc:
                raise _failed(param, f"'{param}': the URL's host name could not be resolved") from exc
        if not addresses:
            raise _failed(param, f"'{param}': the URL's host name has no address")
        for address in addresses:
            if not self._allowed(address):
                # The address is not quoted back: the caller must not learn the inside of the network.
                raise _refused(
                    param,
                    f"'{param}': the URL leads to a private, loopback, link-local or reserved address; "
                    "only public addresses are fetched",
                )
        return host, port, [str(a) for a in addresses]

    async def _hop(self, url: str, param: str) -> Fetched | str:
        """One request: the body, or the next URL of a redirect."""
        host, port, addresses = await self.pinned_addresses(url, param)
        shown = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
        options: dict[CurlOpt, Any] = {
            CurlOpt.RESOLVE: [f"{host}:{port}:{shown}"],
            CurlOpt.PROTOCOLS_STR: "http,https",
        }
        session: AsyncSession[Any] = AsyncSession(curl_options=options, trust_env=False)
        try:
            response = await session.request(
                "GET", url, stream=True, allow_redirects=False, timeout=self._timeout_s
            )
            try:
                if response.status_code in _REDIRECTS and response.headers.get("location"):
                    return urljoin(url, str(response.headers["location"]))
                if response.status_code != 200:
                    raise _failed(param, f"'{param}': the URL answered HTTP {response.status_code}")
                data = await self._body(response, param)
            finally:
                await response.aclose()
        except RequestException as exc:
            raise _failed(param, f"'{param}': the URL could not be fetched ({type(exc).__name__})") from exc
        finally:
            await session.close()
        media_type = str(response.headers.get("content-type") or "").split(";")[0].strip().lower()
        name = unquote(PurePosixPath(urlsplit(url).path).name)
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
