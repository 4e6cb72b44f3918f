"""What a turn needs from the rest of the program, as protocols (the ports of ``chat.turn``)."""

from __future__ import annotations

from typing import Protocol

from deepseek_free_api.chat.events import ChatEvent
from deepseek_free_api.upstream.client import Identity
from deepseek_free_api.upstream.wire import AccountLike


class Warmth(Protocol):
    """Sessions and proof of work prepared ahead for each account (``chat.warm.WarmAccounts``)."""

    async def session(self, account_id: str, identity: Identity) -> str: ...
    async def pow_header(self, account_id: str, identity: Identity, target_path: str) -> str: ...
    def refill(self, account_id: str) -> None: ...
    def pow_rejected(self) -> None: ...


class TurnAccount(AccountLike, Protocol):
    """The account a turn runs on: who calls (``AccountLike``), and its id."""

    @property
    def id(self) -> str: ...


class GenerationNotes(Protocol):
    """Where a turn notes the generation it starts (``accounts.Lease``: kept on the store's lease)."""

    async def generating(self, session_id: str, message_id: int | None) -> None:
        """The generation about to run; whoever takes the account after a crash stops it first."""
        ...


class Tokens(Protocol):
    """Token counting (``chat.tokens.LazyTokenCounter``)."""

    @property
    def loaded(self) -> bool: ...
    def prefetch(self) -> None: ...
    async def ready(self) -> None: ...
    def count(self, text: str) -> int: ...
    def count_prompt(self, text: str) -> int: ...


class ReplyIds(Protocol):
    """The ids a caller gets for continuing a conversation (``chat.conversations``)."""

    async def format(self, session_id: str, message_id: int) -> str:
        """The reply id for this message."""
        ...

    async def moved(self, session_id: str, old: int, new: int) -> None:
        """The answer the caller knows as ``old`` went on under ``new`` (kept in the store)."""
        ...


class EventSink(Protocol):
    """Where a turn's events go (the edge's channel to the dialect renderer)."""

    async def emit(self, events: list[ChatEvent]) -> None:
        """A batch of events for the caller."""
        ...

    def leased(self) -> None:
        """An account is ours: from now on a stream may open and send keep-alives."""
        ...
