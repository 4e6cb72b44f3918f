"""The whole API as a FastAPI application: ``/openapi.json``, ``/docs``, the admin page, and every
request the edge does not serve itself (unknown paths, wrong methods, slash redirects).

The edge (``api/dispatch.py``) builds it on the first request that needs it, so that FastAPI is
not imported at start-up. It shares the edge's ``state`` (what the lifespan built) and its
exception handlers; the middleware and the lifespan are the edge's, run once for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from deepseek_free_api import __version__
from deepseek_free_api.api import docs_page
from deepseek_free_api.api.admin.routes import router_for
from deepseek_free_api.api.errors import openai_error_response
from deepseek_free_api.api.failures import Handler
from deepseek_free_api.api.openapi import DESCRIPTION, DocumentedApp, Health, Model, ModelList, TokenLiveness
from deepseek_free_api.api.routes import ROUTES
from deepseek_free_api.errors import RequestError
from deepseek_free_api.settings import Settings

_OWN_RESPONSE: dict[str, Any] = {"response_model": None}  # the route answers a Response of its own making
_UNDOCUMENTED: dict[str, Any] = {"include_in_schema": False}  # the operator's endpoints, not the public API
# What FastAPI documents of a route besides its handler's signature, by (path, methods).
_OPTIONS: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {
    ("/metrics", ("GET",)): _UNDOCUMENTED,
    ("/readyz", ("GET", "HEAD")): _UNDOCUMENTED,
    ("/v1/models", ("GET",)): {"response_model": ModelList},
    ("/v1/models/{model_id:path}", ("GET",)): {"response_model": Model},
    ("/ping", ("HEAD",)): {"response_class": PlainTextResponse, "operation_id": "ping_head"},
    ("/ping", ("GET",)): {"response_class": PlainTextResponse, "operation_id": "ping"},
    ("/token/check", ("POST",)): {"response_model": TokenLiveness},
    ("/", ("GET",)): {"response_class": HTMLResponse},
    ("/healthz", ("HEAD",)): {"response_model": Health, "operation_id": "healthz_head"},
    ("/healthz", ("GET",)): {"response_model": Health, "operation_id": "healthz"},
}


def build_api(settings: Settings, state: State, handlers: Mapping[Any, Handler]) -> DocumentedApp:
    """Every route of the table, ``/docs`` and the admin page, answering in our envelopes."""
    app = DocumentedApp(
        title="deepseek-free-api",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # api/docs_page.py serves /docs from local files (FastAPI's uses a CDN)
        redoc_url=None,
    )
    app.state = state
    app.anonymous = settings.auth.allow_anonymous
    for spec in ROUTES:
        options = _OPTIONS.get((spec.path, spec.methods), _OWN_RESPONSE)
        app.add_api_route(spec.path, spec.endpoint, methods=list(spec.methods), **options)
    app.include_router(docs_page.router)
    app.include_router(router_for(settings))
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    return app


async def _validation_error(request: Request, exc: Exception) -> Response:
    # Routes read their own bodies; this only guards a framework-validated parameter.
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    param = ".".join(str(part) for part in first.get("loc", ())) or None
    return openai_error_response(RequestError(f"Invalid '{param}': {first.get('msg')}", param=param))
