"""The failover loop with the real pool: leases are never lost, whatever the caller does."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import anyio
import pytest

from deepseek_free_api.accounts import Account, AccountPool
from deepseek_free_api.chat.conversations import ConversationBook
from deepseek_free_api.chat.events import ChatEvent
from deepseek_free_api.chat.failover import Caller, ChatRunner, FailoverPolicy
from deepseek_free_api.chat.models import parse_model
from deepseek_free_api.chat.principal import ANONYMOUS
from deepseek_free_api.chat.request import ChatMessage, ChatRequest
from deepseek_free_api.chat.turn import TurnRunner
from deepseek_free_api.stores import StoreOptions
from deepseek_free_api.stores.memory import MemoryConversations
from deepseek_free_api.upstream.first_tokens import first_token_work

REQUEST = ChatRequest(model=parse_model("deepseek-chat"), messages=(ChatMessage(role="user", text="hi"),))


class NoSink:
    async def emit(self, events: list[ChatEvent]) -> None:
        raise AssertionError("no event expected")

    def leased(self) -> None:
        pass


class Forever:
    def check(self, *args: Any, **kwargs: Any) -> None:
        pass  # nothing to refuse before the lease

    async def run(self, *args: Any) -> None:
        await asyncio.Event().wait()  # a turn that only ends when its caller leaves


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_a_waiter_cancelled_as_the_account_is_handed_to_it_does_not_lose_the_account(turns: int) -> None:
    # On the base code (chat/service.py wrapped acquire in a task) the account was lost for 0-2 turns.
    async def main() -> None:
        pool = AccountPool([Account.from_token("tok-a", name="a")], max_waiters=4, wait_timeout_s=5)
        runner = ChatRunner(
            pool,
            cast(TurnRunner, Forever()),
            ConversationBook(pool.devices, MemoryConversations(StoreOptions())),
            FailoverPolicy(),
        )
        holder = await pool.acquire(owner="holder")
        waiter = asyncio.create_task(runner.run(REQUEST, Caller(ANONYMOUS), NoSink()))
        for _ in range(5):
            await asyncio.sleep(0)  # the waiter is queued for the account
        assert pool.waiting == 1
        await pool.release(holder)  # hands the account to the waiter (no await inside)...
        for _ in range(turns):
            await asyncio.sleep(0)
        waiter.cancel()  # ...and the waiter's client leaves in the same loop turn, or just after
        with pytest.raises(asyncio.CancelledError):
            await waiter
        lease = await asyncio.wait_for(pool.acquire(owner="next"), 0.5)  # free again, at once
        assert lease.account.id == "a"

    asyncio.run(main())


class Answered:
    """A turn that has answered by the time it returns."""

    def check(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def run(self, *args: Any) -> None:
        pass


class SlowReports:
    """The pool, with a report that takes a while (a remote Redis, a busy SQLite file), or fails."""

    def __init__(self, pool: AccountPool, *, delay_s: float = 0.0, fail: str | None = None) -> None:
        self._pool = pool
        self.delay_s = delay_s
        self.fail = fail
        self.reported: list[str] = []
        self.releases = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    async def report(self, lease: Any, error: Any) -> None:
        await asyncio.sleep(self.delay_s)
        if self.fail == "report":
            raise RuntimeError("the store is down")
        await self._pool.report(lease, error)
        self.reported.append(lease.account.id)

    async def release(self, lease: Any) -> None:
        self.releases += 1
        if self.fail == "release":
            raise RuntimeError("the store is down")
        await self._pool.release(lease)


def answering_runner(delay_s: float = 0.0, fail: str | None = None) -> tuple[ChatRunner, SlowReports]:
    pool = AccountPool([Account.from_token("tok-a", name="a")], max_waiters=4, wait_timeout_s=5)
    leases = SlowReports(pool, delay_s=delay_s, fail=fail)
    runner = ChatRunner(
        cast(AccountPool, leases),
        cast(TurnRunner, Answered()),
        ConversationBook(pool.devices, MemoryConversations(StoreOptions())),
        FailoverPolicy(),
    )
    return runner, leases


def test_a_client_leaving_while_an_answered_turn_is_reported_still_gets_the_account_back() -> None:
    async def main() -> None:
        runner, leases = answering_runner(delay_s=0.2)
        scope = anyio.CancelScope()

        async def request() -> None:  # in its own cancel scope, as api/edge.py runs it
            with scope:
                await runner.run(REQUEST, Caller(ANONYMOUS), NoSink())

        task = asyncio.create_task(request())
        await asyncio.sleep(0.05)  # the turn has answered; its account is being reported
        scope.cancel()  # the client leaves
        await task
        assert leases.reported == ["a"]  # the report was not cut short...
        lease = await asyncio.wait_for(leases.acquire(owner="next"), 0.5)  # ...and the account is free
        assert lease.account.id == "a"
        assert leases.releases == 1

    asyncio.run(main())


@pytest.mark.parametrize("failing", ["report", "release"])
def test_a_failing_store_call_after_an_answer_releases_the_account_once(failing: str) -> None:
    async def main() -> None:
        runner, leases = answering_runner(fail=failing)
        with pytest.raises(RuntimeError, match="the store is down"):
            await runner.run(REQUEST, Caller(ANONYMOUS), NoSink())
        assert leases.releases == 1  # released in spite of a failed report; a failed release not retried

    asyncio.run(main())


class Recorded:
    """A turn that notes that it ran."""

    def __init__(self) -> None:
        self.ran = 0

    def check(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def run(self, *args: Any) -> None:
        self.ran += 1


def test_a_new_turn_makes_its_call_while_another_answers_first_token_waits() -> None:
    """A new turn's call starts the longest wait of all (DeepSeek's answer): it does not wait for
    other answers' first tokens (upstream.first_tokens; held back, the median at 50 concurrent was
    worse, BENCHMARKS.md session 11). Only the rest of answers already flowing waits for them."""

    async def main() -> None:
        pool = AccountPool([Account.from_token("tok-a", name="a")], max_waiters=4, wait_timeout_s=5)
        turns = Recorded()
        book = ConversationBook(pool.devices, MemoryConversations(StoreOptions()))
        runner = ChatRunner(pool, cast(TurnRunner, turns), book, FailoverPolicy())
        first_token_work().ready(object())  # another answer: bytes in, its first token not out
        started = asyncio.create_task(runner.run(REQUEST, Caller(ANONYMOUS), NoSink()))
        for _ in range(10):
            await asyncio.sleep(0)
        # On aff8a75 the turn waited (up to 20 ms) before it took an account.
        assert turns.ran == 1 and started.done()

    asyncio.run(main())
