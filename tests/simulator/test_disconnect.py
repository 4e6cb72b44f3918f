"""A client that leaves mid-stream, as upstream treats it; and per-call network latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from deepseek_free_api.simulator import ScriptedReply

from .client import Sim, answer_text, parse_sse
from .conftest import running, test_config, wait_until

BUSY = {"type": "error", "content": "A message is being generated, please try again later."}
# 400 frames at 40 a second: about 10 s of generation, far longer than any check below.
LONG = ScriptedReply(
    pattern="^long", name="long", answer_chars=4000, pacing={"chunks_per_second": 40, "chunk_chars": 10}
)
# 60 frames at 20 a second: about 3 s, so a test can wait for the scripted end.
BRIEF = ScriptedReply(
    pattern="^brief", name="brief", answer_chars=600, pacing={"chunks_per_second": 20, "chunk_chars": 10}
)
SCRIPTS = (LONG, BRIEF)

Custom = Callable[..., AbstractContextManager[httpx.Client]]


@pytest.fixture(scope="module")
def paced() -> Iterator[httpx.Client]:
    with running(test_config(scripts=SCRIPTS)) as client:
        yield client


@pytest.fixture
def sim(paced: httpx.Client) -> Sim:
    assert paced.post("/_sim/reset").status_code == 200
    return Sim(paced, "demo-token-1")


def _drop_mid_answer(sim: Sim, session: str, prompt: str) -> None:
    """Start a completion, read up to its first answer frame, then hang up."""
    body = sim.completion_body(session, prompt)
    headers = sim.h(**{"X-Ds-Pow-Response": sim.pow_header()})
    with sim.client.stream("POST", "/api/v0/chat/completion", json=body, headers=headers) as response:
        assert any('"RESPONSE"' in line for line in response.iter_lines())
    # Leaving the block closes the connection with the answer half sent.


def _running(client: httpx.Client) -> dict[str, Any] | None:
    generation: dict[str, Any] | None = client.get("/_sim/state").json()["in_flight"].get("demo-1")
    return generation


def _noticed_the_drop(client: httpx.Client) -> bool:
    """The simulator saw the client leave: the account is free, or its generation has no client."""
    running = _running(client)
    return running is None or running.get("client_connected") is False


def _last_answer(sim: Sim, session: str) -> dict[str, Any]:
    history = sim.get("chat/history_messages", chat_session_id=session).json()["data"]["biz_data"]
    message: dict[str, Any] = history["chat_messages"][-1]
    return message


def _completes(sim: Sim) -> bool:
    events = parse_sse(sim.complete(sim.session(), "hi").text)
    return events[0].name == "ready"


def test_dropped_stream_keeps_the_account_busy_until_stop_stream(sim: Sim) -> None:
    session = sim.session()
    _drop_mid_answer(sim, session, "long")
    assert wait_until(lambda: _noticed_the_drop(sim.client))
    running = _running(sim.client)
    assert running is not None, "the account was freed although upstream generates on"
    assert running["session_id"] == session and running["message_id"] == 2
    # A second completion on the account meets the running generation, as on DeepSeek.
    refused = parse_sse(sim.complete(sim.session(), "hi").text)
    assert [event.json() for event in refused] == [BUSY]
    stop = sim.post("chat/stop_stream", {"chat_session_id": session, "message_id": 2}).json()
    assert stop["code"] == 0 and stop["data"]["biz_code"] == 0
    assert _running(sim.client) is None  # freed by the time stop_stream answered
    assert _completes(sim)
    logged = sim.client.get("/_sim/requests", params={"path": "stop_stream"}).json()["requests"]
    assert [(entry["body"], entry["status"]) for entry in logged] == [
        ({"chat_session_id": session, "message_id": 2}, 200)
    ]
    stopped = _last_answer(sim, session)
    assert stopped["status"] == "INCOMPLETE" and len(answer_text({"response": stopped})) < 4000


def test_dropped_stream_keeps_the_account_busy_until_the_scripted_end(sim: Sim) -> None:
    session = sim.session()
    _drop_mid_answer(sim, session, "brief")
    assert wait_until(lambda: _noticed_the_drop(sim.client))
    assert _running(sim.client) is not None, "the account was freed although upstream generates on"
    assert [event.json() for event in parse_sse(sim.complete(sim.session(), "hi").text)] == [BUSY]
    assert wait_until(lambda: _running(sim.client) is None, timeout=60)
    # Upstream finished the answer without the client: history has all of it.
    finished = _last_answer(sim, session)
    assert finished["status"] == "FINISHED" and len(answer_text({"response": finished})) == 600
    assert _completes(sim)


def test_a_zero_cap_frees_the_account_when_the_client_leaves() -> None:
    with running(test_config(scripts=SCRIPTS, busy_after_disconnect_seconds=0)) as client:
        sim = Sim(client, "demo-token-1")
        session = sim.session()
        _drop_mid_answer(sim, session, "long")
        assert wait_until(lambda: _running(client) is None)
        assert _completes(sim)
        assert _last_answer(sim, session)["status"] == "INCOMPLETE"
        assert client.get("/_sim/state").json()["counters"].get("stops") is None


def test_a_cap_cuts_the_generation_short() -> None:
    with running(test_config(scripts=SCRIPTS, busy_after_disconnect_seconds=1)) as client:
        sim = Sim(client, "demo-token-1")
        session = sim.session()
        _drop_mid_answer(sim, session, "long")
        assert wait_until(lambda: _noticed_the_drop(client))
        assert _running(client) is not None
        assert wait_until(lambda: _running(client) is None, timeout=30)
        assert _last_answer(sim, session)["status"] == "INCOMPLETE"
        assert _completes(sim)


# Network latency: lower bounds only (each call sleeps at least this long), never upper ones.
LATENCY_MS = 300
HEADERS_MS = 200


def test_network_latency_delays_every_call() -> None:
    script = ScriptedReply(pattern="^hi", answer="hello", pacing={"latency_ms": HEADERS_MS})
    with running(test_config(scripts=(script,), network_latency_ms=LATENCY_MS)) as client:
        sim = Sim(client, "demo-token-1")
        started = time.monotonic()
        assert sim.get("users/current").json()["code"] == 0
        assert time.monotonic() - started >= LATENCY_MS / 1000
        started = time.monotonic()
        session = sim.session()
        assert time.monotonic() - started >= LATENCY_MS / 1000
        pow_header = sim.pow_header()  # one more delayed call, not timed
        body = sim.completion_body(session, "hi")
        headers = sim.h(**{"X-Ds-Pow-Response": pow_header})
        started = time.monotonic()
        with client.stream("POST", "/api/v0/chat/completion", json=body, headers=headers) as response:
            headers_after = time.monotonic() - started
            assert response.status_code == 200
        # The network's delay comes on top of the completion's own time to headers.
        assert headers_after >= (LATENCY_MS + HEADERS_MS) / 1000
        started = time.monotonic()
        stop = sim.post("chat/stop_stream", {"chat_session_id": session, "message_id": 2})
        assert stop.json()["code"] == 0 and time.monotonic() - started >= LATENCY_MS / 1000
