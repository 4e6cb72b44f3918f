"""Which account owns which DeepSeek chat session (for ``conversation_id`` continuation)."""

from __future__ import annotations

from collections import OrderedDict


class SessionDirectory:
    """A bounded in-memory map ``chat_session_id -> account id`` (least recently used dropped)."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity

    def remember(self, session_id: str, account_id: str) -> None:
        """Record that ``account_id`` owns ``session_id``."""
        self._owners[session_id] = account_id
        self._owners.move_to_end(session_id)
        while len(self._owners) > self._capacity:
            self._owners.popitem(last=False)

    def owner(self, session_id: str) -> str | None:
        """The owning account id, if known."""
        owner = self._owners.get(session_id)
        if owner is not None:
            self._owners.move_to_end(session_id)
        return owner

    def forget(self, session_id: str) -> None:
        """Drop a session (deleted or expired upstream)."""
        self._owners.pop(session_id, None)
