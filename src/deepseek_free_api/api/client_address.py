"""The client's address: the connection's peer, or, behind a trusted reverse proxy, what it saw.

Anyone can send ``X-Forwarded-For``; it only means something when a proxy of the operator's
wrote it. uvicorn believes it from 127.0.0.1 by default, so any local process (or a proxy that
passes the client's header through) could name any address, and got a fresh ``/token/check``
budget per made-up address; ``serve`` turns that off and this middleware decides instead. The
forwarded headers are read only when the peer is in ``server.trusted_proxies`` (empty by
default: never). Then the chain is walked from the right, the end the trusted proxies append
to, past every trusted address; the first address no trusted proxy vouches for is the client
(anything further left was written by the client itself). ``Forwarded`` (RFC 7239, its ``for``
and ``proto``) and ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are both understood; when both
are present and name different clients, neither is believed (one of them came from the
client) and the client is the proxy itself. An entry that is not an address (``unknown``, an
obfuscated name) stops the walk at the last trusted hop.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# Bounded work for any header: a chain longer than this is cut to its right-most entries.
MAX_HOPS = 32


def parse_address(value: str) -> Address | None:
    """An address from a forwarded entry (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``), else None."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The configured proxy networks, and the walk that finds the client behind them."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address | None) -> bool:
        """Whether ``address`` is one of the operator's proxies."""
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: Address, chain: Sequence[Address | None]) -> Address:
        """The right-most address of ``chain`` (oldest first, then ``peer``) that is not a trusted proxy."""
        client = peer
        for hop in reversed(chain[-MAX_HOPS:]):
            if not self.trusts(client) or hop is None:
                break
            client = hop
        return client


def _headers(scope: Scope) -> dict[bytes, list[str]]:
    found: dict[bytes, list[str]] = {}
    for name, value in scope["headers"]:
        if name in (b"x-forwarded-for", b"x-forwarded-proto", b"forwarded"):
            found.setdefault(name, []).append(value.decode("latin-1"))
    return found


def _forwarded_elements(values: list[str]) -> list[dict[str, str]]:
    """RFC 7239 elements, each a dict of lower-case parameter names (quoted values unquoted)."""
    elements: list[dict[str, str]] = []
    for element in ",".join(values).split(",")[-MAX_HOPS:]:
        pairs: dict[str, str] = {}
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            pairs[name.strip().lower()] = value.strip().strip('"')
        elements.append(pairs)
    return elements


def _proto(value: str | None) -> str | None:
    proto = (value or "").strip().strip('"').lower()
    return proto if proto in ("http", "https") else None


def forwarded_client(
    proxies: TrustedProxies, peer: Address, headers: dict[bytes, list[str]]
) -> tuple[Address, str | None]:
    """(client address, scheme the client used or None) for a request from the trusted ``peer``."""
    clients: set[Address] = set()
    scheme = _proto(",".join(headers.get(b"x-forwarded-proto", [])).rpartition(",")[2])
    if b"x-forwarded-for" in headers:
        entries = ",".join(headers[b"x-forwarded-for"]).split(",")[-MAX_HOPS:]
        clients.add(proxies.client(peer, [parse_address(entry) for entry in entries]))
    if b"forwarded" in headers:
        elements = _forwarded_elements(headers[b"forwarded"])
        chain = [parse_address(element.get("for", "")) for element in elements]
        client = proxies.client(peer, chain)
        clients.add(client)
        # The element that named the client says how the client reached the first proxy.
        named = [element for element, hop in zip(elements, chain, strict=True) if hop == client]
        scheme = (_proto(named[-1].get("proto")) if named else None) or scheme
    if len(clients) > 1:
        return peer, None  # the two headers disagree: one of them is the client's own
    return (clients.pop() if clients else peer), scheme


class ClientAddressMiddleware:
    """Pure ASGI middleware: ``scope["client"]`` (and ``scheme``) as the trusted proxies report them."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer_address = scope.get("client") if scope["type"] in ("http", "websocket") else None
        peer = parse_address(peer_address[0]) if peer_address and self.proxies else None
        if peer is not None and self.proxies.trusts(peer):
            headers = _headers(scope)
            if headers:
                client, scheme = forwarded_client(self.proxies, peer, headers)
                # In place, as uvicorn's own proxy middleware does: its access log then names the client.
                scope["client"] = (str(client), 0)
                if scheme is not None:
                    scope["scheme"] = scheme if scope["type"] == "http" else scheme.replace("http", "ws")
        await self.app(scope, receive, send)
