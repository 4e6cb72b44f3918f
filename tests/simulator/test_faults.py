"""Faults on demand, by header and by /_sim/faults (for clients that cannot add headers)."""

# ruff: noqa: E501 - long literal streams and one-line assertions read better unwrapped

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from deepseek_free_api.simulator import ScriptedReply

from .client import Sim, answer_text, apply_frames, parse_sse

Custom = Callable[..., AbstractContextManager[httpx.Client]]
# About 10 s of generation: longer than any check made after the connection is cut.
LONG = ScriptedReply(
    pattern="^long", name="long", answer_chars=4000, pacing={"chunks_per_second": 40, "chunk_chars": 10}
)


def _fault(sim: Sim, fault: str, prompt: str = "hi") -> httpx.Response:
    return sim.complete(sim.session(), prompt, headers={"X-Sim-Fault": fault})


def _arm(client: httpx.Client, **spec: Any) -> None:
    assert client.post("/_sim/faults", json=spec).status_code == 200


def test_http_500_by_header_and_by_armed_fault(sim: Sim, client: httpx.Client) -> None:
    assert _fault(sim, "http_500").status_code == 500
    _arm(client, fault="http_503", times=1, path="/chat/completion")
    session = sim.session()  # not matched: the fault waits for the completion path
    assert sim.complete(session, "hi").status_code == 503
    assert sim.complete(session, "hi").status_code == 200  # times=1 used up
    assert client.get("/_sim/faults").json()["faults"] == []


def test_armed_fault_filters_by_token_and_prompt(sim: Sim, client: httpx.Client) -> None:
    _arm(client, fault="json_instead_of_sse", times=0, token="demo-token-2", prompt_contains="boom")
    assert sim.complete(sim.session(), "boom").headers["content-type"].startswith("text/event-stream")
    other = Sim(client, "demo-token-2")
    session = other.session()
    assert other.complete(session, "calm").headers["content-type"].startswith("text/event-stream")
    response = other.complete(session, "boom")
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == 1001


def test_drop_mid_stream_cuts_the_connection_and_the_generation_goes_on(custom: Custom) -> None:
    with custom(scripts=(LONG,)) as client:
        sim = Sim(client, "demo-token-1")
        session = sim.session()
        with pytest.raises(httpx.RemoteProtocolError):
            sim.complete(session, "long", headers={"X-Sim-Fault": "drop_mid_stream; after=2"})
        # As when a client leaves: upstream generates on until stop_stream (or the scripted end).
        running = client.get("/_sim/state").json()["in_flight"]["demo-1"]
        assert running["message_id"] == 2 and running["client_connected"] is False
        sim.post("chat/stop_stream", {"chat_session_id": session, "message_id": 2})
        assert client.get("/_sim/state").json()["in_flight"] == {}
        assert sim.complete(sim.session(), "hi").status_code == 200


def test_stall_sends_no_bytes_for_a_while(sim: Sim) -> None:
    session = sim.session()
    body = sim.completion_body(session, "hi")
    headers = sim.h(**{"X-Ds-Pow-Response": sim.pow_header(), "X-Sim-Fault": "stall; seconds=5"})
    with pytest.raises(httpx.ReadTimeout):
        with sim.client.stream("POST", "/api/v0/chat/completion", json=body, headers=headers,
                               timeout=httpx.Timeout(30, read=0.5)) as response:  # fmt: skip
            for _ in response.iter_bytes():
                pass


def test_malformed_sse_line(sim: Sim) -> None:
    events = parse_sse(_fault(sim, "malformed_sse").text)
    bad = [e for e in events if e.name is None and not e.data.endswith("}")]
    assert len(bad) == 1
    good = [e for e in events if e not in bad]
    assert answer_text(apply_frames(good)).startswith("Echo: hi |")


def _raw_chunks(sim: Sim, fault: str) -> list[bytes]:
    body = sim.completion_body(sim.session(), "hi")
    headers = sim.h(**{"X-Ds-Pow-Response": sim.pow_header(), "X-Sim-Fault": fault})
    with sim.client.stream("POST", "/api/v0/chat/completion", json=body, headers=headers) as response:
        return list(response.iter_raw())


