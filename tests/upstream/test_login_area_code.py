"""A configured ``area_code`` reaches DeepSeek's ``users/login`` with the mobile number it belongs to."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from tests.api.conftest import API_KEY, simulator_config, start_stack

MOBILE = "13800138000"
PASSWORD = "pass-word-1234"
SIM_ACCOUNTS = [{"id": "mobile-user", "mobile": MOBILE, "password": PASSWORD}]


def logins(simulator_url: str) -> list[dict[str, Any]]:
    """The bodies of the ``users/login`` calls the simulator received."""
    entries = httpx.get(simulator_url + "/_sim/requests", params={"path": "/users/login"}).json()["requests"]
    return [entry["body"] for entry in entries]


@pytest.fixture(scope="module")
def simulator() -> Iterator[BackgroundServer]:
    config = SimulatorConfig.from_dict({"difficulty": 2000, "accounts": SIM_ACCOUNTS})
    with BackgroundServer(create_simulator(config)) as server:
        yield server


def test_the_client_sends_the_area_code_of_a_mobile_login(simulator: BackgroundServer) -> None:
    persona = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})

    async def log_in(*, mobile: str, area_code: str | None = None) -> str:
        client = DeepSeekClient(simulator.url, persona)
        try:
            return await client.login(
                password=PASSWORD, device_id="device-1", mobile=mobile, area_code=area_code
            )
        finally:
            await client.aclose()

    assert asyncio.run(log_in(mobile=MOBILE, area_code="+86"))
    assert asyncio.run(log_in(mobile=MOBILE))
    with_code, without = logins(simulator.url)[-2:]
    assert with_code["mobile"] == MOBILE and with_code["area_code"] == "+86"
    assert without["area_code"] is None  # nothing configured: null, as before


# The server passes the account's area_code to the client in app.py's login hook; until that line
# is in (the lead applies it with this branch, see the edge5 report) this fails, and says so.
def test_a_configured_area_code_reaches_users_login_through_the_server() -> None:
    account = {"mobile": MOBILE, "area_code": "+86", "password": PASSWORD}
    for stack in start_stack(
        simulator_config(accounts=SIM_ACCOUNTS), tokens=None, accounts=[account], min_interval_s=0.0
    ):
        response = stack.post_chat("hello", key=API_KEY)
        assert response.status_code == 200, response.text
        bodies = logins(stack.simulator.url)
        assert bodies and all(body["area_code"] == "+86" for body in bodies), bodies
