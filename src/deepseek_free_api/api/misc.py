"""Small routes: models, ping, token check, the welcome page."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse

from deepseek_free_api import __version__
from deepseek_free_api.api.request_body import read_json
from deepseek_free_api.api.state import core_of
from deepseek_free_api.chat.models import list_models
from deepseek_free_api.errors import RequestError

router = APIRouter()


@router.get("/v1/models")
async def models() -> JSONResponse:
    """The model catalogue in OpenAI's list format."""
    data = [
        {"id": info.id, "object": "model", "created": info.created, "owned_by": info.owned_by}
        for info in list_models()
    ]
    return JSONResponse({"object": "list", "data": data})


@router.get("/ping")
async def ping() -> PlainTextResponse:
    """Liveness."""
    return PlainTextResponse("pong")


@router.post("/token/check")
async def token_check(request: Request) -> JSONResponse:
    """``{"token": "..."}`` -> ``{"live": bool}``, as the original server answered."""
    body = await read_json(request)
    token = body.get("token")
    if not isinstance(token, str) or not token.strip():
        raise RequestError("'token' must be a non-empty string", param="token")
    return JSONResponse({"live": await core_of(request).check_token(token.strip())})


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>deepseek-free-api</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}}
code{{background:#f2f2f2;padding:0 .3em}}</style></head><body>
<h1>deepseek-free-api {version}</h1>
<p>The DeepSeek web chat as OpenAI-compatible APIs. Point your client's base URL at
<code>{base}/v1</code>.</p>
<ul>
<li><code>POST /v1/chat/completions</code> OpenAI Chat Completions (stream or not)</li>
<li><code>GET /v1/models</code> the model catalogue</li>
<li><code>POST /token/check</code> is a DeepSeek token alive?</li>
<li><code>GET /ping</code> liveness</li>
</ul>
<p>Interactive API documentation: <a href="/docs">/docs</a>.</p>
</body></html>
"""


@router.get("/")
async def index(request: Request) -> HTMLResponse:
    """A small page: what this is, the endpoints, a link to /docs."""
    base = html.escape(str(request.base_url).rstrip("/"))
    return HTMLResponse(_PAGE.format(version=__version__, base=base))
