"""DeepSeek's 2026 account signals, through the server in front of the simulator, in every dialect.

For each signal: with it on account ``alpha`` only, every dialect still answers (failed over to
``beta``) and ``/readyz`` shows alpha in the right health condition, with its reason and, where it
ends by itself, its end; with it on both, every dialect gets at once the status of "no account can
serve now", a ``Retry-After`` and a message that names the cause (PROTOCOL.md §2.7).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from tests.api.conftest import Stack, simulator_config, start_stack
from tests.api.dialects import DIALECTS, error_message, health, send

ACCOUNTS = [{"name": "alpha", "token": "tok-alpha"}, {"name": "beta", "token": "tok-beta"}]
WAIT_BUDGET_S = 3.0  # below every parking time below: a request must not wait for any of them


def flags(**values: Any) -> Callable[[Stack, str], None]:
    """Script the signal on one simulated account."""
    return lambda stack, account: stack.sim("POST", f"/_sim/accounts/{account}", json=values)


def fault(name: str) -> Callable[[Stack, str], None]:
    """Arm a stream fault for every completion of one account."""
    return lambda stack, account: stack.sim(
        "POST", "/_sim/faults", json={"fault": name, "times": 0, "account": account}
    )


@dataclass(frozen=True)
class Signal:
    """One signal: how to script it, the condition it must lead to, and what the caller reads."""

    name: str
    script: Callable[[Stack, str], None]
    condition: str
    words: str  # in the caller's message once every account is parked
    retry_after: tuple[float, float]  # seconds, inclusive range
    ends_in: float | None = None  # seconds until the condition's own end, as /readyz says


SIGNALS = [
    Signal("biz_code 5 (JSON)", flags(mute_seconds=600), "muted", "muted", (540, 600), 600),
    Signal(
        "50006 in a 200 stream",
        flags(mute_seconds=600, mute_signal="stream"),
        "muted",
        "muted",
        (540, 600),
        600,
    ),
    # No mute_until in the signal: users/current says 900 s (the fallback would be 600).
    Signal(
        "50006 bare", flags(mute_seconds=900, mute_signal="stream_bare"), "muted", "muted", (840, 900), 900
    ),
    Signal("40012 on every call", flags(banned=True, ban_signal="code"), "banned", "banned", (540, 600), 600),
    Signal(
        "40012 in a 200 stream", flags(banned=True, ban_signal="stream"), "banned", "banned", (540, 600), 600
    ),
    Signal("90008", flags(disabled=True), "disabled", "disabled", (540, 600), 600),
    Signal("消息发送过于频繁", fault("throttle"), "throttled", "throttled", (10, 20), 20),
    Signal("hint rate_limit_reached", flags(rate_limited=True), "throttled", "throttled", (10, 20), 20),
    Signal("40003", flags(revoked=True), "invalid_token", "token DeepSeek rejected", (540, 600), 600),
]


@pytest.fixture
def stack() -> Iterator[Stack]:
    yield from start_stack(
        simulator_config(difficulty=64),
        accounts=ACCOUNTS,
        tokens=[],
        min_interval_s=0.0,
        wait_timeout_s=WAIT_BUDGET_S,
    )


def _seconds_until(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() - time.time()


@pytest.mark.parametrize("signal", SIGNALS, ids=[s.name for s in SIGNALS])
def test_each_signal_parks_the_account_and_each_dialect_gets_the_right_answer(
    stack: Stack, signal: Signal
) -> None:
    signal.script(stack, "alpha")
    for dialect in DIALECTS:  # alpha fails, beta answers: the caller sees nothing of it
        response = send(stack.server.url, dialect, f"hello {dialect.name}")
        assert response.status_code == 200, (dialect.name, response.text)
        assert dialect.text(response.json()).startswith(f"Echo: hello {dialect.name}"), dialect.name
    entry = health(stack.server.url)["alpha"]
    assert entry["condition"] == signal.condition, entry
    assert entry["reason"] and entry["since"], entry
    if signal.ends_in is not None:
        assert signal.ends_in - 60 < _seconds_until(entry["until"]) <= signal.ends_in + 1, entry
    assert "beta" not in health(stack.server.url)

    signal.script(stack, "beta")
    for dialect in DIALECTS:
        started = time.monotonic()
        response = send(stack.server.url, dialect, "anyone?")
        elapsed = time.monotonic() - started
        assert response.status_code == dialect.unavailable, (dialect.name, response.text)
        assert elapsed < WAIT_BUDGET_S, (dialect.name, elapsed)  # never waits for a parked account
        assert signal.words in error_message(response), (dialect.name, response.text)
        low, high = signal.retry_after
        assert low <= int(response.headers["retry-after"]) <= high + 1, (dialect.name, response.headers)
    assert health(stack.server.url)["beta"]["condition"] == signal.condition
