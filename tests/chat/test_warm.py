"""Warm accounts: against the simulator over a socket, and with a fake client for the edge cases."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import fields
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.chat.warm import WarmAccounts
from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.errors import UpstreamServerError
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator
from deepseek_free_api.upstream.client import COMPLETION_PATH, CompletionParams, DeepSeekClient, Identity
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.pow.reference import deepseek_hash_v1

ALPHA = Identity(token="tok-alpha", device_id="device-alpha")


async def eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(2000):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


# -- against the simulator ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator() -> Iterator[BackgroundServer]:
    config = SimulatorConfig.from_dict(
        {"difficulty": 2000, "accounts": [{"id": "alpha", "token": ALPHA.token}]}
    )
    with BackgroundServer(create_simulator(config)) as server:
        yield server


def test_a_warm_turn_makes_one_upstream_call_before_its_first_token(simulator: BackgroundServer) -> None:
    persona = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})

    async def main() -> None:
        client = DeepSeekClient(simulator.url, persona)
        warm = WarmAccounts(client, {"alpha": ALPHA}.get)
        async with httpx.AsyncClient(base_url=simulator.url, timeout=10) as sim:

            async def upstream_paths() -> list[str]:
                requests = (await sim.get("/_sim/requests")).json()["requests"]
                return [entry["path"] for entry in requests]

            try:
                warm.warm("alpha")
                sessions = []
                for _ in range(2):
                    await eventually(lambda: warm.ready("alpha"), "alpha warm")
                    before = len(await upstream_paths())
                    session_id = await warm.session("alpha", ALPHA)
                    header = await warm.pow_header("alpha", ALPHA, COMPLETION_PATH)
                    stream = await client.open_completion(
                        ALPHA, CompletionParams(session_id=session_id, prompt="hello"), header
                    )
                    try:
                        body = b"".join([chunk async for chunk in stream])
                    finally:
                        await stream.aclose()
                    assert b"FINISHED" in body
                    assert (await upstream_paths())[before:] == [COMPLETION_PATH]
                    sessions.append(session_id)
                    warm.refill("alpha")  # the completion is on the wire: prepare the next turn
                assert sessions[0] != sessions[1]
                await eventually(lambda: warm.ready("alpha"), "alpha warm for a third turn")
            finally:
                await warm.aclose()
                await client.aclose()
            # The session prepared for a third turn was not used: closing deleted it upstream.
            paths = await upstream_paths()
            assert paths.count("/api/v0/chat_session/create") == 3
            assert paths[-1] == "/api/v0/chat_session/delete"

    asyncio.run(main())


# -- with a fake client -------------------------------------------------------------------------


class FakeClient:
    """Records calls; sessions are numbered; challenges are tiny and real."""

    def __init__(self) -> None:
        self.created: list[tuple[str, str]] = []  # (token, session id)
        self.deleted: list[tuple[str, str]] = []
        self.challenges: list[str] = []  # tokens a challenge was asked with
        self.serial = itertools.count(1)
        self.rng = random.Random(3)
        self.session_failures = 0
        self.gate: asyncio.Event | None = None  # when set, creates and fetches wait for it
        self.delete_gate: asyncio.Event | None = None
        self.in_flight = 0
        self.most_in_flight = 0

    async def _enter(self) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.in_flight -= 1

    async def create_session(self, identity: Identity) -> str:
        await self._enter()
        if self.session_failures:
            self.session_failures -= 1
            raise UpstreamServerError("chat_session/create failed")
        session_id = f"session-{next(self.serial)}"
        self.created.append((identity.token, session_id))
        return session_id

    async def delete_session(self, identity: Identity, session_id: str) -> None:
        if self.delete_gate is not None:
            await self.delete_gate.wait()
        self.deleted.append((identity.token, session_id))

    async def create_pow_challenge(self, identity: Identity, target_path: str) -> Mapping[str, Any]:
        await self._enter()
        self.challenges.append(identity.token)
        expire_at = int(time.time() * 1000) + 300_000
        salt = f"{self.rng.getrandbits(80):020x}"
        digest = deepseek_hash_v1(f"{salt}_{expire_at}_{self.rng.randrange(500)}".encode())
        return {
            "algorithm": "DeepSeekHashV1",
            "challenge": digest.hex(),
            "salt": salt,
            "signature": "ab" * 32,
            "difficulty": 500,
            "expire_at": expire_at,
            "expire_after": 300_000,
            "target_path": target_path,
        }


def identities(n: int) -> dict[str, Identity]:
    return {f"a{i}": Identity(token=f"tok-{i}", device_id=f"dev-{i}") for i in range(1, n + 1)}


def run(
    scenario: Callable[[WarmAccounts, FakeClient, dict[str, Identity]], Awaitable[None]],
    accounts: int = 2,
    **options: Any,
) -> None:
    async def main() -> None:
        client = FakeClient()
        known = identities(accounts)
        warm = WarmAccounts(client, known.get, **options)
        try:
            await scenario(warm, client, known)
        finally:
            await asyncio.wait_for(warm.aclose(), 30)

    asyncio.run(main())


def test_a_reserved_session_is_used_once() -> None:
    async def scenario(warm: WarmAccounts, client: FakeClient, known: dict[str, Identity]) -> None:
        warm.warm("a1")
        await eventually(lambda: warm.ready("a1"), "a1 warm")
        first = await warm.session("a1", known["a1"])
        second = await warm.session("a1", known["a1"])  # nothing reserved any more: created now
        assert first != second
        assert client.created == [("tok-1", first), ("tok-1", second)]

    run(scenario)


def test_forget_drops_the_reserved_session_and_pow_of_that_account() -> None:
    async def scenario(warm: WarmAccounts, client: FakeClient, known: dict[str, Identity]) -> None:
        for account in known:
            warm.warm(account)
        await eventually(lambda: warm.ready("a1") and warm.ready("a2"), "both warm")
        (_, reserved), (_, other) = sorted(client.created)
        warm.forget("a1")
        assert not warm.ready("a1") and warm.ready("a2")
        fetches = len(client.challenges)
        session_id = await warm.session("a1", known["a1"])
        await warm.pow_header("a1", known["a1"], COMPLETION_PATH)
        assert session_id not in (reserved, other)  # the dropped session is never handed out
        assert len(client.challenges) == fetches + 1  # nor the dropped PoW
        await eventually(lambda: ("tok-1", reserved) in client.deleted, "the dropped session deleted")
        assert await warm.session("a2", known["a2"]) == other

    run(scenario)


def test_forget_cancels_creations_still_queued() -> None:
    async def scenario(warm: WarmAccounts, client: FakeClient, known: dict[str, Identity]) -> None:
        client.gate = asyncio.Event()
        for account in known:
            warm.warm(account)
        await asyncio.sleep(0.01)
        warm.forget("a3")  # in line behind a1 and a2
        client.gate.set()
        await eventually(lambda: warm.ready("a1") and warm.ready("a2"), "a1 and a2 warm")
        await asyncio.sleep(0.01)
        assert "tok-3" not in {token for token, _ in client.created}
        assert "tok-3" not in client.challenges

    run(scenario, accounts=3, concurrency=2)


def test_a_session_reserved_under_an_old_token_is_not_used_with_a_new_one() -> None:
    async def scenario(warm: WarmAccounts, client: FakeClient, known: dict[str, Identity]) -> None:
        warm.warm("a1")
        await eventually(lambda: warm.ready("a1"), "a1 warm")
        renewed = Identity(token="tok-1-renewed", device_id=known["a1"].device_id)
        session_id = await warm.session("a1", renewed)
        assert client.created[-1] == ("tok-1-renewed", session_id)
        await warm.pow_header("a1", renewed, COMPLETION_PATH)  # nor the old token's PoW
        assert client.challenges == ["tok-1", "tok-1-renewed"]
        await eventually(lambda: len(client.deleted) == 1, "the old session deleted")
        assert client.deleted[0][0] == "tok-1"

    run(scenario)


def test_background_errors_wait_for_a_request_that_needs_a_session() -> None:
    async def scenario(warm: WarmAccounts, client: FakeClient, known: dict[str, Identity]) -> None:
        client.session_failures = 1
        warm.warm("a1")
        await eventually(lambda: bool(client.challenges), "a1 warming")
        await asyncio.sleep(0.01)
        assert not warm.ready("a1")
        # The background failure is not raised; the request creates its session itself.
        assert await warm.session("a1", known["a1"]) == "session-1"
        # When that fails too, the request sees the error.
        client.session_failures = 2
        warm.warm("a1")
        await asyncio.sleep(0.01)
        with pytest.raises(UpstreamServerError):
            await warm.session("a1", known["a1"])

    run(scenario)


def test_warming_many_accounts_is_bounded() -> None:
    async def scenario(warm: WarmAccounts, client: FakeClient, known: dict[str, Identity]) -> None:
        client.gate = asyncio.Event()
        for account in known:
            warm.warm(account)
        for _ in range(20):
            await asyncio.sleep(0)
        # Session creations and PoW fetches run at most 4 at a time in all (100 accounts queued):
        # DeepSeek sees no burst of calls at start-up.
        assert client.in_flight == 4
        client.gate.set()
        await eventually(lambda: all(warm.ready(account) for account in known), "all warm")
        assert client.most_in_flight == 4
        assert len(client.created) == len(client.challenges) == 100

    run(scenario, accounts=100, concurrency=4)


def test_aclose_deletes_reserved_sessions_nobody_used() -> None:
    async def scenario(warm: WarmAccounts, client: FakeClient, known: dict[str, Identity]) -> None:
        for account in known:
            warm.warm(account)
        await eventually(lambda: all(warm.ready(account) for account in known), "all warm")
        used = await warm.session("a1", known["a1"])
        await warm.aclose()
        assert sorted(client.deleted) == sorted(entry for entry in client.created if entry[1] != used)
        warm.warm("a1")  # closed: no more background work
        assert not warm.ready("a1") and len(client.created) == 3

    run(scenario, accounts=3)


def test_aclose_does_not_wait_for_deletes_beyond_its_budget() -> None:
    async def scenario(warm: WarmAccounts, client: FakeClient, known: dict[str, Identity]) -> None:
        warm.warm("a1")
        await eventually(lambda: warm.ready("a1"), "a1 warm")
        client.delete_gate = asyncio.Event()  # DeepSeek never answers the delete
        await asyncio.wait_for(warm.aclose(), 30)
        assert client.deleted == []

    run(scenario, close_timeout_s=0.05)


def test_prepared_sessions_and_pow_shrink_with_the_pool() -> None:
    # The pool tells WarmAccounts when a caller-token account is evicted (as app.py wires it):
    # nothing is kept, or refilled upstream, for tokens the pool no longer has.
    from deepseek_free_api.accounts import AccountPool

    async def main() -> None:
        client = FakeClient()
        pool = AccountPool(max_waiters=4, wait_timeout_s=5, max_caller_accounts=2)

        def identity_of(account_id: str) -> Identity | None:
            account = pool.get(account_id)
            return (
                None if account is None or not account.token else Identity(account.token, account.device_id)
            )

        warm = WarmAccounts(client, identity_of)
        pool.subscribe(warm.forget)
        try:
            [first] = pool.register_caller_tokens(["tok-1"])
            warm.warm(first)
            await eventually(lambda: warm.ready(first), "first caller account warm")
            pool.register_caller_tokens(["tok-2"])
            pool.register_caller_tokens(["tok-3"])  # over the cap of 2: tok-1 is evicted
            assert first not in pool and not warm.ready(first)
            reserved = [session for token, session in client.created if token == "tok-1"]
            await eventually(lambda: ("tok-1", reserved[0]) in client.deleted, "its session deleted")
        finally:
            await asyncio.wait_for(warm.aclose(), 30)

    asyncio.run(main())
