"""A generation is noted on its lease before DeepSeek can receive it.

Noted while the request went out, a process killed between DeepSeek receiving the request and the
store receiving the note left a generation running that the next holder of the account knew
nothing of: it asked for a second generation on the account (a one-generation violation seen with
two servers on Redis, one of them SIGKILLed mid-stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from deepseek_free_api.chat.generation import Generation
from deepseek_free_api.errors import CapacityError
from deepseek_free_api.upstream.client import Identity

IDENTITY = Identity(token="tok", device_id="dev")


class SlowNotes:
    """A store whose note takes a while to land (a remote Redis, a busy SQLite file)."""

    def __init__(self, log: list[str], *, delay_s: float = 0.05, lost: bool = False) -> None:
        self.log = log
        self.delay_s = delay_s
        self.lost = lost

    async def generating(self, session_id: str, message_id: int | None) -> None:
        await asyncio.sleep(self.delay_s)
        if self.lost:
            raise CapacityError("this server lost its lease")
        self.log.append(f"noted {session_id} {message_id}")


class Stream:
    """An upstream stream that records when DeepSeek would receive it."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.opened = False
        self.refused = False

    async def open(self) -> None:
        self.log.append("sent")
        self.opened = True

    async def aclose(self) -> None:
        self.log.append("closed")

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        return
        yield b""


class Client:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def stop_stream(self, identity: Identity, session_id: str, message_id: int) -> None:
        self.log.append(f"stop {message_id}")


@pytest.mark.parametrize("announced", [True, False])
def test_the_note_lands_before_the_request_is_sent(announced: bool) -> None:
    async def main() -> list[str]:
        log: list[str] = []
        generation = Generation(Client(log), IDENTITY, "s1", SlowNotes(log))  # type: ignore[arg-type]
        async with generation:
            if announced:
                generation.announce(2)
            await generation.request(Stream(log), 2)  # type: ignore[arg-type]
            generation.ended()
        return log

    log = asyncio.run(main())
    assert log.index("noted s1 2") < log.index("sent"), log


def test_a_lost_lease_fails_the_request_before_anything_is_sent() -> None:
    async def main() -> list[str]:
        log: list[str] = []
        generation = Generation(Client(log), IDENTITY, "s1", SlowNotes(log, lost=True))  # type: ignore[arg-type]
        with pytest.raises(CapacityError):
            async with generation:
                generation.announce(2)
                await generation.request(Stream(log), 2)  # type: ignore[arg-type]
        return log

    log = asyncio.run(main())
    assert "sent" not in log and not any(line.startswith("stop") for line in log), log
    assert log == ["closed"]  # the stream it owned is closed all the same


@pytest.mark.parametrize("waited", [True, False])
def test_an_announced_generation_never_requested_leaves_no_task_behind(waited: bool) -> None:
    async def main() -> tuple[list[str], Any]:
        log: list[str] = []
        generation = Generation(Client(log), IDENTITY, "s1", SlowNotes(log))  # type: ignore[arg-type]
        with pytest.raises(RuntimeError):
            async with generation:
                generation.announce(2)
                if waited:
                    await asyncio.sleep(0.01)  # waiting for the PoW answer: the note set out
                raise RuntimeError("the PoW answer failed")
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return log, pending

    log, pending = asyncio.run(main())
    # A note on its way lands; one that never set out is not made for a request never sent.
    assert pending == [] and log == (["noted s1 2"] if waited else [])


class TimedNotes(SlowNotes):
    async def generating(self, session_id: str, message_id: int | None) -> None:
        self.log.append("note set out")
        await super().generating(session_id, message_id)


def test_the_note_travels_while_the_turn_waits_for_its_proof_of_work() -> None:
    async def main() -> list[str]:
        log: list[str] = []
        generation = Generation(Client(log), IDENTITY, "s1", TimedNotes(log))  # type: ignore[arg-type]
        async with generation:
            generation.announce(2)
            await asyncio.sleep(0.05)  # the PoW answer
            log.append("pow answered")
            await generation.request(Stream(log), 2)  # type: ignore[arg-type]
            generation.ended()
        return log

    log = asyncio.run(main())
    assert log[:2] == ["note set out", "pow answered"], log
    assert log.index("noted s1 2") < log.index("sent"), log


class InstantNotes:
    """A store that answers without waiting (SQLite on the event loop, memory)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def generating(self, session_id: str, message_id: int | None) -> None:
        self.log.append(f"noted {session_id} {message_id}")


def test_a_note_the_store_answers_at_once_costs_no_task() -> None:
    async def main() -> tuple[list[str], int]:
        log: list[str] = []
        tasks = 0
        loop = asyncio.get_running_loop()

        def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            nonlocal tasks
            tasks += 1
            return asyncio.Task(coro, loop=loop, **kwargs)

        loop.set_task_factory(counting)
        generation = Generation(Client(log), IDENTITY, "s1", InstantNotes(log))  # type: ignore[arg-type]
        async with generation:
            generation.announce(2)
            await generation.request(Stream(log), 2)  # type: ignore[arg-type]
            generation.ended()
        return log, tasks

    log, tasks = asyncio.run(main())
    assert log == ["noted s1 2", "sent", "closed"] and tasks == 0
