"""Which browser pages and which ``Host`` names may reach the server (CORS and DNS rebinding).

A page on any site can make the visitor's browser POST to ``http://127.0.0.1:8000``; CORS only
decides whether the page may *read* the answer, and a DNS-rebinding page even looks same-origin.
That matters only when the server works without a secret the page cannot know, i.e. while
anonymous use is on (``serve --demo`` or ``auth.allow_anonymous``). The policy:

* ``Origin`` — a request that carries one is served if the origin is listed in
  ``server.cors_origins`` (``"*"`` = any), or is the server's own origin (``Origin`` matching
  ``Host``). Others get 403 before the application sees them. With nothing configured the list
  is ``["*"]`` (every request needs a key or a DeepSeek token anyway), except while anonymous use
  is on, when it is empty: only the server's own pages may use it.
* ``Host`` — checked while anonymous use is on, and always once ``server.allowed_hosts`` is set:
  loopback names, the bind address and the configured names pass, others get 403 (a rebinding
  page sends its own name). Not checked otherwise, so a server with keys behind a proxy keeps
  answering under any name without configuration.
* Preflights (``OPTIONS`` with ``Access-Control-Request-Method``) are answered here, and only for
  allowed origins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deepseek_free_api.api.errors import openai_error_response
from deepseek_free_api.errors import PermissionDeniedError
from deepseek_free_api.settings import Settings

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
_ALLOW_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"
_PREFLIGHT_MAX_AGE = b"600"


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """Allowed origins (``"*"`` = any) and, when ``check_host``, the allowed ``Host`` names."""

    origins: frozenset[str]
    hosts: frozenset[str]
    check_host: bool

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        """Whether a page of ``origin`` may use the server reached as ``host``."""
        if "*" in self.origins or origin.lower() in self.origins:
            return True
        if not host:
            return False
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request addressed to ``host`` (the ``Host`` header) is served."""
        if not self.check_host or host is None:  # no Host: HTTP/1.0 tools, never a browser
            return True
        return host_name(host) in self.hosts


def host_name(host: str) -> str:
    """The name of a ``Host`` header, lower case, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def origin_policy(settings: Settings) -> OriginPolicy:
    """The policy for ``settings`` (see the module docstring)."""
    anonymous = settings.auth.allow_anonymous or settings.demo
    configured = settings.server.cors_origins
    origins = configured or (() if anonymous else ("*",))
    hosts = set(LOOPBACK_HOSTS) | {host_name(h) for h in settings.server.allowed_hosts}
    if settings.server.host not in _WILDCARD_BINDS:
        hosts.add(host_name(settings.server.host))
    return OriginPolicy(
        origins=frozenset(o.rstrip("/").lower() for o in origins),
        hosts=frozenset(hosts),
        check_host=anonymous or bool(settings.server.allowed_hosts),
    )


class OriginGuard:
    """Pure ASGI middleware: refuses foreign ``Host``/``Origin`` values and answers CORS for the rest."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host, origin, preflight, requested_headers = _read(scope["headers"])
        if not self.policy.host_allowed(host):
            await _refuse(
                f"this server does not answer to the host name {host_name(host or '')[:100]!r}; "
                "add it to server.allowed_hosts",
                scope,
                receive,
                send,
            )
            return
        if origin is None:
            await self.app(scope, receive, send)
            return
        if not self.policy.origin_allowed(origin, host):
            await _refuse(
                f"requests from the web page origin {origin[:100]!r} are not allowed; "
                "add it to server.cors_origins",
                scope,
                receive,
                send,
            )
            return
        if scope["method"] == "OPTIONS" and preflight:
            await _preflight(origin, requested_headers, send)
            return
        await self.app(scope, receive, _with_cors(send, origin))


def _read(raw: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None, bool, str | None]:
    """(``Host``, ``Origin``, whether ``Access-Control-Request-Method`` came, and
    ``Access-Control-Request-Headers``); of a header sent twice, the last. Only these four are
    decoded: a dict of every header would live as long as the request (a stream: minutes)."""
    host = origin = requested_headers = None
    preflight = False
    for name, value in raw:
        name = name.lower()
        if name == b"host":
            host = value.decode("latin-1")
        elif name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"access-control-request-method":
            preflight = True
        elif name == b"access-control-request-headers":
            requested_headers = value.decode("latin-1")
    return host, origin, preflight, requested_headers


async def _refuse(message: str, scope: Scope, receive: Receive, send: Send) -> None:
    response = openai_error_response(PermissionDeniedError(message))
    await response(scope, receive, send)


async def _preflight(origin: str, requested_headers: str | None, send: Send) -> None:
    headers = [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-methods", _ALLOW_METHODS),
        (b"access-control-max-age", _PREFLIGHT_MAX_AGE),
        (b"vary", b"Origin"),
        (b"content-length", b"0"),
    ]
    if requested_headers:
        headers.append((b"access-control-allow-headers", requested_headers.encode("latin-1")))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Send, origin: str) -> Send:
    """``send`` that adds the CORS headers of an allowed origin to the response start."""
    extra = [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", b"*"),
        (b"vary", b"Origin"),
    ]

    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_with_cors
