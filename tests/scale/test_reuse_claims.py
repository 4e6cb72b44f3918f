"""Session reuse never forks a DeepSeek session: one request goes on from a kept answer, the others replay.

Several requests extending the same answer at once (two branches of one conversation, an agent's
retry), through `serve` in front of the simulator: on one server, and on two servers sharing one
store. The web app never asks for two answers after one message; the simulator counts a
completion whose parent is not the session's current message as a branch.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import env_name

from .conftest import API_KEY, Store, serve, server_env, sim_state, simulator, upstream

BRANCHES = 4
HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "quick one"},
]


async def _ask(client: httpx.AsyncClient, url: str, messages: list[dict[str, Any]]) -> str:
    body = {"model": "deepseek-chat", "messages": messages}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    reply = await client.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=90)
    assert reply.status_code == 200, reply.text
    text: str = reply.json()["choices"][0]["message"]["content"]
    return text


def _branch(history: list[dict[str, Any]], answer: str, line: str) -> list[dict[str, Any]]:
    return [*history, {"role": "assistant", "content": answer}, {"role": "user", "content": line}]


def _at_once(urls: list[str], conversations: list[list[dict[str, Any]]]) -> list[str]:
    """Each conversation sent at the same moment, round-robin over ``urls``; the answers."""

    async def main() -> list[str]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=len(conversations))) as client:
            calls = [_ask(client, urls[i % len(urls)], c) for i, c in enumerate(conversations)]
            return list(await asyncio.gather(*calls))

    return asyncio.run(main())


def _reuse_counts(urls: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for url in urls:
        for family in text_string_to_metric_families(httpx.get(url + "/metrics", timeout=10).text):
            if family.name == "deepseek_free_api_session_reuse":
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        counts[sample.labels["outcome"]] += int(sample.value)
    return counts


def _parents(completions: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
    return [(c["body"]["chat_session_id"], c["body"]["parent_message_id"]) for c in completions]


def _assert_no_fork(sim: BackgroundServer) -> None:
    """No two completions went on after one message of one session (the simulator agrees)."""
    went_on = [p for p in _parents(upstream(sim, "/chat/completion")) if p[1] is not None]
    assert sorted(went_on) == sorted(set(went_on)), f"answers continued twice: {went_on}"
    assert sim_state(sim)["counters"].get("branches", 0) == 0


def _branches_and_follow_ups(sim: BackgroundServer, urls: list[str]) -> None:
    """A first turn; BRANCHES requests extending its answer at once; a retry; a next turn on each branch."""
    first = _at_once(urls[:1], [HISTORY])[0]
    before = len(upstream(sim, "/chat/completion"))
    branches = [_branch(HISTORY, first, f"quick branch {i}") for i in range(BRANCHES)]
    answers = _at_once(urls, branches)
    for i, answer in enumerate(answers):
        assert answer.startswith(f"Echo: quick branch {i} |"), answers  # each caller, its own answer
    concurrent = upstream(sim, "/chat/completion")[before:]
    _assert_no_fork(sim)
    went_on = [c for c in concurrent if c["body"]["parent_message_id"] is not None]
    assert len(concurrent) == BRANCHES and len(went_on) == 1, _parents(concurrent)  # the rest replay
    assert all("quick one" in c["prompt"] for c in concurrent if c not in went_on)  # with the history

    retry = _at_once(urls[-1:], [branches[0]])[0]  # an agent retrying the first branch, after the fact
    assert retry.startswith("Echo: quick branch 0 |")
    assert upstream(sim, "/chat/completion")[-1]["body"]["parent_message_id"] is None  # replayed

    # Every branch goes on in its own session from here: the one that went on and those replayed.
    follow_ups = [
        _branch(b, a, f"quick next {i}") for i, (b, a) in enumerate(zip(branches, answers, strict=True))
    ]
    for i, answer in enumerate(_at_once(urls, follow_ups)):
        assert answer.startswith(f"Echo: quick next {i} |")
    later = upstream(sim, "/chat/completion")[-BRANCHES:]
    assert all(c["body"]["parent_message_id"] is not None for c in later), later
    assert len({c["body"]["chat_session_id"] for c in later}) == BRANCHES

    _assert_no_fork(sim)
    counts = _reuse_counts(urls)
    assert (counts["hit"], counts["taken"]) == (1 + BRANCHES, BRANCHES), counts


def test_requests_extending_one_answer_at_once_never_fork_its_session(tmp_path: Path) -> None:
    # On the base code every branch (and the retry) went on after the same answer in one session.
    store = Store("memory", {env_name("store.url"): "memory://", env_name("server.data_dir"): str(tmp_path)})
    with simulator(accounts=3) as sim:
        with serve(server_env(sim, store, accounts=3)) as server:
            _branches_and_follow_ups(sim, [server.url])


def test_two_servers_sharing_a_store_never_fork_a_session(store: Store) -> None:
    # On the base code both servers found the kept answer and went on after it in one session.
    with simulator(accounts=3) as sim:
        env = server_env(sim, store, accounts=3)
        with serve(env) as first, serve(env) as second:
            _branches_and_follow_ups(sim, [first.url, second.url])


def test_a_session_whose_account_stayed_busy_is_given_back_for_the_next_request(tmp_path: Path) -> None:
    # One account, busy with a long answer: the request that took the kept answer waits
    # chat.resume_wait_s, replays in a new session (nothing went upstream in the kept one) and
    # gives it back, so the agent's next request with that history still goes on in its session.
    store = Store("memory", {env_name("store.url"): "memory://", env_name("server.data_dir"): str(tmp_path)})
    with simulator(accounts=1) as sim:
        with serve(server_env(sim, store, accounts=1, **{"chat.resume_wait_s": "1"})) as server:
            urls = [server.url]
            first = _at_once(urls, [HISTORY])[0]
            kept = upstream(sim, "/chat/completion")[-1]["body"]["chat_session_id"]
            busy = threading.Thread(target=_at_once, args=(urls, [[{"role": "user", "content": "medium x"}]]))
            busy.start()
            deadline = time.monotonic() + 30
            while not any(g["session_id"] != kept for g in sim_state(sim)["in_flight"].values()):
                assert time.monotonic() < deadline, "the long answer never started"
                time.sleep(0.05)
            extended = _branch(HISTORY, first, "quick two")
            assert _at_once(urls, [extended])[0].startswith("Echo: quick two |")
            busy.join(timeout=60)
            replayed = upstream(sim, "/chat/completion")[-1]["body"]
            assert (replayed["parent_message_id"], replayed["chat_session_id"] != kept) == (None, True)
            assert _at_once(urls, [extended])[0].startswith("Echo: quick two |")
            went_on = upstream(sim, "/chat/completion")[-1]["body"]
            assert (went_on["chat_session_id"], went_on["parent_message_id"]) == (kept, 2)
            counts = _reuse_counts(urls)
        _assert_no_fork(sim)
    assert (counts["busy"], counts["hit"], counts["taken"]) == (1, 1, 0), counts
