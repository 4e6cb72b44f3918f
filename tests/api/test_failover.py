"""Account failures the caller must not see, a restart between two turns, and real concurrency."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import openai
import pytest

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import AccountConfig, load_settings
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, TOKENS, Stack, sdk_client, simulator_config, start_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(), min_interval_s=0.0)


@pytest.fixture(autouse=True)
def healthy(stack: Stack) -> Iterator[None]:
    yield
    for account in ("alpha", "beta"):
        stack.sim("POST", f"/_sim/accounts/{account}", json={"revoked": False, "banned": False})


def ask(stack: Stack, content: str) -> Any:
    api = sdk_client(openai.OpenAI, stack.base_url, API_KEY)
    return api.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": content}])


@pytest.mark.parametrize("fault", [{"revoked": True}, {"banned": True}])
def test_a_broken_server_account_is_failed_over_within_the_request(
    stack: Stack, fault: dict[str, bool]
) -> None:
    stack.sim("POST", "/_sim/accounts/beta", json=fault)
    for index in range(4):
        reply = ask(stack, f"n{index}")
        assert (reply.choices[0].message.content or "").startswith(f"Echo: n{index}")


def test_when_every_server_account_is_broken_the_caller_gets_503_not_401(stack: Stack) -> None:
    stack.sim("POST", "/_sim/accounts/alpha", json={"revoked": True})
    stack.sim("POST", "/_sim/accounts/beta", json={"banned": True})
    with pytest.raises(openai.APIStatusError) as caught:
        ask(stack, "anyone?")
    assert caught.value.status_code == 503
    assert "accounts" in caught.value.message


def test_a_conversation_continues_natively_after_a_restart() -> None:
    with BackgroundServer(create_simulator(simulator_config())) as simulator:
        settings = load_settings(
            overrides={
                "base_url": simulator.url,
                "tokens": list(TOKENS),
                "api_keys": [API_KEY],
                "store.url": "memory://",
            },
            env={},
        )

        def chat(server: BackgroundServer, messages: list[dict[str, str]], **extra: Any) -> Any:
            api = sdk_client(openai.OpenAI, server.url + "/v1", API_KEY)
            return api.chat.completions.create(model="deepseek-chat", messages=messages, **extra)  # type: ignore[arg-type]

        with BackgroundServer(create_app(settings)) as first_server:
            first = chat(first_server, [{"role": "user", "content": "remember 42"}])
        with BackgroundServer(create_app(settings)) as second_server:  # a new process state
            creates = len(
                httpx.get(simulator.url + "/_sim/requests", params={"path": "chat_session/create"}).json()[
                    "requests"
                ]
            )
            second = chat(
                second_server,
                [{"role": "user", "content": "what number?"}],
                extra_body={"conversation_id": first.id},
            )
        sent = httpx.get(simulator.url + "/_sim/requests", params={"path": "chat/completion"}).json()[
            "requests"
        ][-1]
        session, _, rest = first.id.partition("@")
        assert sent["body"]["chat_session_id"] == session
        assert sent["body"]["parent_message_id"] == int(rest.partition(".")[0])
        assert sent["prompt"] == "what number?"
        assert (second.choices[0].message.content or "").startswith("Echo: what number?")
        after = httpx.get(simulator.url + "/_sim/requests", params={"path": "chat_session/create"}).json()[
            "requests"
        ]
        # the second server may pre-create sessions for later turns, but this turn used none of them
        assert all(r["body"] == {} for r in after[creates:])


def test_more_than_ten_generations_run_at_once() -> None:
    count = 14
    accounts = [{"id": f"a{i}", "token": f"tok-{i}"} for i in range(count)]
    slow = {
        "pattern": "SLOW",
        "answer": "{echo}",
        "answer_chars": 240,
        "pacing": {"chunks_per_second": 10, "chunk_chars": 8},
    }
    config = simulator_config(accounts=accounts, scripts=[slow])
    stacks = start_stack(config, tokens=[a["token"] for a in accounts], min_interval_s=0.0)
    stack = next(stacks)
    try:
        started: list[float] = []
        finished: list[float] = []
        lock = threading.Lock()

        def one(index: int) -> None:
            with stack.stream_chat(f"SLOW {index}") as response:
                first = True
                for line in response.iter_lines():
                    if first and '"content":"E' in line:
                        first = False
                        with lock:
                            started.append(time.monotonic())
            with lock:
                finished.append(time.monotonic())

        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        # Each answer takes 3 s; with a cap of 10 transfers the last 4 start only after the first end.
        assert len(started) == count and len(finished) == count
        assert max(started) < min(finished), max(started) - min(finished)
    finally:
        stacks.close()


def test_a_login_account_whose_token_expired_logs_in_again_within_the_request() -> None:
    config = simulator_config(accounts=[{"id": "mail", "email": "me@example.com", "password": "pw-123456"}])
    with BackgroundServer(create_simulator(config)) as simulator:
        settings = load_settings(
            overrides={
                "base_url": simulator.url,
                "api_keys": [API_KEY],
                "min_interval_s": 0.0,
                "store.url": "memory://",
            },
            env={},
        )
        settings = replace(settings, accounts=(AccountConfig(email="me@example.com", password="pw-123456"),))
        with BackgroundServer(create_app(settings)) as server:
            api = sdk_client(openai.OpenAI, server.url + "/v1", API_KEY)
            first = api.chat.completions.create(
                model="deepseek-chat", messages=[{"role": "user", "content": "one"}]
            )
            assert (first.choices[0].message.content or "").startswith("Echo: one")
            httpx.post(simulator.url + "/_sim/accounts/mail", json={"revoked": True}).raise_for_status()
            second = api.chat.completions.create(
                model="deepseek-chat", messages=[{"role": "user", "content": "two"}]
            )
            assert (second.choices[0].message.content or "").startswith("Echo: two")
        logins = httpx.get(simulator.url + "/_sim/requests", params={"path": "users/login"}).json()[
            "requests"
        ]
        assert len(logins) == 2


def test_unknown_routes_and_wrong_methods_answer_in_the_openai_envelope(stack: Stack) -> None:
    for method, path, status in (("GET", "/v1/nothing-here", 404), ("GET", "/v1/chat/completions", 405)):
        response = httpx.request(
            method, stack.server.url + path, headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert response.status_code == status
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and path in error["message"]
