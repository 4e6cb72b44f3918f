"""A client that stops reading a long answer costs the server a bounded amount of memory, and loses nothing.

Run as a user runs it: ``serve`` in its own process in front of the simulator, and a client on a
raw socket with a small receive buffer that reads the response head, then nothing for a while.
Before, the server read DeepSeek's whole answer into memory meanwhile (the channel to the writer
was bounded by batches, not by size; curl's transfer was never paused) and counted its tokens in
one piece: 8 MB of answer took the server from 49 MB to 1,054 MB. Now the channel holds 64K
characters, the transfer pauses (``upstream.stream_buffer_bytes``) and the count goes in pieces.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, TOKENS, simulator_config
from tests.support.processes import ask_chat, peak_rss_mb, rss_mb, serve_one_account

ANSWER_CHARS = 8_000_000
STALL_S = 3.0
GROWTH_BOUND_MB = 150.0


@pytest.fixture(scope="module")
def simulator() -> Iterator[BackgroundServer]:
    config = simulator_config(
        scripts=[
            {
                "pattern": "HUGE",
                "answer": "x ",
                "answer_chars": ANSWER_CHARS,
                "pacing": {"chunk_chars": 4000},
            },
            # Events 1 ms apart for about two minutes: a fast stream the server reads in holds
            {
                "pattern": "QUICK",
                "answer": "z ",
                "answer_chars": 2_000_000,
                "pacing": {"chunk_chars": 16, "chunks_per_second": 1000.0},
            },
            # ~800 KB/s for 10 s: still generating when its client leaves, long after the buffers filled
            {
                "pattern": "PACED",
                "answer": "y ",
                "answer_chars": ANSWER_CHARS,
                "pacing": {"chunk_chars": 4000, "chunks_per_second": 200.0},
            },
        ]
    )
    with BackgroundServer(create_simulator(config)) as server:
        yield server


def _request(content: str) -> bytes:
    body = json.dumps(
        {"model": "deepseek-chat", "stream": True, "messages": [{"role": "user", "content": content}]}
    )
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n"
        f"authorization: Bearer {API_KEY}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return (head + body).encode()


def _serve(simulator: BackgroundServer, data_dir: Path, port: int) -> Any:
    return serve_one_account(simulator.url, data_dir, port, token=TOKENS[0], api_key=API_KEY)


def _ask(url: str, content: str, timeout: float = 60) -> httpx.Response:
    return ask_chat(url, content, api_key=API_KEY, timeout=timeout)


def _raw_client(port: int, content: str) -> socket.socket:
    """A client on a raw socket with a small receive buffer that sent its request; its test reads."""
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    client.connect(("127.0.0.1", port))
    client.settimeout(60)
    client.sendall(_request(content))
    return client


def _assert_stopped_and_freed(simulator: BackgroundServer, url: str) -> None:
    """Once the client left: DeepSeek's generation ends within 5 s (only a stop ends it that soon),
    ``chat/stop_stream`` was sent, and the only account serves the next request."""
    deadline = time.monotonic() + 5
    while httpx.get(simulator.url + "/_sim/state", timeout=10).json()["in_flight"]:
        assert time.monotonic() < deadline, "DeepSeek's generation still runs after its client left"
        time.sleep(0.1)
    stops = httpx.get(simulator.url + "/_sim/requests", params={"path": "stop_stream"}, timeout=10).json()
    assert stops["requests"], "no chat/stop_stream was sent"
    again = _ask(url, "hi again", timeout=15)  # the only account is free again, not leased on
    assert again.status_code == 200, again.text


def test_a_stalled_client_holds_bounded_memory_and_then_gets_the_whole_answer(
    simulator: BackgroundServer, tmp_path: Path
) -> None:
    port = free_port()
    with _serve(simulator, tmp_path, port) as server:
        # A first answer loads the tokenizer (~45 MB): the bound is on what the stall adds.
        warm = _ask(server.url, "hi")
        assert warm.status_code == 200, warm.text
        before = rss_mb(server.process.pid)

        client = _raw_client(port, "HUGE please")
        try:
            received = client.recv(4096)
            assert received.startswith(b"HTTP/1.1 200"), received[:200]
            time.sleep(STALL_S)
            peak = peak_rss_mb(server.process.pid)  # the kernel's high-water mark: no spike missed
            assert peak - before < GROWTH_BOUND_MB, (
                f"RSS {before:.0f} MB -> {peak:.0f} MB while the client read nothing"
            )

            chunks = [received]
            while not chunks[-1].endswith(b"0\r\n\r\n"):  # the chunked body's last chunk
                chunk = client.recv(1 << 20)
                assert chunk, "the server closed the stream before its end"
                chunks.append(chunk)
        finally:
            client.close()
    body = b"".join(chunks)
    assert b"data: [DONE]" in body
    # Every character of the answer came through (the simulator fills it up to answer_chars).
    texts = [
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in body.decode().split("\n")
        if line.startswith("data: {")
    ]
    answer = "".join(texts)
    assert answer.startswith("x The quick brown fox") and len(answer) == ANSWER_CHARS


def test_a_client_leaving_while_its_stream_is_paused_stops_the_answer_and_frees_the_account(
    simulator: BackgroundServer, tmp_path: Path
) -> None:
    # The turn-exit contract on the paused path: the transfer is paused (the client read nothing
    # and the buffers filled) when the client goes; the server must still stop DeepSeek's
    # generation and give the account back.
    port = free_port()
    with _serve(simulator, tmp_path, port) as server:
        client = _raw_client(port, "PACED please")
        try:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
            time.sleep(2.0)  # ~1.6 MB generated by now: far past what the server may hold
            in_flight = httpx.get(simulator.url + "/_sim/state", timeout=10).json()["in_flight"]
            assert in_flight, "the answer should still be generating upstream"
        finally:
            client.close()
        _assert_stopped_and_freed(simulator, server.url)  # its scripted end is ~7.5 s away


def test_a_client_leaving_while_its_fast_stream_is_held_stops_the_answer_and_frees_the_account(
    simulator: BackgroundServer, tmp_path: Path
) -> None:
    # The turn-exit contract on the held path: a client that reads as it comes, so that the
    # transfer is not paused, but DeepSeek's events come 1 ms apart, so that the server reads them
    # once per 4 ms and holds the transfer in between (upstream.stream.FAST_RUN); the client goes.
    port = free_port()
    with _serve(simulator, tmp_path, port) as server:
        client = _raw_client(port, "QUICK please")
        try:
            received = b""
            until = time.monotonic() + 1.0
            while time.monotonic() < until:  # a second of a stream the client keeps up with
                chunk = client.recv(1 << 16)
                assert chunk, "the server closed the stream"
                received += chunk
            assert received.startswith(b"HTTP/1.1 200") and b'"content":"' in received, received[:300]
            in_flight = httpx.get(simulator.url + "/_sim/state", timeout=10).json()["in_flight"]
            assert in_flight, "the answer should still be generating upstream"
        finally:
            client.close()
        _assert_stopped_and_freed(simulator, server.url)  # its scripted end is about two minutes away