def test_utf8_split_across_writes(sim: Sim) -> None:
    host, port = sim.client.base_url.host, sim.client.base_url.port
    assert port is not None
    body = sim.completion_body(sim.session(), "hi")
    headers = sim.h(**{"X-Ds-Pow-Response": sim.pow_header(), "X-Sim-Fault": "utf8_split"})
    payload = httpx.Request(
        "POST", f"http://{host}:{port}/api/v0/chat/completion", json=body, headers=headers
    )
    raw = b"".join(payload.stream)  # type: ignore[arg-type]
    head = f"POST /api/v0/chat/completion HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    head += "".join(
        f"{k}: {v}\r\n" for k, v in payload.headers.items() if k.lower() not in ("host", "connection")
    )
    with socket.create_connection((host, port)) as conn:
        conn.sendall(head.encode() + b"\r\n" + raw)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    chunks = _chunked_pieces(received.split(b"\r\n\r\n", 1)[1])
    broken = 0
    for piece in chunks:
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            broken += 1
    assert broken >= 1  # some writes end inside a multi-byte character
    text = b"".join(chunks).decode("utf-8")
    assert "你好，世界" in answer_text(apply_frames(parse_sse(text)))


def _chunked_pieces(body: bytes) -> list[bytes]:
    pieces = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        pieces.append(rest[:size])
        body = rest[size + 2 :]
    return pieces


def test_long_data_line_over_one_megabyte(sim: Sim) -> None:
    response = _fault(sim, "long_line")
    longest = max(len(line) for line in response.text.split("\n"))
    assert longest > 1_000_000
    assert answer_text(apply_frames(parse_sse(response.text))).startswith("Echo: hi |")


def test_generation_err_then_continue(sim: Sim, client: httpx.Client) -> None:
    _arm(client, fault="generation_err", after=10)
    session = sim.session()
    events = parse_sse(sim.complete(session, "hi").text)
    assert events[-2].json()["finish_reason"] == "generation_err"
    body = {"chat_session_id": session, "message_id": 2, "fallback_to_resume": True}
    final = apply_frames(parse_sse(sim.post("chat/continue", body).text))
    assert answer_text(final) == "Echo: hi | model=default thinking=false search=false files=0 parent=none"


def test_new_message_moves_a_continued_answer_to_a_new_message_id(sim: Sim, client: httpx.Client) -> None:
    _arm(client, fault="generation_err", after=10)
    _arm(client, fault="new_message", path="/chat/continue")
    session = sim.session()
    sim.complete(session, "hi")
    body = {"chat_session_id": session, "message_id": 2, "fallback_to_resume": True}
    events = parse_sse(sim.post("chat/continue", body).text)
    assert events[0].json()["response_message_id"] == 3  # ready announces the new message
    assert answer_text(apply_frames(events)).startswith("Echo: hi |")
    history = sim.get("chat/history_messages", chat_session_id=session).json()["data"]["biz_data"]
    assert history["chat_session"]["current_message_id"] == 3


def test_edge_blocks_for_a_token_and_for_everyone(sim: Sim, client: httpx.Client, custom: Any) -> None:
    client.post("/_sim/accounts/demo-2", json={"edge_block": "waf"})
    waf = Sim(client, "demo-token-2").post("chat_session/create", {})
    assert waf.status_code == 202 and waf.headers["x-amzn-waf-action"]
    assert sim.post("chat_session/create", {}).status_code == 200
    html = sim.post("chat_session/create", {}, **{"X-Sim-Fault": "edge_html"})
    assert html.headers["content-type"].startswith("text/html") and "Just a moment" in html.text
    with custom(edge_block="html") as blocked:
        response = Sim(blocked, "demo-token-1").get("users/current")
        assert response.status_code == 403 and response.headers["content-type"].startswith("text/html")
