"""The register of answers whose bytes are in and whose first token is not out (upstream.first_tokens).

Work that is ready to run is counted, never a wait on DeepSeek: a stream counts from the bytes that
come until its reader has taken them all and waits again, its first token is out, or it closes.
Whatever path forgets to say so, an entry holds nothing back for longer than ``STALE_S``.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator
from deepseek_free_api.upstream import first_tokens
from deepseek_free_api.upstream.client import COMPLETION_PATH, CompletionParams, DeepSeekClient, Identity
from deepseek_free_api.upstream.first_tokens import FirstTokenWork, first_token_work
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.pow import PowChallenge, encode_header, solve
from deepseek_free_api.upstream.stream import UpstreamStream

ALPHA = Identity(token="tok-alpha", device_id="device-alpha")
LONG = {"pattern": "^long", "answer": "{echo} " + "word " * 200, "pacing": {"chunks_per_second": 200}}


def test_busy_from_ready_until_done_and_a_waiter_goes_then() -> None:
    async def main() -> None:
        work = FirstTokenWork()
        one, two = object(), object()
        assert not work.busy
        await asyncio.wait_for(work.wait(5), 1)  # nothing ready: no wait at all
        work.ready(one)
        work.ready(two)
        work.ready(one)  # once per stream
        assert work.busy
        waiter = asyncio.ensure_future(work.wait(5))
        await asyncio.sleep(0.01)
        work.done(one)
        await asyncio.sleep(0.01)
        assert not waiter.done()  # two is still ready
        work.done(two)
        work.done(two)  # said twice: harmless
        await asyncio.wait_for(waiter, 1)
        assert not work.busy

    asyncio.run(main())


def test_a_waiter_goes_after_its_limit_and_a_cancelled_one_is_forgotten() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        work = FirstTokenWork()
        work.ready(object())  # never done
        began = loop.time()
        await asyncio.wait_for(work.wait(0.05), 1)
        assert loop.time() - began >= 0.045
        cancelled = asyncio.ensure_future(work.wait(5))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert not work._waiters

    asyncio.run(main())


def test_an_entry_never_said_done_holds_nothing_back_after_stale_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(first_tokens, "STALE_S", 0.05)

    async def main() -> None:
        work = FirstTokenWork()
        work.ready(object())  # a stream whose reader never came
        assert work.busy
        waiter = asyncio.ensure_future(work.wait(5))
        await asyncio.sleep(0.08)
        assert not work.busy  # dropped when seen...
        await asyncio.wait_for(waiter, 1)  # ...and whoever waited goes

    asyncio.run(main())


def test_each_event_loop_has_its_own_register_which_goes_with_its_loop() -> None:
    async def main() -> FirstTokenWork:
        work = first_token_work()
        assert first_token_work() is work
        work.ready(object())
        return work

    first, second = asyncio.run(main()), asyncio.run(main())
    assert first is not second
    gc.collect()
    left = list(first_tokens._REGISTERS.values())
    assert all(work is not first and work is not second for work in left)  # gone with their loops


@pytest.fixture(scope="module")
def simulator() -> Iterator[BackgroundServer]:
    config = SimulatorConfig.from_dict(
        {"difficulty": 64, "accounts": [{"id": "alpha", "token": ALPHA.token}], "scripts": [LONG]}
    )
    with BackgroundServer(create_simulator(config)) as server:
        yield server


async def _opened(client: DeepSeekClient, prompt: str) -> UpstreamStream:
    session = await client.create_session(ALPHA)
    challenge = PowChallenge.from_json(await client.create_pow_challenge(ALPHA, COMPLETION_PATH))
    stream = client.completion(
        ALPHA, CompletionParams(session, prompt), encode_header(challenge, solve(challenge))
    )
    await stream.open()
    return stream


def test_a_real_stream_counts_until_its_first_token_is_out(simulator: BackgroundServer) -> None:
    async def main() -> None:
        client = DeepSeekClient(simulator.url, Persona.from_settings(PersonaSettings()))
        work = first_token_work()
        try:
            stream = await _opened(client, "long answer")
            try:
                assert work.busy  # its first bytes are in, not taken yet
                chunks = aiter(stream)
                await anext(chunks)
                assert work.busy  # taken, being made into a token: still first-token work
                stream.first_out()
                assert not work.busy
                async for _ in chunks:  # the rest of the answer: never counted again
                    assert not work.busy
            finally:
                await stream.aclose()
            assert not work.busy
        finally:
            await client.aclose()

    asyncio.run(main())


def test_a_stream_closed_or_read_without_a_first_token_holds_nothing(simulator: BackgroundServer) -> None:
    async def main() -> None:
        client = DeepSeekClient(simulator.url, Persona.from_settings(PersonaSettings()))
        work = first_token_work()
        try:
            closed = await _opened(client, "long closed unread")
            assert work.busy
            await closed.aclose()  # a client that left: the stream ends unread
            assert not work.busy
            read = await _opened(client, "long read whole")
            try:
                async for _ in read:  # read to its end, no first token ever said out
                    pass
            finally:
                await read.aclose()
            assert not work.busy
        finally:
            await client.aclose()

    asyncio.run(main())


def test_only_the_old_entries_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(first_tokens, "STALE_S", 0.05)

    async def main() -> None:
        work = FirstTokenWork()
        old, fresh = object(), object()
        work.ready(old)
        await asyncio.sleep(0.08)
        work.ready(fresh)
        assert work.busy  # the fresh one is still ready...
        assert list(work._ready) == [fresh]  # ...and the old one is gone, the only one looked at
        work.done(old)  # said late: harmless
        work.done(fresh)
        assert not work.busy

    asyncio.run(main())
