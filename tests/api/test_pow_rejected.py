"""After DeepSeek forgets its challenges (a restart of its side), the prepared answers are dropped.

Each account keeps a solved challenge ready; once DeepSeek no longer knows them, every one of them
would be refused with 40301, one failed attempt per account. The first refusal drops them all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.api.conftest import Stack, simulator_config, start_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(), min_interval_s=0.0, max_attempts=3)


def _ready(stack: Stack) -> None:
    """Wait until both accounts have their next challenge prepared (a challenge fetch each)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        fetched = {r.get("account") for r in stack.upstream_requests("/create_pow_challenge")}
        if len(fetched) >= 2:
            time.sleep(0.3)  # solving is quick at this difficulty
            return
        time.sleep(0.05)
    raise AssertionError("the accounts did not prepare their proof of work")


def test_one_refusal_drops_every_prepared_answer(stack: Stack) -> None:
    assert stack.post_chat("warm both").status_code == 200
    assert stack.post_chat("warm both again").status_code == 200
    _ready(stack)
    stack.sim("POST", "/_sim/pow/restart")
    before = stack.sim("GET", "/_sim/state")["counters"].get("pow_rejected", 0)
    for text in ("after the restart", "and once more"):
        response = stack.post_chat(text)
        assert response.status_code == 200, response.text
    rejected = stack.sim("GET", "/_sim/state")["counters"].get("pow_rejected", 0) - before
    assert rejected == 1  # was one per account holding a stale answer (2 here), then retried
