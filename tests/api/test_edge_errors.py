"""Errors on the edge's short path (``api/dispatch.py``) answer as Starlette's layers answered them.

A table route that crashes gets Starlette's plain 500, and the server goes on serving; one that
raises an ``HTTPException`` gets the app's handler for it (the OpenAI envelope), with the status.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.exceptions import HTTPException

from deepseek_free_api.api import misc
from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import load_settings
from tests.api.conftest import API_KEY


async def _crash() -> None:
    raise RuntimeError("a bug in a handler")


async def _teapot() -> None:
    raise HTTPException(status_code=418, detail="short and stout")


def test_a_crash_is_a_plain_500_and_the_next_request_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    with BackgroundServer(create_app(load_settings(overrides={"api_keys": [API_KEY]}, env={}))) as server:
        monkeypatch.setattr(misc, "ping", _crash)
        crashed = httpx.get(server.url + "/ping", timeout=10)
        assert crashed.status_code == 500
        assert crashed.text == "Internal Server Error"
        assert crashed.headers["content-type"].startswith("text/plain")
        monkeypatch.undo()
        assert httpx.get(server.url + "/ping", timeout=10).status_code == 200


def test_an_http_exception_gets_the_apps_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    with BackgroundServer(create_app(load_settings(overrides={"api_keys": [API_KEY]}, env={}))) as server:
        monkeypatch.setattr(misc, "ping", _teapot)
        response = httpx.get(server.url + "/ping", timeout=10)
        assert response.status_code == 418
        error = response.json()["error"]
        assert "short and stout" in error["message"]
