"""Hostile connections against `serve` in its own process: idle floods, slowloris, slow bodies.

Each attack is made over raw sockets as an attacker would; the limits come from the documented
``server.*`` settings, set short here so the tests run in seconds.
"""

from __future__ import annotations

import json
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.settings import ServerSettings
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, server_config_file, simulator_config
from tests.support.processes import CLI, Running, clean_env, running

HEADER_TIMEOUT_S = 3.0
BODY_TIMEOUT_S = 3.0
IDLE_TIMEOUT_S = 2.0
# A cut comes within half a second of its limit (the guard's sweep); the rest is for a loaded
# 2-core machine. uvicorn alone never cuts these, and closes idle keep-alive only after 5 s.
MARGIN_S = 2.0
# About 6 s of answer: longer than every limit above.
SLOW_REPLY = {
    "pattern": "SLOW",
    "answer": "{echo}",
    "answer_chars": 240,
    "pacing": {"chunks_per_second": 5, "chunk_chars": 8},
}
FILE_LIMIT = 1024  # a common default for `ulimit -n`
IDLE_FLOOD = 1100


def _settings_env(**server: object) -> dict[str, str]:
    return clean_env(**{f"DEEPSEEK_FREE_API_SERVER_{name.upper()}": str(v) for name, v in server.items()})


# server.http_parser: every attack below is made on both of uvicorn's parsers (httptools, the
# default where installed, and h11): the guard follows each one's view of the connection.
@pytest.fixture(scope="module", params=["auto", "h11"])
def short_limits(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Running, BackgroundServer]]:
    """`serve` with short connection limits, in front of a simulator that can answer slowly."""
    folder = tmp_path_factory.mktemp("short-limits")
    with BackgroundServer(create_simulator(simulator_config(scripts=[SLOW_REPLY]))) as simulator:
        config = server_config_file(folder, simulator.url)
        port = free_port()
        env = _settings_env(
            header_timeout_s=HEADER_TIMEOUT_S,
            body_timeout_s=BODY_TIMEOUT_S,
            idle_timeout_s=IDLE_TIMEOUT_S,
            http_parser=request.param,
        )
        argv = [*CLI, "serve", "--config", str(config), "--port", str(port)]
        with running(argv, port, env=env, log_file=folder / "serve.log") as server:
            yield server, simulator


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length (status line, headers and body)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line[15:]) for line in lines if line.startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _read_until_closed(sock: socket.socket, deadline_s: float) -> tuple[bytes, float | None]:
    """Everything the server sends, and when it closed (seconds from now), or None if it did not."""
    start = time.monotonic()
    received = b""
    while (left := deadline_s - (time.monotonic() - start)) > 0:
        sock.settimeout(left)
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received, time.monotonic() - start
        if not piece:
            return received, time.monotonic() - start
        received += piece
    return received, None


def test_slowloris_headers_are_cut_after_the_header_timeout(
    short_limits: tuple[Running, BackgroundServer],
) -> None:
    server, _ = short_limits
    count = 200
    with ExitStack() as stack, selectors.DefaultSelector() as selector:
        for _ in range(count):
            sock = stack.enter_context(_connect(server.url))
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, data=(time.monotonic(), b""))
        cut_after: list[float] = []  # seconds from each connection's start to its end
        answers: list[bytes] = []
        started = time.monotonic()
        next_dribble = started + 2.0
        while len(cut_after) < count and time.monotonic() - started < HEADER_TIMEOUT_S + MARGIN_S:
            for key, _ in selector.select(timeout=0.1):
                sock, (connected, received) = key.fileobj, key.data  # type: ignore[assignment]
                try:
                    piece = sock.recv(4096)
                except ConnectionResetError:
                    piece = b""
                if piece:
                    selector.modify(sock, selectors.EVENT_READ, data=(connected, received + piece))
                    continue
                cut_after.append(time.monotonic() - connected)
                answers.append(received)
                selector.unregister(sock)
            if time.monotonic() >= next_dribble:  # one more header byte every 2 s
                for key in selector.get_map().values():
                    try:
                        key.fileobj.send(b"X")  # type: ignore[union-attr]
                    except OSError:
                        pass  # cut meanwhile: seen as closed on the next select
                # Others are still served meanwhile.
                assert httpx.get(server.url + "/ping", timeout=5).status_code == 200
                next_dribble += 2.0
    assert len(cut_after) == count, f"{count - len(cut_after)} of {count} dribbling connections still open"
    assert HEADER_TIMEOUT_S * 0.9 <= min(cut_after) and max(cut_after) <= HEADER_TIMEOUT_S + MARGIN_S
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)


@pytest.mark.parametrize(
    ("length", "status"),
    [
        pytest.param(1000, b"408", id="read-by-the-app"),
        # Refused at once for its declared size; the rest must not trickle in for ever either.
        pytest.param(100_000_000, b"413", id="refused-early"),
    ],
)
def test_a_body_sent_at_one_byte_per_second_is_cut(
    short_limits: tuple[Running, BackgroundServer], length: int, status: bytes
) -> None:
    server, _ = short_limits
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Length: {length}\r\n\r\n"
    )
    with _connect(server.url) as sock:
        sock.sendall(head.encode())
        started = time.monotonic()
        sock.setblocking(False)
        closed_at = None
        received = b""
        while time.monotonic() - started < BODY_TIMEOUT_S + MARGIN_S:
            try:
                sock.send(b"{")
            except OSError:
                closed_at = time.monotonic() - started
                break
            sock.settimeout(1.0)
            try:
                piece = sock.recv(4096)
            except TimeoutError:
                continue
            except ConnectionResetError:
                piece = b""
            if not piece:
                closed_at = time.monotonic() - started
                break
            received += piece
    assert closed_at is not None, "a body trickling at 1 byte/s was never cut"
    assert BODY_TIMEOUT_S * 0.9 <= closed_at <= BODY_TIMEOUT_S + MARGIN_S, closed_at
    assert received.startswith(b"HTTP/1.1 " + status + b" ")
    assert status != b"408" or b'"code":"request_timeout"' in received


