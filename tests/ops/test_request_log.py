"""The request log of ``serve`` as an operator reads it: one line per request, with why it failed.

``serve`` runs in its own process (as users run it) against the simulator; its whole output is
read after it stopped, in the text format and in ``--log-format json``. The service key and the
account token must appear nowhere in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import simulator_config
from tests.support.processes import CLI, running

KEY = "sk-logcheck-5b2e91c0d7a4"
TOKEN = "tok-logcheck-e4a7f0c9b13d"
WRONG_KEY = "sk-wrong-0f3c9a8e71b2"
ADMIN_KEY = "adm-logcheck-77c0e2d91f5a"
STATUSES = (200, 404, 401, 503)  # what make_requests gets: 200 twice, then one of each


@pytest.fixture(scope="module")
def upstream() -> Iterator[BackgroundServer]:
    with BackgroundServer(
        create_simulator(simulator_config(accounts=[{"id": "solo", "token": TOKEN}]))
    ) as sim:
        yield sim


def config_file(tmp_path: Path, simulator: str) -> Path:
    path = tmp_path / "server.toml"
    path.write_text(
        f'[upstream]\nbase_url = "{simulator}"\n[auth]\napi_keys = ["{KEY}"]\nadmin_keys = ["{ADMIN_KEY}"]\n'
        f'[pool]\nmin_interval_s = 0\n[[accounts]]\ntoken = "{TOKEN}"\n'
    )
    return path


def make_requests(url: str, simulator: BackgroundServer) -> None:
    """A success, a stream, an unknown model, a wrong key, and a 503 once the account is revoked."""
    headers = {"Authorization": f"Bearer {KEY}"}
    chat = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "log me"}]}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        assert client.post("/v1/chat/completions", json=chat).status_code == 200
        with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as stream:
            assert stream.status_code == 200 and "[DONE]" in stream.read().decode()
        assert client.post("/v1/chat/completions", json={**chat, "model": "gpt-nope"}).status_code == 404
        relayed = {"Authorization": f"Bearer {ADMIN_KEY}", "X-Forwarded-For": "203.0.113.7"}
        assert client.get("/metrics", headers=relayed).status_code == 200
        wrong = {"Authorization": f"Bearer {WRONG_KEY}"}
        assert client.post("/v1/chat/completions", json=chat, headers=wrong).status_code == 401
        httpx.post(simulator.url + "/_sim/accounts/solo", json={"revoked": True}).raise_for_status()
        try:
            assert client.post("/v1/chat/completions", json=chat).status_code == 503
        finally:
            httpx.post(simulator.url + "/_sim/accounts/solo", json={"revoked": False}).raise_for_status()


def run_serve(tmp_path: Path, simulator: BackgroundServer, *flags: str) -> str:
    port = free_port()
    argv = [*CLI, "serve", "--config", str(config_file(tmp_path, simulator.url)), "--port", str(port), *flags]
    with running(argv, port) as server:
        make_requests(server.url, simulator)
    assert server.stopped_gracefully, server.output
    assert not [secret for secret in (KEY, TOKEN, WRONG_KEY, ADMIN_KEY) if secret in server.output]
    return server.output


def test_one_text_line_per_request_with_route_model_key_account_times_and_reasons(
    tmp_path: Path, upstream: BackgroundServer
) -> None:
    output = run_serve(tmp_path, upstream)
    lines = [line for line in output.splitlines() if '"POST /v1/chat/completions HTTP/1.1"' in line]
    assert len(lines) == 5, "\n".join(lines)
    # A line is written when its request has ended, clean-up included: sorted by status, not time.
    by_status = {status: [line for line in lines if f'HTTP/1.1" {status} ' in line] for status in STATUSES}
    (ok, streamed), (unknown,), (refused,), (unavailable,) = by_status.values()
    key = re.search(r" key=(key-[0-9a-f]{8}) ", ok)  # the service key, named by a digest of it
    assert key, ok
    for line in (ok, streamed):
        assert " 200 route=/v1/chat/completions dialect=openai model=deepseek-v4-flash-nothinking " in line
        assert f" key={key[1]} " in line
        assert re.search(r"account=acct-[0-9a-f]{4} ttft_ms=\d+\.\d total_ms=\d+\.\d$", line), line
        assert " INFO " in line
    assert " 404 " in unknown and "error=model_not_found" in unknown
    assert "reason=\"The model 'gpt-nope' does not exist" in unknown
    assert " 401 " in refused and "key=caller-token" in refused and "error=invalid_api_key" in refused
    assert " 503 " in unavailable and " WARNING " in unavailable and "error=no_usable_account" in unavailable
    (scrape,) = [line for line in output.splitlines() if '"GET /metrics HTTP/1.1" 200' in line]
    assert " key=admin " in scrape
    assert "reason=\"none of this server's DeepSeek accounts" in unavailable
    assert re.search(r"account=acct-[0-9a-f]{4} ", unavailable), unavailable  # the account that failed


def test_json_format_parses_line_by_line_with_the_same_fields(
    tmp_path: Path, upstream: BackgroundServer
) -> None:
    output = run_serve(tmp_path, upstream, "--log-format", "json")
    entries: list[dict[str, Any]] = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert any("Uvicorn running on" in entry["message"] for entry in entries)  # uvicorn's lines too
    chats = sorted(
        (entry for entry in entries if entry.get("route") == "/v1/chat/completions"),
        key=lambda entry: STATUSES.index(entry["status"]),
    )
    assert [entry["status"] for entry in chats] == [200, 200, 404, 401, 503]
    ok = chats[0]
    assert ok["logger"] == "deepseek_free_api.access" and ok["level"] == "info"
    assert ok["dialect"] == "openai" and ok["model"] == "deepseek-v4-flash-nothinking"
    assert re.fullmatch(r"key-[0-9a-f]{8}", ok["key"]) and ok["account"].startswith("acct-")
    assert isinstance(ok["ttft_ms"], float) and ok["total_ms"] >= ok["ttft_ms"] > 0
    assert "error" not in ok
    assert chats[2]["error"] == "model_not_found" and "gpt-nope" in chats[2]["reason"]
    assert chats[4]["level"] == "warning" and chats[4]["error"] == "no_usable_account"
