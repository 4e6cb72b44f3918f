"""The 2026 signals, scriptable per account and per client (PROTOCOL.md §2.7)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest

from deepseek_free_api.simulator.config import ModelConfig

from .client import WEB_HEADERS, Sim, parse_sse

LOGIN = {"email": "demo@example.com", "password": "demo-password-1", "device_id": "dev-1", "os": "web"}
Custom = Callable[..., AbstractContextManager[httpx.Client]]


def test_a_mute_inside_a_200_stream_carries_mute_until_or_not(sim: Sim, client: httpx.Client) -> None:
    client.post("/_sim/accounts/demo-1", json={"mute_seconds": 900, "mute_signal": "stream"})
    response = sim.complete(sim.session(), "hi")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    [event] = parse_sse(response.text)
    assert event.json()["code"] == 50006 and event.json()["data"]["mute_until"] > time.time() + 800
    client.post("/_sim/accounts/demo-1", json={"mute_signal": "stream_bare"})
    [bare] = parse_sse(sim.complete(sim.session(), "hi").text)
    assert bare.json() == {"code": 50006, "msg": "MUTED", "data": None}
    # users/current still says until when
    chat = sim.get("users/current").json()["data"]["biz_data"]["chat"]
    assert chat["is_muted"] == 1 and chat["mute_until"] > time.time() + 800


def test_a_ban_told_as_40012_on_every_call_in_the_stream_or_at_login(client: httpx.Client) -> None:
    client.post("/_sim/accounts/demo-1", json={"banned": True, "ban_signal": "code"})
    assert Sim(client, "demo-token-1").get("users/current").json()["code"] == 40012
    client.post("/_sim/accounts/demo-2", json={"banned": True, "ban_signal": "stream"})
    sim = Sim(client, "demo-token-2")
    [event] = parse_sse(sim.complete(sim.session(), "hi").text)
    assert event.json() == {"code": 40012, "msg": "USER_IS_BANNED", "data": None}
    client.post("/_sim/accounts/demo-mail", json={"banned": True, "ban_signal": "code"})
    data = client.post("/api/v0/users/login", json=LOGIN, headers=WEB_HEADERS).json()["data"]
    assert (data["biz_code"], data["biz_msg"]) == (10, "USER_IS_BANNED")


def test_a_disabled_account_answers_90008(client: httpx.Client) -> None:
    client.post("/_sim/accounts/demo-3", json={"disabled": True})
    data = Sim(client, "demo-token-3").post("chat_session/create", {}).json()["data"]
    assert (data["biz_code"], data["biz_msg"]) == (90008, "")


def test_an_account_is_throttled_after_n_completions_per_window(sim: Sim, client: httpx.Client) -> None:
    client.post(
        "/_sim/accounts/demo-1",
        json={"throttle_burst": 2, "throttle_window_seconds": 60, "throttle_signal": "hint"},
    )
    session = sim.session()
    assert "Echo" in sim.complete(session, "one").text
    assert "Echo" in sim.complete(sim.session(), "two").text
    [hint] = parse_sse(sim.complete(sim.session(), "three").text)
    assert hint.name == "hint"
    assert hint.json()["finish_reason"] == "rate_limit_reached"
    assert hint.json()["content"] == "Messages too frequent. Try again later."
    other = Sim(client, "demo-token-2")  # the other accounts keep the global setting (no throttle)
    assert "Echo" in other.complete(other.session(), "four").text


def test_bad_signal_names_are_refused(client: httpx.Client) -> None:
    response = client.post("/_sim/accounts/demo-1", json={"mute_signal": "smoke"})
    assert response.status_code == 400 and "mute_signal" in response.text


def test_the_client_gate_answers_40005_and_40300(custom: Custom) -> None:
    with custom(min_client_version="3.0.0", required_headers=["x-hif-leim"]) as client:
        sim = Sim(client, "demo-token-1")
        assert sim.get("users/current").json() == {
            "code": 40300,
            "msg": "Missing Header",
            "data": {"biz_code": 0, "biz_msg": "", "biz_data": None},
        }
        answer = client.get("/api/v0/users/current", headers={**sim.h(), "x-hif-leim": "1"}).json()
        assert answer == {"code": 40005, "msg": "CLIENT_VERSION_TOO_LOW", "data": None}
        newer = {**sim.h(), "x-hif-leim": "1", "X-Client-Version": "3.1.0"}
        assert client.get("/api/v0/users/current", headers=newer).json()["code"] == 0


@pytest.mark.parametrize(("block", "check"), [("waf", 202), ("captcha", 11)])
def test_waf_and_captcha_blocks(client: httpx.Client, block: str, check: int) -> None:
    client.post("/_sim/accounts/demo-1", json={"edge_block": block})
    response = Sim(client, "demo-token-1").get("users/current")
    if block == "waf":
        assert response.status_code == check and response.headers["x-amzn-waf-action"] == "challenge"
    else:
        data = response.json()["data"]
        assert data["biz_code"] == check and data["biz_msg"] == "RISK_DEVICE_DETECTED"
        assert "captcha" in data["biz_data"]


def test_a_stream_in_an_unknown_format(sim: Sim, client: httpx.Client) -> None:
    client.post("/_sim/faults", json={"fault": "format_drift", "account": "demo-1"})
    events = parse_sse(sim.complete(sim.session(), "hi").text)
    assert [e.name for e in events] == ["chunk", "chunk", "chunk"]


def test_client_settings_say_which_mode_is_off(custom: Custom) -> None:
    models = (ModelConfig("default", True, 500), ModelConfig("expert", False, 163_840))
    with custom(models=models) as client:
        sim = Sim(client, "demo-token-1")
        data = sim.get("client/settings", scope="model").json()["data"]["biz_data"]
        configs = {c["model_type"]: c for c in data["settings"]["model_configs"]["value"]}
        assert configs["expert"]["enabled"] is False and configs["default"]["input_character_limit"] == 500
        refused = sim.complete(sim.session(), "hi", model_type="expert").json()["data"]
        assert refused["biz_msg"] == "INVALID_MODEL_TYPE"
