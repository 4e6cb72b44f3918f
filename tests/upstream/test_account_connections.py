"""The client's calls for one account never share a connection with another account's, or with
calls made for no account: each account has its own connection pool (``upstream.transfer``)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import fields

import httpx

from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.wire import Identity


def test_accounts_and_account_less_calls_use_their_own_connections() -> None:
    accounts = [{"id": "alpha", "token": "tok-alpha"}, {"id": "beta", "token": "tok-beta"}]
    config = SimulatorConfig.from_dict({"difficulty": 2000, "accounts": accounts})
    persona = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
    alpha = Identity(token="tok-alpha", device_id="device-alpha")
    beta = Identity(token="tok-beta", device_id="device-beta")
    with BackgroundServer(create_simulator(config)) as sim:

        async def calls() -> None:
            client = DeepSeekClient(sim.url, persona)
            try:
                # In turn, so that an idle connection of one is there for the next to take.
                for identity in (alpha, beta, None, alpha, None, beta, alpha, beta):
                    if identity is None:
                        answer = await client.raw("GET", "/users/current", None)
                        assert answer.status == 200
                    else:
                        await client.current_user(identity)
                await asyncio.gather(*(client.current_user(i) for i in (alpha, beta, alpha, beta)))
            finally:
                await client.aclose()

        asyncio.run(calls())
        log = httpx.get(sim.url + "/_sim/requests", params={"path": "/users/current"}).json()["requests"]
    callers: dict[object, set[str]] = defaultdict(set)
    for entry in log:
        callers[entry["client_port"]].add(entry["account"] or "no account")
    assert set().union(*callers.values()) == {"alpha", "beta", "no account"}, callers
    assert all(len(who) == 1 for who in callers.values()), dict(callers)
