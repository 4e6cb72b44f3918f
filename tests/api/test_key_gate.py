"""A key's place and its usage are given back whatever ends the request, within a bound.

The request's end runs inside the turn's cancel scope (``api/edge.py``): a client that leaves or a
request timeout cancels it. Its place under ``--concurrency`` and its usage are still written, and a
store that hangs holds the end of the request for ``RECORD_TIMEOUT_S`` at the most.
"""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from deepseek_free_api.api import limits
from deepseek_free_api.api.limits import KeyGate
from deepseek_free_api.chat.events import ChatEvent
from deepseek_free_api.chat.failover import Caller
from deepseek_free_api.chat.models import parse_model
from deepseek_free_api.chat.principal import Principal
from deepseek_free_api.chat.request import ChatMessage, ChatRequest
from deepseek_free_api.chat.turn import EventSink
from deepseek_free_api.stores import StoreOptions
from deepseek_free_api.stores.memory import MemoryRates, MemoryUsage
from deepseek_free_api.stores.protocols import KeyLimits

REQUEST = ChatRequest(model=parse_model("deepseek-chat"), messages=(ChatMessage(role="user", text="hi"),))
CALLER = Caller(Principal.service_key("sk-test", name="team", limits=KeyLimits(concurrency=1)))


class SlowUsage(MemoryUsage):
    """A usage store whose writes take ``delay_s`` (a remote Redis, a busy SQLite file)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(StoreOptions())
        self.delay_s = delay_s

    async def record(self, principal: str, account_id: str, **counts: int) -> None:
        await asyncio.sleep(self.delay_s)
        await super().record(principal, account_id, **counts)


class Sink:
    async def emit(self, events: list[ChatEvent]) -> None:
        pass

    def leased(self) -> None:
        pass


async def stream_forever(sink: EventSink) -> None:
    await asyncio.Event().wait()  # an answer still streaming when the client leaves


async def leave(gate: KeyGate) -> float:
    """Run a guarded request in its own cancel scope (as edge.py does) and cancel it while it
    streams; how long it took to return."""
    scope = anyio.CancelScope()

    async def request() -> None:
        with scope:
            await gate.guard(CALLER, REQUEST, "deepseek-chat", stream_forever)(Sink())

    task = asyncio.create_task(request())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    scope.cancel()  # the client leaves; the scope stays cancelled while the end is recorded
    await task
    assert scope.cancelled_caught
    return time.monotonic() - started


def test_a_client_leaving_still_frees_the_keys_place_and_counts_the_request() -> None:
    async def main() -> None:
        rates, usage = MemoryRates(), SlowUsage(delay_s=0.3)
        gate = KeyGate(rates, usage, request_timeout_s=60)
        await leave(gate)
        assert (await usage.totals("team")).requests == 1  # the write was not cut short
        assert await rates.enter("team", 1, "next", 60)  # the place is free for the next request

    asyncio.run(main())


def test_a_hanging_usage_store_holds_the_end_of_a_request_within_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "RECORD_TIMEOUT_S", 0.3)

    async def main() -> None:
        rates, usage = MemoryRates(), SlowUsage(delay_s=60)
        gate = KeyGate(rates, usage, request_timeout_s=60)
        took = await leave(gate)
        assert took < 5  # 0.3 s, with room for a loaded machine; not the store's 60 s
        assert (await usage.totals("team")).requests == 0  # given up, as the bound says
        assert await rates.enter("team", 1, "next", 60)  # the place was given back before that

    asyncio.run(main())
