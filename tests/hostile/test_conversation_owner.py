"""A ``conversation_id`` belongs to the credential that started the conversation.

Two service keys share the server's accounts; each key's conversations are its own. Another
key's id (or a tampered one) is answered exactly like an unknown id, a 404, and nothing of it
reaches DeepSeek. The id carries a keyed MAC of its owner, so it needs no store: the owner can
still continue after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, simulator_config
from tests.hostile.serve_stack import OTHER_KEY, Served, serve_process


@pytest.fixture(scope="module")
def simulator() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_simulator(simulator_config())) as running:
        yield running


@pytest.fixture
def stack(simulator: BackgroundServer) -> Iterator[Served]:
    with serve_process(simulator, {}) as server:
        yield Served(simulator, server)


def chat(stack: Served, key: str, content: str, conversation_id: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"model": "deepseek-chat", "messages": [{"role": "user", "content": content}]}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return httpx.post(
        stack.url + "/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def completions(stack: Served) -> list[dict[str, Any]]:
    return stack.upstream_requests("/chat/completion")


def not_found(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 404, response.text
    error: dict[str, Any] = response.json()["error"]
    assert (error["code"], error["param"]) == ("conversation_not_found", "conversation_id")
    return error


def test_another_keys_conversation_id_is_a_404_and_reaches_no_upstream(stack: Served) -> None:
    first = chat(stack, API_KEY, "my secret plan")
    assert first.status_code == 200, first.text
    theirs = first.json()["id"]
    before = len(stack.upstream_requests())
    error = not_found(chat(stack, OTHER_KEY, "what did we talk about?", theirs))
    assert len(stack.upstream_requests()) == before  # not a completion, not a session, nothing
    # Exactly like an id that never existed (only the quoted id differs).
    session, _, rest = theirs.partition("@")
    unknown = "00000000-0000-4000-8000-000000000000@" + rest
    assert not_found(chat(stack, OTHER_KEY, "hello?", unknown))["message"] == error["message"].replace(
        theirs, unknown
    )
    # The owner continues it natively, in the same DeepSeek session.
    second = chat(stack, API_KEY, "and then?", theirs)
    assert second.status_code == 200, second.text
    assert completions(stack)[-1]["body"]["chat_session_id"] == session


def test_an_id_with_its_owner_mark_changed_is_a_404(stack: Served) -> None:
    mine = chat(stack, API_KEY, "hello").json()["id"]
    last = mine[-1]
    forged = [mine[:-1] + ("0" if last != "0" else "1"), mine.rsplit(".", 1)[0]]
    before = len(stack.upstream_requests())
    for conversation_id in forged:
        not_found(chat(stack, API_KEY, "hi again", conversation_id))
    assert len(stack.upstream_requests()) == before


def test_the_owner_continues_after_a_restart(simulator: BackgroundServer) -> None:
    with serve_process(simulator, {}) as server:
        first = chat(Served(simulator, server), API_KEY, "before the restart")
        assert first.status_code == 200, first.text
    with serve_process(simulator, {}) as server:
        restarted = Served(simulator, server)
        continued = chat(restarted, API_KEY, "after the restart", first.json()["id"])
        assert continued.status_code == 200, continued.text
        assert completions(restarted)[-1]["body"]["chat_session_id"] == first.json()["id"].partition("@")[0]
        not_found(chat(restarted, OTHER_KEY, "and me?", first.json()["id"]))
