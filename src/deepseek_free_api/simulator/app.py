"""``create_app(config)``: the simulator as an ASGI app (Starlette)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import chat, files, sessions, turns, users
from .calls import CallMeter
from .config import SimulatorConfig
from .core import Handler, Simulator, gated
from .envelope import json_response
from .introspection import routes as sim_routes

API = "/api/v0"

# (method, path, handler, needs a token)
_ENDPOINTS: tuple[tuple[str, str, Handler, bool], ...] = (
    ("POST", "/users/login", users.login, False),
    ("GET", "/users/current", users.current, True),
    ("GET", "/client/settings", users.settings, True),
    ("POST", "/chat/create_pow_challenge", users.create_pow_challenge, True),
    ("POST", "/chat_session/create", sessions.create, True),
    ("POST", "/chat_session/delete", sessions.delete, True),
    ("POST", "/chat_session/delete_all", sessions.delete_all, True),
    ("GET", "/chat_session/fetch_page", sessions.fetch_page, True),
    ("GET", "/chat/history_messages", sessions.history, True),
    ("POST", "/chat/completion", chat.completion, True),
    ("POST", "/chat/edit_message", turns.edit_message, True),
    ("POST", "/chat/regenerate", turns.regenerate, True),
    ("POST", "/chat/continue", turns.continue_, True),
    ("POST", "/chat/stop_stream", turns.stop_stream, True),
    ("POST", "/file/upload_file", files.upload_file, True),
    ("GET", "/file/fetch_files", files.fetch_files, True),
)


async def _not_found(request: Request, exc: Exception) -> Response:
    # FastAPI-style 404 body, as an unknown upstream path answers.
    return json_response({"detail": "Not Found"}, status=404)


def create_app(config: SimulatorConfig | None = None) -> Starlette:
    """A fresh simulator app; ``config`` defaults to the shipped demo configuration."""
    sim = Simulator(config or SimulatorConfig.demo())
    routes = [
        Route(API + path, gated(sim, handler, auth=auth), methods=[method])
        for method, path, handler, auth in _ENDPOINTS
    ]
    routes += sim_routes(sim)
    app = Starlette(routes=routes, exception_handlers={404: _not_found})
    app.add_middleware(CallMeter, counts=lambda: sim.world.calls)
    app.state.simulator = sim
    return app
