"""Refills wait while another turn still waits for its first token, and never longer than the cap."""

from __future__ import annotations

import asyncio

from deepseek_free_api.chat.refills import HeldRefills


def test_a_refill_waits_for_the_other_turns_first_tokens_then_starts_in_order() -> None:
    async def main() -> None:
        started: list[str] = []
        refills = HeldRefills(started.append, max_delay_s=10)
        for _ in range(3):  # three turns of a burst wait for their first token
            refills.expect()
        refills.arrived()  # the first one's token is out...
        refills.refill("a")  # ...and its account would be prepared now, ahead of the other two
        refills.arrived()
        refills.refill("b")
        refills.refill("a")  # asked twice while held: prepared once
        assert started == []
        refills.arrived()  # the last first token is out: the held refills start, in order
        assert started == ["a", "b"]
        refills.refill("c")  # nobody waits: at once
        assert started == ["a", "b", "c"]

    asyncio.run(main())


def test_a_refill_is_held_no_longer_than_the_cap() -> None:
    async def main() -> None:
        started: list[str] = []
        refills = HeldRefills(started.append, max_delay_s=0.05)
        refills.expect()  # a turn whose first token never comes (a slow model)
        refills.expect()
        refills.arrived()
        refills.refill("a")
        await asyncio.sleep(0.2)
        assert started == ["a"]
        refills.arrived()  # nothing held any more, nothing started twice
        assert started == ["a"]

    asyncio.run(main())
