"""/_sim routes, configuration loading and the CLI entry."""

# ruff: noqa: E501 - long literal streams and one-line assertions read better unwrapped

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from deepseek_free_api.cli import build_parser
from deepseek_free_api.simulator import SimulatorConfig

from .client import Sim
from .conftest import running, test_config


def test_requests_log_what_upstream_received(sim: Sim, client: httpx.Client) -> None:
    sim.complete(sim.session(), "look at me")
    entries = client.get("/_sim/requests", params={"path": "/chat/completion"}).json()["requests"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["method"] == "POST" and entry["account"] == "demo-1" and entry["prompt"] == "look at me"
    assert entry["body"]["thinking_enabled"] is False and entry["status"] == 200
    assert entry["headers"]["authorization"] == "Bearer ***"  # tokens are never kept
    assert entry["headers"]["x-client-version"] == "2.5.0"


def test_state_shows_sessions_with_message_trees_and_reset_clears_them(
    sim: Sim, client: httpx.Client
) -> None:
    session = sim.session()
    sim.complete(session, "hi")
    state = client.get("/_sim/state").json()
    [view] = [s for s in state["sessions"] if s["id"] == session]
    assert view["account"] == "demo-1" and [m["role"] for m in view["messages"]] == ["USER", "ASSISTANT"]
    assert state["counters"]["generations"] == 1 and state["violations"] == []
    client.post("/_sim/reset")
    after = client.get("/_sim/state").json()
    assert after["sessions"] == [] and after["counters"] == {}


def test_account_controls_validate(client: httpx.Client) -> None:
    assert client.post("/_sim/accounts/nobody", json={"banned": True}).status_code == 404
    assert client.post("/_sim/faults", json={"fault": "no_such_fault"}).status_code == 400


def test_toml_config_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(
        "difficulty = 500\n[pacing]\nchunks_per_second = 5\n"
        '[[accounts]]\nid = "a"\ntoken = "t-a"\n'
        '[[scripts]]\npattern = "^x"\nanswer = "y"\n'
        '[[faults]]\nfault = "stall"\nseconds = 1\ntimes = 2\n'
    )
    config = SimulatorConfig.load(path)
    assert config.difficulty == 500 and config.pacing.chunks_per_second == 5
    assert config.accounts[0].token == "t-a" and config.scripts[0].answer == "y"
    assert config.faults[0].params == {"seconds": 1} and config.faults[0].times == 2
    with pytest.raises(ValueError):
        SimulatorConfig.from_dict({"no_such_key": 1})


def test_demo_config_has_token_and_password_accounts() -> None:
    demo = SimulatorConfig.demo()
    assert [a.token for a in demo.accounts if a.token][:1] == ["demo-token-1"]
    assert any(a.email and a.password for a in demo.accounts)


def test_cli_has_simulate() -> None:
    args = build_parser().parse_args(["simulate", "--port", "9999", "--config", "x.toml"])
    assert (args.command, args.port, args.config, args.host) == ("simulate", 9999, "x.toml", "127.0.0.1")


def test_calls_in_flight_and_when_each_ended_are_recorded() -> None:
    # Three calls at once, each held 300 ms on its way (network_latency_ms), then one more alone.
    config = test_config(network_latency_ms=300)
    with running(config) as client:
        headers = {"Authorization": "Bearer " + str(config.accounts[0].token)}

        async def together() -> None:
            async with httpx.AsyncClient(base_url=str(client.base_url), headers=headers) as async_client:
                calls = [async_client.get("/api/v0/users/current") for _ in range(3)]
                assert [r.status_code for r in await asyncio.gather(*calls)] == [200] * 3

        asyncio.run(together())
        assert client.post("/api/v0/chat_session/create", json={}, headers=headers).status_code == 200
        calls = client.get("/_sim/state").json()["calls"]
        entries = client.get("/_sim/requests").json()["requests"]
    assert calls == {
        "in_flight": 0,
        "peak": 3,
        "peak_by_path": {"/api/v0/users/current": 3, "/api/v0/chat_session/create": 1},
    }
    assert len(entries) == 4
    assert all(entry["ended"] >= entry["time"] for entry in entries)
