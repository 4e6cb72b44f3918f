"""The edge: the ASGI application ``create_app`` returns, with the route table on a short path.

``EdgeApp`` is a Starlette application (its state, ``add_middleware`` and lifespan are Starlette's)
whose stack is shorter for the routes of ``api/routes.py``'s table. Such a request passes:

- ``EdgeApp.__call__``: an error nothing handled is answered 500 (if no answer began) and raised
  again, as Starlette's ``ServerErrorMiddleware`` does, outermost;
- the server's middleware, in the order ``add_middleware`` gave it (as in any Starlette app);
- ``TableRoutes``: the route, looked up by method and path (static paths in a dictionary, the few
  templated ones by their pattern), is called with the request; an exception it raises is
  answered by the app's handler for its class, as Starlette's ``ExceptionMiddleware`` and
  ``request_response`` do (a handler's own error gets a second lookup, as the outer of those two
  layers gives it).

That is two frames and one ``send`` wrapper where Starlette's layers take nine frames, two
``Request`` objects and three wrappers: about 5 KB per live stream, and two calls less per SSE
write. Every other request, and the lifespan, goes on through Starlette's ``ExceptionMiddleware``
and ``Router`` to ``fallback``: the FastAPI application of the whole API, made on the first
request that needs it (``LazyApp``), so that neither FastAPI nor its route analysis costs anything
at start-up or on the chat path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import anyio
import anyio.to_thread
from starlette._utils import get_route_path, is_async_callable
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, ExceptionHandler, Lifespan, Message, Receive, Scope, Send

from deepseek_free_api.api.routes import RouteSpec

ExceptionHandlers = Mapping[Any, Callable[..., Any]]
_SENT = "deepseek_free_api.sent"  # the scope's key for its request's ``_Sent``


class _Asgi(Protocol):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


AppT = TypeVar("AppT", bound=_Asgi)


class _Sent:
    """The server's ``send`` and ``receive`` for one HTTP request: notes whether the response has
    started, and lets no answer start before the request's body is in.

    An answer given before the body has arrived (a 401, a 429, a 404 to a POST) is valid HTTP, and
    the server reads the rest afterwards to keep the connection. But a proxy forwarding the body as
    it comes (Nginx with ``proxy_request_buffering off``, as deploy/nginx.conf has it) cannot finish
    sending it then: it closes its connection to the server, and its client's after a lingering
    read, so the client's next request on that connection is lost ("Server disconnected without
    sending a response"). So the rest of the body, until ``limit`` bytes in all, is read and dropped
    before the head goes out; a body declared or found larger is left to the server, as before. A
    client that sent ``Expect: 100-continue`` and was not asked for its body is answered at once:
    its body is not coming.
    """

    __slots__ = ("send", "started", "_receive", "_body_done", "_received", "_asked", "_limit", "_scope")

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self.send = send
        self.started = False
        self._receive = receive
        self._body_done = False
        self._received = 0  # body bytes taken so far, by the app or the wait
        self._asked = False  # receive() called: uvicorn sent any 100 Continue then
        self._limit = limit
        self._scope = scope

    async def receive(self) -> Message:
        self._asked = True
        message = await self._receive()
        self._received += len(message.get("body", b""))
        if not message.get("more_body", False):  # the body's last piece, or http.disconnect
            self._body_done = True
        return message

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            if not self._body_done:
                await self._drain()
        await self.send(message)

    async def _drain(self) -> None:
        body = False
        for name, value in self._scope["headers"]:
            if name == b"content-length":
                # (the parsers refuse more than 19 digits; int() of thousands would cost CPU)
                size = int(value) if value.isdigit() and len(value) < 20 else 0
                if size > self._limit:
                    return  # refused as too large: not read
                body = size > 0
            elif name == b"transfer-encoding":
                body = True
            elif name == b"expect" and value.lower() == b"100-continue" and not self._asked:
                return
        if not body:
            return
        while not self._body_done and self._received <= self._limit:
            await self.receive()


class TableRoutes:
    """Serves the table's routes; hands every other request (and the lifespan) to ``errors``."""

    def __init__(self, table: Sequence[RouteSpec], errors: ExceptionMiddleware) -> None:
        self._errors = errors
        # The same tables Starlette's layers would look handlers up in (its HTTPException default too).
        self._handlers = errors._exception_handlers
        self._status_handlers = errors._status_handlers
        self._static: dict[tuple[str, str], Route] = {}
        self._templated: list[tuple[str, Route]] = []  # (method, route) in the table's order
        for spec in table:
            route = Route(spec.path, spec.edge_endpoint(), methods=list(spec.methods))
            for method in spec.methods:
                if route.param_convertors:
                    self._templated.append((method, route))
                else:
                    self._static.setdefault((method, spec.path), route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope) if scope["type"] == "http" else None
        if route is None:
            await self._errors(scope, receive, send)
            return
        scope["route"] = route  # the access log's route label: its template
        request = Request(scope, receive, send)
        try:
            try:
                response = await route.endpoint(request)
                await response(scope, receive, send)
            except Exception as exc:
                await self._handle(exc, request, send)
        except Exception as exc:  # the handler's own error, which Starlette's outer layer looks up too
            await self._handle(exc, request, send)

    def _route(self, scope: Scope) -> Route | None:
        method = scope["method"]
        route = self._static.get((method, get_route_path(scope)))
        if route is not None:
            return route
        for allowed, candidate in self._templated:
            if allowed != method:
                continue
            match, child_scope = candidate.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)
                return candidate
        return None

    async def _handle(self, exc: Exception, request: Request, send: Send) -> None:
        """Answer ``exc`` with its handler, as Starlette's ``wrap_app_handling_exceptions`` does."""
        handler = None
        if isinstance(exc, HTTPException):
            handler = self._status_handlers.get(exc.status_code)
        if handler is None:
            for cls in type(exc).__mro__:
                handler = self._handlers.get(cls)
                if handler is not None:
                    break
            else:
                raise exc
        sent = request.scope.get(_SENT)
        if sent is not None and sent.started:
            raise RuntimeError("Caught handled exception, but response already started.") from exc
        response = await _called(handler, request, exc)
        if response is not None:
            await response(request.scope, request.receive, send)
        exc.__traceback__ = None  # reused exception instances accumulate tracebacks across requests


