"""Session reuse across two `serve` processes sharing one store (Redis, or one SQLite file)."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import API_KEY, Store, serve, server_env, simulator, upstream


def _ask(url: str, messages: list[dict[str, Any]]) -> str:
    body = {"model": "deepseek-chat", "messages": messages}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    reply = httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=60)
    assert reply.status_code == 200, reply.text
    text: str = reply.json()["choices"][0]["message"]["content"]
    return text


def test_a_conversation_started_on_one_server_goes_on_in_its_session_on_the_other(store: Store) -> None:
    # On the base code the second turn replayed the whole history in a new session.
    with simulator(accounts=2) as sim:
        env = server_env(sim, store, accounts=2)
        with serve(env) as first, serve(env) as second:
            messages: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
            messages.append({"role": "user", "content": "quick one"})
            messages.append({"role": "assistant", "content": _ask(first.url, messages)})
            messages.append({"role": "user", "content": "quick two"})
            _ask(second.url, messages)
        started, went_on = upstream(sim, "/chat/completion")[-2:]
    assert went_on["prompt"] == "quick two"
    assert went_on["body"]["chat_session_id"] == started["body"]["chat_session_id"]
    assert went_on["body"]["parent_message_id"] == 2
