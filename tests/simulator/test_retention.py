"""The simulator keeps a bounded number of sessions, messages and logged requests.

Past its limits it reclaims the least recently updated session (never one generating), which then
answers as DeepSeek answers for an expired session (biz_code 1 ``ILLEGAL_CHAT_SESSION_ID``); a
conversation at its length limit gets DeepSeek's "Length limit reached" hint.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx

from .client import Sim, parse_sse

ILLEGAL = (1, "ILLEGAL_CHAT_SESSION_ID")
Custom = Callable[..., AbstractContextManager[httpx.Client]]


def biz(response: httpx.Response) -> tuple[Any, Any]:
    data = response.json()["data"]
    return data["biz_code"], data["biz_msg"]


def sessions_of(client: httpx.Client, account: str) -> list[str]:
    state = client.get("/_sim/state").json()
    return [s["id"] for s in state["sessions"] if s["account"] == account]


def test_an_account_keeps_its_latest_sessions_and_the_oldest_answers_as_expired(custom: Custom) -> None:
    with custom(sessions_per_account=3) as client:
        sim, other = Sim(client, "demo-token-1"), Sim(client, "demo-token-2")
        kept_elsewhere = other.session()
        first = sim.session()
        assert sim.complete(first, "hello").status_code == 200
        later = [sim.session() for _ in range(3)]
        assert sorted(sessions_of(client, "demo-1")) == sorted(later)
        assert sessions_of(client, "demo-2") == [kept_elsewhere]  # another account's are its own
        assert biz(sim.complete(first, "again")) == ILLEGAL
        assert biz(sim.get("chat/history_messages", chat_session_id=first)) == ILLEGAL
        assert biz(sim.post("chat_session/delete", {"chat_session_id": first})) == ILLEGAL
        assert client.get("/_sim/state").json()["counters"]["sessions_reclaimed"] == 1


def test_the_least_recently_used_session_goes_first_and_never_a_generating_one(custom: Custom) -> None:
    with custom(sessions_per_account=2) as client:
        sim = Sim(client, "demo-token-1")
        old, used = sim.session(), sim.session()
        with client.stream(
            "POST", "/api/v0/chat/completion", json=sim.completion_body(old, "slow please"),
            headers=sim.h(**{"X-Ds-Pow-Response": sim.pow_header()}),
        ) as streaming:  # fmt: skip
            next(streaming.iter_bytes())  # generating in ``old`` now (the demo's slow script)
            newer = sim.session()  # ``used`` is idle and goes, though ``old`` is older
            assert sorted(sessions_of(client, "demo-1")) == sorted([old, newer])
            assert biz(sim.get("chat/history_messages", chat_session_id=used)) == ILLEGAL


def test_all_sessions_are_bounded_in_count_and_in_characters(custom: Custom) -> None:
    with custom(sessions_max=4) as client:
        for token in ("demo-token-1", "demo-token-2", "demo-token-3"):
            for _ in range(3):
                Sim(client, token).session()
        assert len(client.get("/_sim/state").json()["sessions"]) == 4
    with custom(sessions_max_chars=50_000) as client:
        sim = Sim(client, "demo-token-1")
        for _ in range(8):
            assert sim.complete(sim.session(), "x" * 20_000).status_code == 200
        # Each holds ~21,000 characters with its answer: two fit, and the one being answered.
        assert len(sessions_of(client, "demo-1")) <= 3


def test_a_conversation_at_its_length_limit_is_told_to_start_a_new_chat(custom: Custom) -> None:
    with custom(session_max_messages=4) as client:
        sim = Sim(client, "demo-token-1")
        session = sim.session()
        parent = None
        for turn in range(2):
            events = parse_sse(sim.complete(session, f"turn {turn}", parent_message_id=parent).text)
            parent = next(e.json()["response_message_id"] for e in events if e.name == "ready")
        events = parse_sse(sim.complete(session, "one more", parent_message_id=parent).text)
        hint = next(e.json() for e in events if e.name == "hint")
        assert hint["content"] == "Length limit reached. Please start a new chat."
        assert hint["finish_reason"] == "input_exceeds_limit"
        state = client.get("/_sim/state").json()
        assert [len(s["messages"]) for s in state["sessions"]] == [4]
        assert sim.complete(sim.session(), "fresh start").status_code == 200  # a new chat works


def test_the_request_log_keeps_the_latest_requests_within_its_bytes(custom: Custom) -> None:
    with custom(request_log_bytes=300_000) as client:
        sim = Sim(client, "demo-token-1")
        session = sim.session()
        for i in range(10):
            sim.complete(session, f"{i} " + "y" * 50_000)
        logged = client.get("/_sim/requests", params={"path": "chat/completion"}).json()["requests"]
        prompts = [entry["prompt"].split(" ", 1)[0] for entry in logged]
        assert 1 <= len(prompts) <= 6 and prompts[-1] == "9", prompts  # the latest, in order
