"""Refills of warm accounts, held back while another turn still waits for its first token.

Once a turn's first token is out, its account's next session and proof of work are prepared
(``Warmth.refill``): two upstream calls and a solve, about a millisecond of the event loop. In a
burst, other turns are at that moment still waiting for their own first token, and that
millisecond would queue in front of them (at 10 concurrent requests, ten of them). So a refill
asked while any turn waits is held until none does, or for ``max_delay_s`` at the most (under a
steady stream of new turns there may never be a moment without one), then all held ones start
in the order they were asked. A held refill is only later, never lost or doubled: the account's
next turn creates what is missing itself, as it would after any failed background preparation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

DEFAULT_MAX_DELAY_S = 0.5


class HeldRefills:
    """``refill(account)`` now, or once no turn waits for its first token (``expect``/``arrived``)."""

    def __init__(self, refill: Callable[[str], None], *, max_delay_s: float = DEFAULT_MAX_DELAY_S) -> None:
        self._refill = refill
        self._max_delay_s = max_delay_s
        self._waiting = 0
        self._held: dict[str, None] = {}  # account ids in the order asked, each once
        self._timer: asyncio.TimerHandle | None = None

    @property
    def waiting(self) -> int:
        """Turns that have not had their first token out yet."""
        return self._waiting

    def expect(self) -> None:
        """A turn starts waiting for its first token; call ``arrived`` exactly once after."""
        self._waiting += 1

    def arrived(self) -> None:
        """That turn's first token is out, or it ended without one; the last one releases the held."""
        self._waiting -= 1
        if self._waiting <= 0:
            self._waiting = 0
            self._release()

    def refill(self, account_id: str) -> None:
        """Prepare this account's next turn: now if no turn waits, else when none does (bounded)."""
        if self._waiting == 0:
            self._refill(account_id)
            return
        self._held[account_id] = None
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._max_delay_s, self._release)

    def _release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self._held = self._held, {}
        for account_id in held:
            self._refill(account_id)
