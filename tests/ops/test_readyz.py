"""``GET /readyz``: 200 while an account can serve; 503 with each account's reason once all are parked."""

from __future__ import annotations

from datetime import datetime

import httpx

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import load_settings
from tests.api.conftest import API_KEY, simulator_config, start_stack

ACCOUNTS = [
    {"id": "alpha", "token": "tok-alpha"},
    {"id": "beta", "token": "tok-beta"},
    {"id": "gamma", "token": "tok-gamma"},
]


def test_ready_until_every_account_is_parked_then_503_with_the_reasons() -> None:
    config = simulator_config(accounts=ACCOUNTS)
    tokens = [account["token"] for account in ACCOUNTS]
    for stack in start_stack(config, tokens=tokens, min_interval_s=0.0):
        ready = httpx.get(stack.server.url + "/readyz", timeout=10)
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "accounts": {"free": 3}}
        assert httpx.head(stack.server.url + "/readyz", timeout=10).status_code == 200

        stack.sim("POST", "/_sim/accounts/alpha", json={"revoked": True})
        stack.sim("POST", "/_sim/accounts/beta", json={"mute_seconds": 600})
        stack.sim("POST", "/_sim/accounts/gamma", json={"rate_limited": True})
        assert stack.post_chat("anyone there?").status_code >= 400  # each account failed in turn

        parked = httpx.get(stack.server.url + "/readyz", timeout=10)
        assert parked.status_code == 503
        assert httpx.head(stack.server.url + "/readyz", timeout=10).status_code == 503
        body = parked.json()
        assert body["ready"] is False
        assert body["accounts"] == {"invalid": 1, "muted": 1, "cooldown": 1}
        reasons = {reason["state"]: reason for reason in body["reasons"]}
        assert set(reasons) == {"invalid", "muted", "cooldown"}
        assert "token rejected by DeepSeek" in reasons["invalid"]["message"]
        assert reasons["muted"]["message"].startswith("muted by DeepSeek until ")
        assert "ThrottledError" in reasons["cooldown"]["message"]
        muted_until = datetime.fromisoformat(reasons["muted"]["until"]).timestamp()
        assert 500 < muted_until - datetime.now().timestamp() < 700
        assert all(reason["account"].startswith("acct-") for reason in body["reasons"])
        assert not any(token in parked.text for token in tokens)


def test_without_accounts_ready_only_when_callers_may_bring_their_own_tokens() -> None:
    with BackgroundServer(create_app(load_settings(overrides={"api_keys": [API_KEY]}, env={}))) as server:
        response = httpx.get(server.url + "/readyz", timeout=10)
        assert response.status_code == 503
        assert response.json()["reasons"][0]["reason"] == "no_accounts"
    with BackgroundServer(create_app(load_settings(overrides={}, env={}))) as server:
        response = httpx.get(server.url + "/readyz", timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["ready"] is True
