"""The server's routes in one table, all served by the edge without FastAPI.

FastAPI (``api/documented.py``, built on the first request that needs it) serves the same table
as well, so that ``/openapi.json`` documents it, together with ``/docs`` and the admin page, and
it answers every request the edge does not take (unknown paths, wrong methods, slash redirects)
as it always did. The edge (``api/dispatch.py``) serves each route for exactly the methods listed
here: the same handler functions, without FastAPI's routing and per-request machinery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from deepseek_free_api.api import anthropic_messages, health, misc, openai_chat, responses_api
from deepseek_free_api.api.ops import wiring

Endpoint = Callable[..., Awaitable[Response]]
EdgeEndpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route: its handler as FastAPI sees it, and how the edge calls it."""

    path: str
    methods: tuple[str, ...]
    endpoint: Endpoint  # FastAPI reads its parameters (path, query) from the signature
    edge: EdgeEndpoint | None = None  # how the edge calls it; None: ``endpoint(request)``

    def edge_endpoint(self) -> EdgeEndpoint:
        """What the edge calls with the request."""
        return self.edge or self.endpoint


async def _ping(request: Request) -> Response:
    return await misc.ping()


async def _healthz(request: Request) -> Response:
    return await health.healthz()


async def _model(request: Request) -> Response:
    return await misc.model(request.path_params["model_id"], request)


async def _get_response(request: Request) -> Response:
    return await responses_api.get_response(request.path_params["response_id"], request)


async def _delete_response(request: Request) -> Response:
    return await responses_api.delete_response(request.path_params["response_id"], request)


async def _list_input_items(request: Request) -> Response:
    query = request.query_params  # as FastAPI reads an optional str parameter: the last value given
    return await responses_api.list_input_items(
        request.path_params["response_id"],
        request,
        after=query.get("after"),
        before=query.get("before"),
        limit=query.get("limit"),
        order=query.get("order"),
    )


_ITEM = "/v1/responses/{response_id}"

# In FastAPI's order of old (it decides the order of /openapi.json's paths).
ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("/metrics", ("GET",), wiring.metrics),
    RouteSpec("/readyz", ("GET", "HEAD"), wiring.readyz),  # uptime probes often send HEAD
    RouteSpec("/v1/chat/completions", ("POST",), openai_chat.chat_completions),
    RouteSpec("/v1/messages", ("POST",), anthropic_messages.messages),
    RouteSpec("/v1/messages/count_tokens", ("POST",), anthropic_messages.count_tokens),
    RouteSpec("/v1/responses", ("POST",), responses_api.create_response),
    RouteSpec(_ITEM, ("GET",), responses_api.get_response, _get_response),
    RouteSpec(_ITEM, ("DELETE",), responses_api.delete_response, _delete_response),
    RouteSpec(_ITEM + "/input_items", ("GET",), responses_api.list_input_items, _list_input_items),
    RouteSpec("/v1/models", ("GET",), misc.models),
    RouteSpec("/v1/models/{model_id:path}", ("GET",), misc.model, _model),
    RouteSpec("/ping", ("HEAD",), misc.ping, _ping),
    RouteSpec("/ping", ("GET",), misc.ping, _ping),
    RouteSpec("/token/check", ("POST",), misc.token_check),
    RouteSpec("/", ("GET",), misc.index),
    RouteSpec("/healthz", ("HEAD",), health.healthz, _healthz),
    RouteSpec("/healthz", ("GET",), health.healthz, _healthz),
)
