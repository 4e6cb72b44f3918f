"""The failover loop with the real pool: leases are never lost, whatever the caller does."""

from __future__ import annotations

import asyncio
from typing import Any, cast

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
