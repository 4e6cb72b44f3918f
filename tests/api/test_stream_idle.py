"""``upstream.stream_idle_timeout_s`` is the longest silence between two bytes of a stream.

curl's low-speed limit, which the base code relied on, counts connect + idle (11 s for an idle
timeout of 1 s with the default connect timeout); the server enforces the idle timeout itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.api.conftest import Stack, simulator_config, start_stack


@pytest.fixture(scope="module")
def stalling() -> Iterator[Stack]:
    stall = {"fault": "stall", "times": 0, "prompt_contains": "STALL", "params": {"seconds": 8}}
    config = simulator_config(faults=[stall])
    yield from start_stack(config, min_interval_s=0.0, **{"upstream.stream_idle_timeout_s": 1.0})


def test_a_stalled_stream_ends_within_two_seconds(stalling: Stack) -> None:
    first = ended = 0.0
    text = ""
    with stalling.stream_chat("STALL now") as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            text += line + "\n"
            if not first and '"content":"' in line:
                first = time.monotonic()  # DeepSeek went silent right after this frame
        ended = time.monotonic()
    assert first, text
    assert ended - first < 2.0, (ended - first, text)
    assert "upstream_timeout" in text and "stream_idle_timeout_s" in text, text
    stops = stalling.upstream_requests("/chat/stop_stream")
    assert stops and stalling.sim("GET", "/_sim/state")["in_flight"] == {}
