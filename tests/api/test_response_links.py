"""A stored Response keeps only its own turn and the id of the one before: a follow-up that goes on in
its session reads nothing else, one replayed in a new session reads the whole chain back (or names the
response of it that is gone), and responses stored by the earlier format still continue."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import load_settings
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, TOKENS, Stack, simulator_config, start_stack

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(), min_interval_s=0.0)


def respond(base_url: str, text: str, previous: str | None = None, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"model": "deepseek-chat", "input": text, **extra}
    if previous is not None:
        body["previous_response_id"] = previous
    return httpx.post(base_url + "/responses", json=body, headers=HEADERS, timeout=30)


def chain(base_url: str, turns: int) -> list[str]:
    """The ids of a chain of ``turns`` responses to "turn 1", "turn 2", ..."""
    ids: list[str] = []
    for turn in range(1, turns + 1):
        reply = respond(base_url, f"turn {turn}", ids[-1] if ids else None)
        assert reply.status_code == 200, reply.text
        ids.append(reply.json()["id"])
    return ids


def in_order(prompt: str, *parts: str) -> bool:
    """Whether ``parts`` appear in ``prompt`` one after another."""
    at = 0
    for part in parts:
        at = prompt.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


def test_a_follow_up_replayed_on_another_account_carries_the_whole_chain(stack: Stack) -> None:
    ids = chain(stack.base_url, 3)
    before = stack.upstream_requests("/chat/completion")[-1]
    # The chain's account is muted: its session cannot go on, so the chain is read back and replayed.
    stack.sim("POST", f"/_sim/accounts/{before['account']}", json={"mute_seconds": 600})
    replayed = respond(stack.base_url, "turn 4", ids[-1])
    assert replayed.status_code == 200, replayed.text
    sent = stack.upstream_requests("/chat/completion")[-1]
    assert sent["account"] != before["account"] and sent["body"]["parent_message_id"] is None
    turns = [(f"turn {n}", f"Echo: turn {n}") for n in (1, 2, 3)]
    assert in_order(sent["prompt"], *(part for turn in turns for part in turn), "turn 4")
    # The replay's response goes on in the replay's session, with only its input.
    assert respond(stack.base_url, "turn 5", replayed.json()["id"]).status_code == 200
    went_on = stack.upstream_requests("/chat/completion")[-1]
    assert went_on["prompt"] == "turn 5"
    assert went_on["body"]["chat_session_id"] == sent["body"]["chat_session_id"]


def test_a_replay_names_the_response_of_its_chain_that_is_gone(stack: Stack) -> None:
    ids = chain(stack.base_url, 3)
    session = stack.upstream_requests("/chat/completion")[-1]["body"]["chat_session_id"]
    deleted = httpx.delete(f"{stack.base_url}/responses/{ids[0]}", headers=HEADERS, timeout=10)
    assert deleted.status_code == 200
    # Going on in the session needs none of the earlier responses.
    natively = respond(stack.base_url, "turn 4", ids[-1])
    assert natively.status_code == 200, natively.text
    went_on = stack.upstream_requests("/chat/completion")[-1]
    assert went_on["prompt"] == "turn 4" and went_on["body"]["chat_session_id"] == session
    sent = len(stack.upstream_requests("/chat/completion"))
    # Other instructions need a new session, and so the whole conversation: turn 1 is gone.
    refused = respond(stack.base_url, "turn 5", natively.json()["id"], instructions="Be brief.")
    assert refused.status_code == 404, refused.text
    error = refused.json()["error"]
    assert ids[0] in error["message"] and error["param"] == "previous_response_id"
    assert error["code"] == "previous_response_not_found"
    assert len(stack.upstream_requests("/chat/completion")) == sent  # never answered without it


def test_a_response_stored_by_the_earlier_format_continues_and_replays(tmp_path: Path) -> None:
    # The first format kept the whole conversation in every response: such a record stands alone.
    with BackgroundServer(create_simulator(simulator_config())) as simulator:
        settings = load_settings(
            overrides={
                "base_url": simulator.url,
                "tokens": list(TOKENS),
                "api_keys": [API_KEY],
                "server.data_dir": str(tmp_path),
                "pool.min_interval_s": 0,
            },
            env={},
        )
        with BackgroundServer(create_app(settings)) as server:
            first, second = chain(server.url + "/v1", 2)
        session = _completions(simulator)[-1]["body"]["chat_session_id"]
        _as_first_format(tmp_path / "state.sqlite3", first, second)
        with BackgroundServer(create_app(settings)) as server:
            base_url = server.url + "/v1"
            natively = respond(base_url, "turn 3", second)
            assert natively.status_code == 200, natively.text
            went_on = _completions(simulator)[-1]
            assert went_on["prompt"] == "turn 3" and went_on["body"]["chat_session_id"] == session
            replayed = respond(base_url, "turn 4", natively.json()["id"], instructions="Be brief.")
            assert replayed.status_code == 200, replayed.text
            sent = _completions(simulator)[-1]["prompt"]
            assert in_order(sent, "turn 1", "Echo: turn 1", "turn 2", "Echo: turn 2", "turn 3", "turn 4")


def _completions(simulator: BackgroundServer) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = httpx.get(simulator.url + "/_sim/requests", timeout=10).json()["requests"]
    return [r for r in items if r["path"].endswith("/chat/completion")]


def _as_first_format(path: Path, first: str, second: str) -> None:
    """Rewrite ``second`` as the first format stored it (the whole conversation), and drop ``first``."""
    with sqlite3.connect(path) as db:
        rows = dict(db.execute("SELECT id, conversation FROM responses WHERE id IN (?, ?)", (first, second)))
        earlier, record = orjson.loads(rows[first]), orjson.loads(rows[second])
        record["messages"] = earlier["messages"] + record["messages"]
        record["format"] = 1
        del record["previous"]
        db.execute("UPDATE responses SET conversation = ? WHERE id = ?", (orjson.dumps(record), second))
        db.execute("DELETE FROM responses WHERE id = ?", (first,))
    db.close()
