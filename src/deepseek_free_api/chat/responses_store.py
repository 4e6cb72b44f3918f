"""Stored OpenAI Responses: what ``previous_response_id`` continues and ``GET /v1/responses/{id}`` shows.

A stored response keeps the conversation up to and including its own answer (reasoning left
out, as in every prompt), so a follow-up prepends it and folds the whole thing again, on any
account. ``ResponseStore`` is the interface; ``MemoryResponseStore`` keeps a bounded number of
responses in this process, oldest evicted first. Its documented fallback: after a restart, or
once evicted, an id is unknown and the caller gets a 404 saying so, never an answer without
its context. SQLite or Redis stores implement the same two methods.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from deepseek_free_api.chat.request import ChatMessage

DEFAULT_MAX_RESPONSES = 1024
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One stored response: its id, who may read it, the conversation so far, its JSON body."""

    id: str
    # The id of the Principal that created it: another caller's response is "not found".
    owner: str
    conversation: tuple[ChatMessage, ...]
    body: bytes
    # The request's input items as JSON, for GET /v1/responses/{id}/input_items (api/responses_items).
    input_items: bytes = b"[]"

    @property
    def size(self) -> int:
        """Roughly the bytes it holds (what the memory bound counts)."""
        texts = sum(len(m.text) + len(m.reasoning or "") for m in self.conversation)
        calls = sum(len(c.arguments) + len(c.name) for m in self.conversation for c in m.tool_calls)
        return len(self.body) + len(self.input_items) + texts + calls


class ResponseStore(Protocol):
    """Where stored responses live."""

    async def put(self, response: StoredResponse) -> None:
        """Keep ``response`` (replacing one with the same id)."""
        ...

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        """The response with this id if it exists and belongs to ``owner``, else None."""
        ...

    async def delete(self, response_id: str, owner: str) -> bool:
        """Forget the response if it exists and belongs to ``owner``; whether it did."""
        ...


class MemoryResponseStore:
    """Responses in this process, at most ``max_responses`` and about ``max_bytes``; oldest go first."""

    def __init__(
        self, max_responses: int = DEFAULT_MAX_RESPONSES, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if max_responses < 1 or max_bytes < 1:
            raise ValueError("a response store must hold at least one response")
        self._max_responses = max_responses
        self._max_bytes = max_bytes
        self._items: OrderedDict[str, StoredResponse] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, response: StoredResponse) -> None:
        old = self._items.pop(response.id, None)
        if old is not None:
            self._bytes -= old.size
        self._items[response.id] = response
        self._bytes += response.size
        # The newest is always kept, even alone above max_bytes: its caller was just told its id.
        while len(self._items) > 1 and self._over():
            _, evicted = self._items.popitem(last=False)
            self._bytes -= evicted.size

    def _over(self) -> bool:
        return len(self._items) > self._max_responses or self._bytes > self._max_bytes

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        response = self._items.get(response_id)
        if response is None or response.owner != owner:
            return None
        self._items.move_to_end(response_id)  # a conversation in use stays
        return response

    async def delete(self, response_id: str, owner: str) -> bool:
        response = self._items.get(response_id)
        if response is None or response.owner != owner:
            return False
        del self._items[response_id]
        self._bytes -= response.size
        return True
