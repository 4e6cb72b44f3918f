"""``Flag`` behaves as the ``asyncio.Event`` it replaces, without the deque.

It stands in for asyncio's Event on every live stream (uvicorn's request and write-pause events,
an upstream transfer's end): a difference in behaviour would be a stream that hangs.
"""

from __future__ import annotations

import asyncio

from deepseek_free_api.flag import Flag


async def _flag_wakes_every_waiter_and_a_cancelled_one_leaves_others_waiting() -> None:
    flag = Flag()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    waiters[0].cancel()
    await asyncio.sleep(0)
    assert not any(task.done() for task in waiters[1:])
    flag.set()
    assert await asyncio.gather(*waiters[1:]) == [True, True]
    assert waiters[0].cancelled()
    assert await flag.wait() is True  # set: at once
    flag.clear()
    later = asyncio.create_task(flag.wait())
    await asyncio.sleep(0.01)
    assert not later.done()  # cleared: waits again
    flag.set()
    assert await later is True
    assert not hasattr(flag, "_waiters")  # asyncio.Event's deque was never made


async def _flag_made_set_does_not_wait() -> None:
    assert Flag(True).is_set()
    assert await asyncio.wait_for(Flag(True).wait(), 1) is True


def test_flag_wakes_every_waiter_and_a_cancelled_one_leaves_others_waiting() -> None:
    asyncio.run(asyncio.wait_for(_flag_wakes_every_waiter_and_a_cancelled_one_leaves_others_waiting(), 30))


def test_flag_made_set_does_not_wait() -> None:
    asyncio.run(asyncio.wait_for(_flag_made_set_does_not_wait(), 30))