class EdgeApp(Starlette):
    """Starlette with the edge's short path for the table's routes (see the module docstring)."""

    def __init__(
        self,
        table: Sequence[RouteSpec],
        fallback: ASGIApp,
        *,
        lifespan: Lifespan[Any],
        exception_handlers: ExceptionHandlers,
        body_limit: int,
    ) -> None:
        super().__init__(exception_handlers=exception_handlers)
        self._body_limit = body_limit  # the most of an unread request body read before an answer
        # No slash redirects here: FastAPI, which gets every request not served, decides those.
        self.router = Router(redirect_slashes=False, default=fallback, lifespan=lifespan)
        handlers: dict[Any, ExceptionHandler] = {}
        self._error_handler: ExceptionHandler | None = None
        for key, handler in exception_handlers.items():  # split as Starlette splits them
            if key in (500, Exception):
                self._error_handler = handler
            else:
                handlers[key] = handler
        self._routes = TableRoutes(table, ExceptionMiddleware(self.router, handlers=handlers))

    def build_middleware_stack(self) -> ASGIApp:
        """The server's middleware around the table; the 500 answer is ``__call__``'s."""
        app: ASGIApp = self._routes
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        if scope["type"] != "http":
            await self.middleware_stack(scope, receive, send)
            return
        sent = scope[_SENT] = _Sent(scope, receive, send, self._body_limit)
        try:
            await self.middleware_stack(scope, sent.receive, sent)
        except Exception as exc:
            request = Request(scope)
            if self._error_handler is None:
                response: Response | None = PlainTextResponse("Internal Server Error", status_code=500)
            else:
                response = await _called(self._error_handler, request, exc)
            if not sent.started and response is not None:
                await response(scope, sent.receive, sent)
            raise  # servers log it; test clients raise it


async def _called(handler: ExceptionHandler, request: Request, exc: Exception) -> Response | None:
    """What an exception handler answers; a plain function runs in a thread, as Starlette runs it."""
    if is_async_callable(handler):
        response: Response | None = await handler(request, exc)  # type: ignore[arg-type]
    else:
        response = await run_in_threadpool(handler, request, exc)  # type: ignore[arg-type]
    return response


class LazyApp(Generic[AppT]):
    """An ASGI application made by ``build`` on its first request, in a worker thread.

    Building it imports FastAPI and analyses every route (a few hundred milliseconds of CPU): done
    off the event loop, so streams in flight keep going meanwhile, and once however many requests
    arrive together.
    """

    def __init__(self, build: Callable[[], AppT]) -> None:
        self._build = build
        self._app: AppT | None = None
        self._lock: anyio.Lock | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await self.ready()
        await app(scope, receive, send)

    async def ready(self) -> AppT:
        """The application, built now if it was not yet."""
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._app is None:
                self._app = await anyio.to_thread.run_sync(self._build)
        return self._app
