"""Modes DeepSeek switched off (``client/settings``: ``enabled: false``) leave ``GET /v1/models``, and a
request for one gets a clear 400 naming the cause, never an empty answer."""

from __future__ import annotations

import httpx

from tests.api.conftest import API_KEY, simulator_config, start_stack


def test_a_mode_switched_off_upstream_leaves_the_model_list() -> None:
    for stack in start_stack(simulator_config()):
        switched = httpx.post(stack.simulator.url + "/_sim/models/expert", json={"enabled": False})
        assert switched.status_code == 200, switched.text
        headers = {"Authorization": f"Bearer {API_KEY}"}
        listed = httpx.get(stack.base_url + "/models", headers=headers, timeout=30)
        assert listed.status_code == 200, listed.text
        names = {model["id"] for model in listed.json()["data"]}
        assert "deepseek-chat" in names and "deepseek-v4-flash" in names and "deepseek-v4-vision" in names
        assert not {name for name in names if name.startswith("deepseek-v4-pro")}, names

        chat = httpx.post(
            stack.base_url + "/chat/completions",
            headers=headers,
            json={"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert chat.status_code == 400, chat.text
        error = chat.json()["error"]
        assert error["code"] == "model_disabled" and "switched" in error["message"], error

        assert stack.upstream_requests("/chat/completion") == []  # refused before any generation

        # The simulator refuses such a completion as DeepSeek does (INVALID_MODEL_TYPE), if one is sent.
        switched = httpx.post(stack.simulator.url + "/_sim/models/expert", json={"enabled": "no"})
        assert switched.status_code == 400
        unknown = httpx.post(stack.simulator.url + "/_sim/models/nope", json={"enabled": False})
        assert unknown.status_code == 404
