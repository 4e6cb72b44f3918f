"""The app-wide exception handlers, shared by the edge and the FastAPI application behind it.

Our errors answer in the OpenAI envelope (the Anthropic route catches its own); so do unknown
routes and wrong methods, instead of Starlette's ``{"detail": …}``. A client that went away while
sending its body gets one debug line and a 499 nobody receives.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from deepseek_free_api.api.errors import http_error_response, openai_error_response
from deepseek_free_api.api.ops import note_error
from deepseek_free_api.errors import ServiceError

log = logging.getLogger("deepseek_free_api.app")

Handler = Callable[[Request, Exception], Awaitable[Response]]


def exception_handlers(allowed_methods: Callable[[str], Awaitable[str]]) -> dict[Any, Handler]:
    """The handlers by exception class; ``allowed_methods(path)`` is the ``Allow`` of a 405."""

    async def service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        note_error(exc)
        return openai_error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = await allowed_methods(request.url.path)
        return http_error_response(exc.status_code, request.method, request.url.path, exc.detail, headers)

    async def client_gone(request: Request, exc: Exception) -> Response:
        # The client closed the connection while sending its body: nobody is left to answer, and a
        # traceback per dropped client would let anyone flood the log.
        log.debug(
            "client %s went away while sending %s %s", _client(request), request.method, request.url.path
        )
        return Response(status_code=499)  # nginx's "client closed request"; never delivered

    return {ServiceError: service_error, HTTPException: http_error, ClientDisconnect: client_gone}


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "unknown"
