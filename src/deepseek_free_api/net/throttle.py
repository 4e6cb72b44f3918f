"""Log lines that cannot flood: one per kind of event per interval, with a count of the rest."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Kind:
    logged_at: float
    held: int = 0  # events since the last line


class LogThrottle:
    """Logs the first event of a kind at once, then at most one line per ``interval_s`` for it.

    Events held back are counted, and ``flush`` (called periodically) reports them, so a burst
    costs a few lines and no event goes unreported.
    """

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0) -> None:
        self._log = logger
        self.interval_s = interval_s
        self._kinds: dict[str, _Kind] = {}

    def event(self, kind: str, level: int, message: str, *args: object) -> None:
        """One event of ``kind``; ``message % args`` is logged unless one was logged lately."""
        now = time.monotonic()
        seen = self._kinds.get(kind)
        if seen is not None and now - seen.logged_at < self.interval_s:
            seen.held += 1
            return
        self._kinds[kind] = _Kind(logged_at=now)
        self._log.log(level, message, *args)

    def flush(self, level: int = logging.INFO, *, all_held: bool = False) -> None:
        """Report, per kind, the events held back for a whole interval (``all_held``: any)."""
        now = time.monotonic()
        for kind, seen in self._kinds.items():
            if seen.held and (all_held or now - seen.logged_at >= self.interval_s):
                self._log.log(level, "%s: %d more in the last %.0f s", kind, seen.held, now - seen.logged_at)
                seen.logged_at, seen.held = now, 0