def test_idle_keep_alive_connections_are_closed_after_the_idle_timeout(
    short_limits: tuple[Running, BackgroundServer],
) -> None:
    server, _ = short_limits
    with _connect(server.url) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        rest, closed_after = _read_until_closed(sock, IDLE_TIMEOUT_S + MARGIN_S)
    assert closed_after is not None, "an idle keep-alive connection was not closed"
    assert rest == b""
    assert IDLE_TIMEOUT_S * 0.9 <= closed_after <= IDLE_TIMEOUT_S + MARGIN_S, closed_after


def test_a_connection_that_never_sends_is_closed_after_the_header_timeout(
    short_limits: tuple[Running, BackgroundServer],
) -> None:
    server, _ = short_limits
    with _connect(server.url) as sock:
        received, closed_after = _read_until_closed(sock, HEADER_TIMEOUT_S + MARGIN_S)
    assert closed_after is not None, "a connection that sent nothing was not closed"
    assert received == b""  # nothing to answer: no request began
    assert HEADER_TIMEOUT_S * 0.9 <= closed_after <= HEADER_TIMEOUT_S + MARGIN_S, closed_after


def test_a_stream_longer_than_every_limit_completes(short_limits: tuple[Running, BackgroundServer]) -> None:
    server, _ = short_limits
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "SLOW"}], "stream": True}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    started = time.monotonic()
    with httpx.stream(
        "POST", server.url + "/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    lasted = time.monotonic() - started
    assert lines[-1] == "data: [DONE]"
    text = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content") or "" for line in lines[:-1])
    assert len(text) >= 200
    assert lasted > max(HEADER_TIMEOUT_S, BODY_TIMEOUT_S, IDLE_TIMEOUT_S) + 1, lasted


def test_a_large_body_at_a_normal_speed_is_answered(short_limits: tuple[Running, BackgroundServer]) -> None:
    server, simulator = short_limits
    # ~3 MB at ~1 MB/s: longer than server.body_timeout_s, far above server.body_min_rate.
    content = "a" * 3_000_000
    payload = json.dumps({"model": "deepseek-chat", "messages": [{"role": "user", "content": content}]})

    def paced() -> Iterator[bytes]:
        data = payload.encode()
        for offset in range(0, len(data), 100_000):
            yield data[offset : offset + 100_000]
            time.sleep(0.1)

    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    started = time.monotonic()
    response = httpx.post(server.url + "/v1/chat/completions", content=paced(), headers=headers, timeout=60)
    assert time.monotonic() - started > BODY_TIMEOUT_S
    # The whole prompt reached the server, not a cut: over DeepSeek's input limit, it went up as a
    # file (chat.long_input = "file"), every character of it.
    assert response.status_code == 200, response.text
    assert "files=1" in response.json()["choices"][0]["message"]["content"]
    files = httpx.get(simulator.url + "/_sim/state").json()["files"]
    assert max(f["file_size"] for f in files) >= len(content)


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


@pytest.fixture
def many_files() -> Iterator[None]:
    """This test process may open the idle flood's sockets (the server gets its own limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = IDLE_FLOOD + 200
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard open-file limit ({hard}) is below the {needed} this test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize(
    "server_settings",
    [
        pytest.param({}, id="defaults"),
        # A cap above the file limit: accept() does run out of descriptors, and must stay quiet.
        pytest.param({"max_connections": 5000, "reserved_fds": 0}, id="cap-above-the-file-limit"),
    ],
)
@pytest.mark.usefixtures("many_files")
def test_an_idle_flood_under_ulimit_1024_neither_silences_the_server_nor_floods_its_log(
    tmp_path: Path, server_settings: dict[str, int]
) -> None:
    port = free_port()
    env = _settings_env(header_timeout_s=HEADER_TIMEOUT_S, **server_settings)
    log_file = tmp_path / "serve.log"
    argv = [*CLI, "serve", "--port", str(port)]
    with running(argv, port, env=env, log_file=log_file, preexec_fn=_limit_files) as server:
        with ExitStack() as stack:
            for _ in range(IDLE_FLOOD):
                sock = stack.enter_context(socket.socket())
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
            time.sleep(0.5)
            slowest = 0.0
            # With the defaults the server answers throughout; with the cap above the file limit
            # only once the flood's connections reached their header deadline.
            wait = 0.0 if not server_settings else HEADER_TIMEOUT_S + 0.5
            time.sleep(wait)
            for _ in range(4):
                started = time.monotonic()
                assert httpx.get(server.url + "/ping", timeout=1).status_code == 200
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.5)
            assert slowest < 1.0
            during = server.logged()
    lines = server.output.splitlines()
    assert len(during.splitlines()) < 100 and len(lines) < 100, lines[-20:]
    assert f"soft limit {FILE_LIMIT}" in server.output and f"hard limit {FILE_LIMIT}" in server.output
    if not server_settings:  # the default cap keeps the default reserve of descriptors free
        assert f"up to {FILE_LIMIT - ServerSettings().reserved_fds} connections" in server.output
    assert "Traceback" not in server.output
