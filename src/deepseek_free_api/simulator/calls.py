"""How many ``/api/v0`` calls are in flight at once, and when each one ended.

A call is in flight from the moment the simulator receives it (before ``network_latency_ms``)
until the last byte of its answer is sent (for a completion: the end of its stream), as DeepSeek
would count the connections of one client. ``/_sim/state`` shows the count now and its peak,
overall and per path; each ``/_sim/requests`` entry gets ``ended`` (epoch seconds). Tests measure
pacing with these: how many calls a server starts at once, how long an account rests between two
generations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Where the gate leaves the call's log entry for the meter to stamp its end on.
ENTRY_KEY = "simulator.entry"
_API = "/api/v0/"


@dataclass
class CallCount:
    """Calls in flight now and the most seen at once, overall and per path."""

    now: int = 0
    peak: int = 0
    now_by_path: dict[str, int] = field(default_factory=dict)
    peak_by_path: dict[str, int] = field(default_factory=dict)

    def enter(self, path: str) -> None:
        """A call arrived."""
        self.now += 1
        self.peak = max(self.peak, self.now)
        count = self.now_by_path[path] = self.now_by_path.get(path, 0) + 1
        self.peak_by_path[path] = max(self.peak_by_path.get(path, 0), count)

    def leave(self, path: str) -> None:
        """A call's answer was sent (or its client went away)."""
        self.now -= 1
        self.now_by_path[path] -= 1

    def describe(self) -> dict[str, Any]:
        """JSON view for /_sim/state."""
        return {"in_flight": self.now, "peak": self.peak, "peak_by_path": dict(self.peak_by_path)}


class CallMeter:
    """ASGI middleware counting the simulator's ``/api/v0`` calls in ``counts()``."""

    def __init__(self, app: ASGIApp, counts: Callable[[], CallCount]) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(_API):
            await self.app(scope, receive, send)
            return
        counts = self.counts()  # this call's world, even if /_sim/reset replaces it meanwhile
        holder: dict[str, Any] = {}
        scope[ENTRY_KEY] = holder
        counts.enter(path)
        done = False

        async def sending(message: Message) -> None:
            nonlocal done
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done = True
                _end(counts, path, holder)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not done:
                _end(counts, path, holder)


def _end(counts: CallCount, path: str, holder: dict[str, Any]) -> None:
    counts.leave(path)
    entry = holder.get("entry")
    if isinstance(entry, dict):
        entry["ended"] = time.time()
