"""After its turns end, the server gives the memory they freed back to the system.

Run as a user runs it: ``serve`` in its own process in front of the simulator, a few long answers
asked as non-streamed replies (their texts and JSON bodies are large blocks of the C heap), then
nothing. glibc keeps freed heap memory for the process unless told (``malloc_trim``): before, the
server stayed at its high mark after such answers for its whole life, and its next burst started
from there (``heap.IdleTrim``: 1,000 streams after a few long answers peaked at 243 MB, 233 MB
with the trim).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.heap import IDLE_TRIM_S
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, TOKENS, simulator_config
from tests.support.processes import ask_chat, rss_mb, serve_one_account

ANSWER_CHARS = 3_000_000
GIVEN_BACK_MB = 8.0  # measured 2026-12: 140 -> 112 MB after three 3 MB answers (before: 140 -> 140)


@pytest.fixture(scope="module")
def simulator() -> Iterator[BackgroundServer]:
    config = simulator_config(
        scripts=[
            {
                "pattern": "LONG",
                "answer": "z ",
                "answer_chars": ANSWER_CHARS,
                "pacing": {"chunk_chars": 16000},
            }
        ]
    )
    with BackgroundServer(create_simulator(config)) as server:
        yield server


def _serve(simulator: BackgroundServer, data_dir: Path, port: int) -> Any:
    return serve_one_account(simulator.url, data_dir, port, token=TOKENS[0], api_key=API_KEY)


def _ask(url: str, content: str, timeout: float = 60) -> httpx.Response:
    return ask_chat(url, content, api_key=API_KEY, timeout=timeout)


@pytest.mark.timeout(180)
def test_memory_freed_by_long_answers_goes_back_once_the_server_is_idle(
    simulator: BackgroundServer, tmp_path: Path
) -> None:
    port = free_port()
    with _serve(simulator, tmp_path, port) as server:
        for _ in range(3):
            reply = _ask(server.url, "LONG please", timeout=120)
            assert reply.status_code == 200, reply.text[:300]
            assert len(reply.json()["choices"][0]["message"]["content"]) == ANSWER_CHARS
        after = rss_mb(server.process.pid)  # the last turn ended moments ago: nothing trimmed yet
        deadline = time.monotonic() + IDLE_TRIM_S + 10
        idle = after
        while time.monotonic() < deadline and after - idle < GIVEN_BACK_MB:
            time.sleep(0.5)
            idle = rss_mb(server.process.pid)
        assert after - idle >= GIVEN_BACK_MB, (
            f"RSS {after:.0f} MB after the answers, {idle:.0f} MB after {IDLE_TRIM_S + 10:g} s idle"
        )
        # The server still answers after giving memory back.
        assert _ask(server.url, "hi").status_code == 200
