"""What `serve` loads: FastAPI only once a request needs it (the docs, the admin page, an unknown
path), pydantic with the first chat request.

The chat routes, models, liveness and readiness answer on the edge (``api/dispatch.py``): start-up
leaves FastAPI's import (about 200 ms and 10 MB) and the dialects' request models out. Seen from
outside the way Python reports it: ``PYTHONPROFILEIMPORTTIME`` writes a line per module imported.
"""

from __future__ import annotations

import re

import httpx

from deepseek_free_api.background import free_port
from tests.support.processes import CLI, Running, clean_env, running


def _imported(server: Running, module: str) -> bool:
    return re.search(rf"^import time:.*\|\s+{re.escape(module)}$", server.logged(), re.MULTILINE) is not None


def test_fastapi_is_imported_on_the_first_request_for_the_docs() -> None:
    port = free_port()
    env = clean_env(PYTHONPROFILEIMPORTTIME="1")
    with running([*CLI, "serve", "--demo", "--port", str(port)], port, env=env) as server:
        # The dialects' request models (pydantic) load with their first request, not before.
        assert httpx.get(server.url + "/healthz", timeout=30).status_code == 200
        assert not _imported(server, "pydantic")
        url, chat = server.url, {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}
        completions = url + "/v1/chat/completions"
        assert httpx.post(completions, json=chat, timeout=30).status_code == 200
        with httpx.stream("POST", completions, json={**chat, "stream": True}, timeout=30) as r:
            assert r.status_code == 200 and b"[DONE]" in r.read()
        messages = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": chat["messages"]}
        assert httpx.post(url + "/v1/messages", json=messages, timeout=30).status_code == 200
        response = httpx.post(url + "/v1/responses", json={"model": "gpt-4o", "input": "hi"}, timeout=30)
        assert response.status_code == 200
        assert httpx.get(url + "/v1/responses/" + response.json()["id"], timeout=30).status_code == 200
        for path in ("/v1/models", "/v1/models/deepseek-chat", "/healthz", "/readyz", "/metrics", "/"):
            assert httpx.get(url + path, timeout=30).status_code == 200, path
        assert not _imported(server, "fastapi"), "FastAPI was imported before any request needed it"

        docs = httpx.get(url + "/docs", timeout=30)
        assert docs.status_code == 200 and "swagger-ui" in docs.text
        assert _imported(server, "fastapi")
        paths = httpx.get(url + "/openapi.json", timeout=30).json()["paths"]
        assert {"/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/models", "/ping"} <= set(paths)
        # The edge serves each route for the methods FastAPI did, no more: HEAD is GET's only on /ping.
        assert httpx.head(url + "/ping", timeout=30).status_code == 200
        assert httpx.head(url + "/v1/models", timeout=30).status_code == 405
