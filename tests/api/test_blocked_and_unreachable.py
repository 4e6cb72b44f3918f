"""Signals that are not an account's fault: DeepSeek's edge, a client it no longer accepts, no route.

None of them parks an account or sends the request round every account; each dialect gets at once
a status and a message that names the cause (PROTOCOL.md §2.7). A login account's ban comes with
the login answer (``biz_code 10``) and parks it as banned, not as a failed login.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.config import load_settings
from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack
from tests.api.dialects import DIALECTS, error_message, health, send

ACCOUNTS = [{"name": "alpha", "token": "tok-alpha"}, {"name": "beta", "token": "tok-beta"}]
BLOCKS: list[tuple[str, dict[str, Any], str | None, dict[str, int], str]] = [
    # (case, simulator config, fault armed for every call, status by dialect, words)
    ("AWS WAF 202", {}, "edge_waf", {"openai": 503, "anthropic": 529, "responses": 503}, "firewall"),
    ("captcha", {}, "edge_captcha", {"openai": 503, "anthropic": 529, "responses": 503}, "captcha"),
    (
        "40005 CLIENT_VERSION_TOO_LOW",
        {"min_client_version": "9.0.0"},
        None,
        {"openai": 502, "anthropic": 502, "responses": 502},
        "persona.client_version",
    ),
    (
        "40300 Missing Header",
        {"required_headers": ["x-hif-leim"]},
        None,
        {"openai": 502, "anthropic": 502, "responses": 502},
        "needs an update",
    ),
]


@pytest.mark.parametrize(("case", "config", "fault", "statuses", "words"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_blocks_and_drift_fail_at_once_naming_the_cause_and_park_nothing(
    case: str, config: dict[str, Any], fault: str | None, statuses: dict[str, int], words: str
) -> None:
    stacks = start_stack(
        simulator_config(difficulty=64, **config), accounts=ACCOUNTS, tokens=[], min_interval_s=0.0
    )
    stack = next(stacks)
    try:
        if fault is not None:
            stack.sim("POST", "/_sim/faults", json={"fault": fault, "times": 0})
        for dialect in DIALECTS:
            started = time.monotonic()
            response = send(stack.server.url, dialect, "hi")
            assert time.monotonic() - started < 3, dialect.name
            assert response.status_code == statuses[dialect.name], (dialect.name, response.text)
            assert words in error_message(response), (dialect.name, response.text)
        assert health(stack.server.url) == {}  # no account blamed for what is not its fault
        # One attempt per request: no round of every account, no retry storm.
        assert len(stack.upstream_requests("/chat/completion")) <= len(DIALECTS)
    finally:
        stacks.close()


@pytest.fixture
def unreachable() -> Iterator[BackgroundServer]:
    """The server with one e-mail/password account and DeepSeek at a port nobody listens on."""
    settings = load_settings(
        overrides={
            "base_url": f"http://127.0.0.1:{free_port()}",
            "accounts": [{"email": "someone@example.com", "password": "pass-word-1234"}],
            "api_keys": [API_KEY],
            "store.url": "memory://",
        },
        env={},
    )
    with BackgroundServer(create_app(settings)) as server:
        yield server


def test_deepseek_unreachable_with_a_login_account_is_a_fast_502_without_mute_wording(
    unreachable: BackgroundServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="deepseek_free_api"):
        for dialect in DIALECTS:
            started = time.monotonic()
            response = send(unreachable.url, dialect, "hi")
            elapsed = time.monotonic() - started
            assert elapsed < 5, (dialect.name, elapsed)
            assert response.status_code == 502, (dialect.name, response.text)
            message = error_message(response)
            assert "could not reach DeepSeek" in message and "refused" in message, message
            assert "mute" not in response.text.lower() and "cooling" not in response.text.lower()
    [entry] = health(unreachable.url).values()
    assert entry["condition"] == "unreachable"
    noise = [r.getMessage() for r in caplog.records if not r.name.endswith("access")]
    assert len(noise) <= len(DIALECTS), noise  # at most one line per request, none about mutes
    assert not any("mute" in line.lower() for line in noise), noise


@pytest.fixture
def banned_login() -> Iterator[Stack]:
    account = {
        "id": "mail",
        "email": "m@example.com",
        "password": "pass-word-1234",
        "banned": True,
        "ban_signal": "code",
    }
    yield from start_stack(
        simulator_config(difficulty=64, accounts=[account]),
        accounts=[{"name": "mail", "email": "m@example.com", "password": "pass-word-1234"}],
        tokens=[],
        min_interval_s=0.0,
    )


def test_a_login_that_says_banned_parks_the_account_as_banned(banned_login: Stack) -> None:
    for dialect in DIALECTS:
        response = send(banned_login.server.url, dialect, "hi")
        assert response.status_code == dialect.unavailable, (dialect.name, response.text)
        assert "banned" in error_message(response), response.text
        assert 540 <= int(response.headers["retry-after"]) <= 600
    entry = health(banned_login.server.url)["mail"]
    assert entry["condition"] == "banned" and "biz_code 10" in entry["reason"], entry
    assert len(banned_login.upstream_requests("/users/login")) == 1  # not tried again per request
