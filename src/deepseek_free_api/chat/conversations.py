"""Native multi-turn: the reply ``id`` a caller sends back as ``conversation_id``.

The id says where the conversation lives and whose it is, so it survives a restart without any
store: ``<chat_session_id>@<response_message_id>.<account key>.<owner mark>``. The account key is
a short digest of the account's device id (itself derived from the account's identity and the
install salt), so it is stable across restarts, names no account, and is useless outside this
installation. The owner mark is a keyed MAC of session and account key by the credential that
started the conversation (``chat.principal``): another credential cannot make it. An id whose
account is gone, whose mark is not the caller's, or that belongs to accounts this caller may not
use is a 404 exactly like an unknown id, before any upstream call; so is an id of an older form
(no account key, or no mark), never answered without its context or its owner. A value of
another shape entirely is not a conversation id and starts a new session. Only the moves of
``chat/continue`` (an answer that went on under a new message id) need the store.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from deepseek_free_api.chat.principal import MARK_DIGITS, Principal
from deepseek_free_api.errors import ConversationNotFoundError
from deepseek_free_api.stores.protocols import ConversationStore

# Session ids are UUIDs, message ids integers (PROTOCOL.md §6.3); the key is 12 hex digits, the
# owner's mark 16. Ids made by older versions lack the mark, or the key too.
_CONVERSATION_ID = re.compile(
    rf"([0-9A-Za-z-]{{36}})@([0-9]{{1,18}})(?:\.([0-9a-f]{{12}})(?:\.([0-9a-f]{{{MARK_DIGITS}}}))?)?"
)
_KEY_DIGITS = 12


@dataclass(frozen=True, slots=True)
class Native:
    """A conversation to continue on its own account: session and the message to answer after."""

    account_id: str
    session_id: str
    message_id: int


def account_key(device_id: str) -> str:
    """The account's key inside conversation ids."""
    return hashlib.sha256(f"deepseek-free-api/conversation\0{device_id}".encode()).hexdigest()[:_KEY_DIGITS]


def format_conversation_id(session_id: str, message_id: int, device_id: str, owner: Principal) -> str:
    """The id of a reply, for ``owner`` to send back as ``conversation_id``."""
    key = account_key(device_id)
    return f"{session_id}@{message_id}.{key}.{owner.mark(f'{session_id}.{key}')}"


class ConversationBook:
    """Finds the account of a conversation id among the accounts the pool has now.

    Answers that ``chat/continue`` moved to a new message id after the caller got the first one
    are kept in the store (``stores.conversations``, bounded), so the caller's id still continues
    after the real last message, also after a restart and on another process sharing the store.
    """

    def __init__(self, accounts: Callable[[], Iterable[tuple[str, str]]], moves: ConversationStore) -> None:
        """``accounts()`` lists ``(account id, device id)`` of every account in the pool."""
        self._accounts = accounts
        self._moves = moves
        self._by_key: dict[str, str] = {}

    def ids_for(self, device_id: str, owner: Principal) -> ReplyIds:
        """The reply ids of one account's turns for ``owner``."""
        return ReplyIds(self, device_id, owner)

    async def moved(self, session_id: str, old: int, new: int) -> None:
        """The answer known as ``old`` went on under ``new``."""
        await self._moves.moved(session_id, old, new)

    async def locate(
        self, conversation_id: str | None, allowed: Callable[[str], bool], owner: Principal
    ) -> Native | None:
        """The conversation to continue, None for a new one; ConversationNotFoundError unless ``owner``'s."""
        if not conversation_id:
            return None
        match = _CONVERSATION_ID.fullmatch(conversation_id.strip())
        if match is None:
            return None
        native = await self._found(match, allowed, owner)
        if native is None:
            # Another caller's conversation is answered exactly like an unknown one.
            raise ConversationNotFoundError(
                f"conversation_id '{conversation_id.strip()}' is not known to this server (its account is "
                "gone, it belongs to other credentials, or the id comes from an older version); start a new "
                "conversation by leaving conversation_id out and sending the whole history",
                param="conversation_id",
            )
        return native

    async def resumable(
        self, conversation_id: str, allowed: Callable[[str], bool], owner: Principal
    ) -> Native | None:
        """Where a reply id the server keeps itself (a stored response's, a reused session's) goes on.

        None, never an error, when it cannot: the history is then replayed in a new session.
        """
        match = _CONVERSATION_ID.fullmatch(conversation_id)
        return None if match is None else await self._found(match, allowed, owner)

    async def _found(
        self, match: re.Match[str], allowed: Callable[[str], bool], owner: Principal
    ) -> Native | None:
        session_id, message, key, mark = match.groups()
        owned = mark is not None and owner.marked(f"{session_id}.{key}", mark)
        account_id = self._account(key) if owned else None
        if account_id is None or not allowed(account_id):
            return None
        message_id = await self._moves.follow(session_id, int(message))  # chat/continue's moves
        return Native(account_id, session_id, message_id)

    def _account(self, key: str) -> str | None:
        account_id = self._by_key.get(key)
        if account_id is None:  # a new account since the last look, or a key from elsewhere
            self._by_key = {account_key(device): ident for ident, device in self._accounts()}
            account_id = self._by_key.get(key)
        return account_id


@dataclass(frozen=True, slots=True)
class ReplyIds:
    """Reply ids for one account's turns (``chat.turn.ReplyIds``)."""

    book: ConversationBook
    device_id: str
    owner: Principal

    async def format(self, session_id: str, message_id: int) -> str:
        """The reply id for this message."""
        return format_conversation_id(session_id, message_id, self.device_id, self.owner)

    async def moved(self, session_id: str, old: int, new: int) -> None:
        """The answer known as ``old`` went on under ``new``."""
        await self.book.moved(session_id, old, new)
