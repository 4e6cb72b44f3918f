"""Small routes: models, ping, token check, the welcome page."""

from __future__ import annotations

import html
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse

from deepseek_free_api import __version__
from deepseek_free_api.api.auth import presented_credential
from deepseek_free_api.api.request_body import read_json
from deepseek_free_api.api.state import core_of
from deepseek_free_api.chat.failover import Caller
from deepseek_free_api.chat.models import ModelInfo, list_models, parse_model
from deepseek_free_api.chat.modes import ModeCatalogue
from deepseek_free_api.config import token_problem
from deepseek_free_api.errors import AuthenticationError, CapacityError, RequestError

# /token/check makes one upstream call per request: a small budget per caller (``budget_of``) keeps
# it from being used to probe tokens in bulk or to hammer DeepSeek from this server's address.
TOKEN_CHECK_BURST = 10
TOKEN_CHECK_PER_SECOND = 0.5


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per client: ``burst`` requests at once, refilled at ``per_second``."""

    def __init__(
        self,
        burst: float,
        per_second: float,
        *,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst = burst
        self._rate = per_second
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, client: str) -> float:
        """Spend one request for ``client``: 0 if allowed, else the seconds until one is."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._forget_full(now)
            bucket = self._buckets[client] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self._rate

    def _forget_full(self, now: float) -> None:
        """Drop clients whose bucket has refilled (they lose nothing); if none, the oldest."""
        refilled = self._burst / self._rate if self._rate else float("inf")
        full = [key for key, bucket in self._buckets.items() if now - bucket.updated >= refilled]
        for key in full or [min(self._buckets, key=lambda key: self._buckets[key].updated)]:
            del self._buckets[key]


def _token_check_limiter(request: Request) -> RateLimiter:
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "token_check_limiter", None)
    if limiter is None:  # one per application, made on first use
        limiter = state.token_check_limiter = RateLimiter(TOKEN_CHECK_BURST, TOKEN_CHECK_PER_SECOND)
    return limiter


def _model(info: ModelInfo) -> dict[str, object]:
    return {"id": info.id, "object": "model", "created": info.created, "owned_by": info.owned_by}


async def models(request: Request) -> JSONResponse:
    """The model catalogue in OpenAI's list format, without the modes DeepSeek has switched off."""
    catalogue: ModeCatalogue | None = getattr(request.app.state, "modes", None)
    off = await catalogue.switched_off() if catalogue is not None else frozenset()
    listed = [_model(info) for info in list_models() if parse_model(info.id).model_type not in off]
    return JSONResponse({"object": "list", "data": listed})


async def model(model_id: str, request: Request) -> JSONResponse:
    """One model: any name the grammar accepts, listed or not, and the ``claude-*`` names of
    /v1/messages and ``gpt-*`` names of /v1/responses, which the SDKs retrieve (404 otherwise)."""
    lowered = model_id.strip().lower()
    if lowered.startswith("claude"):
        request.app.state.claude_models.resolve(model_id)
    elif not lowered.startswith("gpt-"):
        parse_model(model_id)
    return JSONResponse(_model(ModelInfo(id=model_id)))


async def ping() -> PlainTextResponse:
    """Liveness (``HEAD`` too, for uptime probes)."""
    return PlainTextResponse("pong")


def budget_of(request: Request, caller: Caller | None) -> str:
    """Whose budget a request spends: a service key's own, else its client address's.

    Per address before authentication, so that a flood of 401s (or of made-up callers' tokens,
    which nothing verifies here) cannot spend the budget of a key holder at the same address.
    An IPv6 client counts per /64, the block one host usually has to itself.
    """
    if caller is not None and caller.principal.kind == "key":
        return "key:" + caller.principal.id
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "address:" + host
    if isinstance(address, ipaddress.IPv6Address):
        return "address:" + str(ipaddress.IPv6Network((address, 64), strict=False))
    return "address:" + str(address)


def _spend(request: Request, caller: Caller | None) -> None:
    wait = _token_check_limiter(request).take(budget_of(request, caller))
    if wait:
        raise CapacityError("Too many token checks from this caller; retry later", retry_after=wait)


async def token_check(request: Request) -> JSONResponse:
    """``{"token": "..."}`` -> ``{"live": bool}``, as the original server answered.

    Rate-limited per service key, or per client address without one (``budget_of``). Authorised
    when the caller may use the chat endpoint with the credential presented or, if none is, with
    the checked token as its bearer: so with service keys configured it takes a key (unless the
    operator enabled allow_anonymous or caller_tokens).
    """
    core = core_of(request)
    credential = presented_credential(request)
    caller: Caller | None = None
    try:
        caller = await core.caller(credential)
    except AuthenticationError:
        if credential is not None:
            _spend(request, None)  # a wrong credential spends its address's budget, then is a 401
            raise
    _spend(request, caller)
    body = await read_json(request)
    token = body.get("token")
    if not isinstance(token, str) or not token.strip():
        raise RequestError("'token' must be a non-empty string", param="token")
    token = token.strip()
    problem = token_problem(token)
    if problem:
        raise RequestError(f"'token' is not a valid token: it {problem}", param="token", code="invalid_value")
    if caller is None:
        await core.caller(token)  # no credential: the checked token itself must be one this server takes
    return JSONResponse({"live": await core.check_token(token)})


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>deepseek-free-api</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}}
code{{background:#f2f2f2;padding:0 .3em}}</style></head><body>
<h1>deepseek-free-api {version}</h1>
<p>The DeepSeek web chat as OpenAI Chat Completions, OpenAI Responses and Anthropic Messages.
Point your client's base URL at <code>{base}/v1</code> (Anthropic clients: <code>{base}</code>).</p>
<ul>
<li><code>POST /v1/chat/completions</code> OpenAI Chat Completions (stream or not)</li>
<li><code>POST /v1/responses</code> OpenAI Responses; <code>GET</code>/<code>DELETE</code>
<code>/v1/responses/{{id}}</code>, <code>GET /v1/responses/{{id}}/input_items</code></li>
<li><code>POST /v1/messages</code> Anthropic Messages, <code>POST /v1/messages/count_tokens</code></li>
<li><code>GET /v1/models</code> the model catalogue, <code>GET /v1/models/{{id}}</code> one model</li>
<li><code>POST /token/check</code> is a DeepSeek token alive?</li>
<li><code>GET /ping</code> liveness</li>
</ul>
<p>Interactive API documentation: <a href="/docs">/docs</a>.</p>
</body></html>
"""


async def index(request: Request) -> HTMLResponse:
    """A small page: what this is, the endpoints, a link to /docs."""
    base = html.escape(str(request.base_url).rstrip("/"))
    return HTMLResponse(_PAGE.format(version=__version__, base=base))
