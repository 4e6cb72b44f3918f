"""Each account has its own connections and cookies, as each would in its own browser.

The simulator's edge gives every new client a WAF session cookie (``HWWAFSESID``), as DeepSeek's
does, and logs the client's end of each call's connection. The server must send each account's
calls with that account's cookie only, and never put two accounts' calls on one connection: one
HTTP client for every account would do both, which ties the accounts together as one device.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from http.cookies import SimpleCookie

import httpx
import pytest

from deepseek_free_api.simulator.core import WAF_COOKIE
from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(), min_interval_s=0.0)


def waf_cookie(request: dict[str, object]) -> str | None:
    headers = request["headers"]
    assert isinstance(headers, dict)
    cookie = SimpleCookie(headers.get("cookie", ""))
    return cookie[WAF_COOKIE].value if WAF_COOKIE in cookie else None


def chat_turns(stack: Stack, count: int) -> None:
    for turn in range(count):  # both accounts serve several turns (sessions, PoW, completions)
        body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": f"hello {turn}"}]}
        reply = httpx.post(stack.base_url + "/chat/completions", json=body, headers=HEADERS, timeout=30)
        assert reply.status_code == 200, reply.text


def test_each_account_sends_only_its_own_cookies(stack: Stack) -> None:
    chat_turns(stack, 8)
    seen: dict[str, set[str | None]] = defaultdict(set)
    for request in stack.upstream_requests():
        if request["account"] is not None:
            seen[str(request["account"])].add(waf_cookie(request))
    assert set(seen) == {"alpha", "beta"}, seen
    # Each account got its cookie on its first call and sent it on every later one, and no other.
    cookies = {account: values - {None} for account, values in seen.items()}
    assert all(len(values) == 1 for values in cookies.values()), cookies
    assert cookies["alpha"] != cookies["beta"], cookies


def test_no_connection_carries_two_accounts_calls(stack: Stack) -> None:
    chat_turns(stack, 8)
    accounts_of: dict[object, set[str]] = defaultdict(set)
    for request in stack.upstream_requests():
        if request["account"] is not None:
            accounts_of[request["client_port"]].add(str(request["account"]))
    assert set().union(*accounts_of.values()) == {"alpha", "beta"}, accounts_of
    shared = {port: accounts for port, accounts in accounts_of.items() if len(accounts) > 1}
    assert not shared, f"connections that carried calls of two accounts: {shared}"
