"""``GET /healthz`` as a container engine, Render or a supervisor probes it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.config import load_settings
from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config())


def test_healthz_answers_ok_without_a_key(stack: Stack) -> None:
    # Service keys are configured, and the probe sends none: it must not need one.
    response = httpx.get(stack.server.url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert httpx.head(stack.server.url + "/healthz", timeout=10).status_code == 200
    # A key is as welcome as none.
    with_key = httpx.get(stack.server.url + "/healthz", headers={"Authorization": f"Bearer {API_KEY}"})
    assert with_key.json() == {"status": "ok"}


def test_healthz_is_documented(stack: Stack) -> None:
    document = httpx.get(stack.server.url + "/openapi.json", timeout=10).json()
    operation = document["paths"]["/healthz"]["get"]
    assert "security" not in operation
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/Health")


def test_healthz_does_not_depend_on_deepseek() -> None:
    # Liveness says "the process answers": a DeepSeek that cannot be reached must not make the
    # container engine restart a healthy server.
    dead = f"http://127.0.0.1:{free_port()}"
    settings = load_settings(
        overrides={
            "base_url": dead,
            "tokens": ["tok-alpha"],
            "api_keys": [API_KEY],
            "connect_timeout_s": 1,
            "store.url": "memory://",
        },
        env={},
    )
    with BackgroundServer(create_app(settings)) as server:
        assert httpx.get(server.url + "/healthz", timeout=10).json() == {"status": "ok"}
        chat = httpx.post(
            server.url + "/v1/chat/completions",
            json={"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
        )
        assert chat.status_code >= 500
