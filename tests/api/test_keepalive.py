"""SSE keep-alive comments while DeepSeek is silent; never filler in content."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Stack, simulator_config, start_stack

THINKER = {"pattern": "PONDER", "answer": "{echo}", "pacing": {"first_token_ms": 800}}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(scripts=[THINKER]), keepalive_interval_s=0.1, min_interval_s=0.0)


def test_silent_upstream_gets_keepalive_comments(stack: Stack) -> None:
    with stack.stream_chat("PONDER") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        lines = [line for line in response.iter_lines() if line]
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: {"))
    assert lines[:first_data] and all(line == ": keep-alive" for line in lines[:first_data])
    assert lines[-1] == "data: [DONE]"
    content = "".join(line for line in lines if '"content"' in line)
    assert "keep-alive" not in content
