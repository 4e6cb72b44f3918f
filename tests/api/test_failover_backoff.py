"""The failover backoff does not hold the failed account: another request takes it meanwhile.

One account. Request A's completion is refused (a stale proof of work, which says nothing against
the account); A backs off before trying again. Request B, sent during that backoff, must be
served at once: the base code slept while still holding A's lease.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

BACKOFF_S = 4.0
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def one_account() -> Iterator[Stack]:
    yield from start_stack(
        simulator_config(),
        tokens=["tok-alpha"],
        min_interval_s=0.0,
        **{"retry.backoff_initial_s": BACKOFF_S},
    )


def chat(stack: Stack, content: str) -> httpx.Response:
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": content}]}
    return httpx.post(stack.base_url + "/chat/completions", json=body, headers=HEADERS, timeout=30)


def test_another_request_does_not_wait_for_the_backoff(one_account: Stack) -> None:
    refusal = {"code": 40301, "msg": "INVALID_POW_RESPONSE"}
    fault = {"fault": "json_instead_of_sse", "prompt_contains": "POWFAIL", "times": 1, **refusal}
    one_account.sim("POST", "/_sim/faults", json=fault)
    results: list[httpx.Response] = []
    a = threading.Thread(target=lambda: results.append(chat(one_account, "POWFAIL a")))
    a.start()
    deadline = time.monotonic() + 10
    while not [r for r in one_account.upstream_requests("/chat/completion") if r["status"] is not None]:
        assert time.monotonic() < deadline, "A's completion never reached the simulator"
        time.sleep(0.02)
    started = time.monotonic()
    b = chat(one_account, "B")  # A is in its backoff now
    waited = time.monotonic() - started
    a.join(30)
    assert b.status_code == 200, b.text
    assert waited < BACKOFF_S / 2, waited
    assert results and results[0].status_code == 200, results and results[0].text  # A's retry worked
    assert one_account.sim("GET", "/_sim/state")["violations"] == []
