"""The edge: the ASGI application ``create_app`` returns, with the route table served on Starlette.

``EdgeApp`` is a plain Starlette application: its middleware (the server's own, then Starlette's
error and exception layers, in Starlette's order) and its lifespan are those of any Starlette app.
Its router looks a request up by method and path in ``api/routes.py``'s table (static paths in a
dictionary, the few templated ones by their pattern) and calls the handler through Starlette's
``request_response``, so an error raised there goes to the app's exception handlers. Every other
request goes to ``fallback``: the FastAPI application of the whole API, made on the first request
that needs it (``LazyApp``), so that neither FastAPI nor its route analysis costs anything at
start-up or on the chat path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import anyio
import anyio.to_thread
from starlette._utils import get_route_path
from starlette.applications import Starlette
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from deepseek_free_api.api.routes import RouteSpec

ExceptionHandlers = Mapping[Any, Callable[..., Any]]


class _Asgi(Protocol):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


AppT = TypeVar("AppT", bound=_Asgi)


class EdgeRouter(Router):
    """Serves the table's routes; hands every other request (and WebSocket) to ``default``."""

    def __init__(self, table: Sequence[RouteSpec], default: ASGIApp, lifespan: Lifespan[Any]) -> None:
        # No slash redirects here: FastAPI, which gets every request not served, decides those.
        super().__init__(redirect_slashes=False, default=default, lifespan=lifespan)
        self._static: dict[tuple[str, str], Route] = {}
        self._templated: list[tuple[str, Route]] = []  # (method, route) in the table's order
        for spec in table:
            route = Route(spec.path, spec.edge_endpoint(), methods=list(spec.methods))
            for method in spec.methods:
                if route.param_convertors:
                    self._templated.append((method, route))
                else:
                    self._static.setdefault((method, spec.path), route)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one request (or the lifespan)."""
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        method = scope["method"]
        route = self._static.get((method, get_route_path(scope)))
        if route is None:
            for allowed, candidate in self._templated:
                if allowed != method:
                    continue
                match, child_scope = candidate.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    route = candidate
                    break
            else:
                await self.default(scope, receive, send)
                return
        scope["route"] = route  # the access log's route label: its template
        await route.app(scope, receive, send)


class EdgeApp(Starlette):
    """Starlette with the edge's router (see the module docstring)."""

    def __init__(
        self,
        table: Sequence[RouteSpec],
        fallback: ASGIApp,
        *,
        lifespan: Lifespan[Any],
        exception_handlers: ExceptionHandlers,
    ) -> None:
        super().__init__(exception_handlers=exception_handlers)
        self.router = EdgeRouter(table, fallback, lifespan)


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
