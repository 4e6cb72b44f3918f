"""Conversation ids: where a conversation lives and whose it is; readable after a restart, else a 404."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from deepseek_free_api.chat.conversations import ConversationBook, Native, account_key, format_conversation_id
from deepseek_free_api.chat.principal import ANONYMOUS, Principal
from deepseek_free_api.errors import ConversationNotFoundError
from deepseek_free_api.stores import StoreOptions
from deepseek_free_api.stores.memory import MemoryConversations

SESSION = "6f1c2a3e-0000-4000-8000-000000000001"
ACCOUNTS = [("alpha", "device-a"), ("beta", "device-b")]
KEY_A = Principal.service_key("sk-key-a")
KEY_B = Principal.service_key("sk-key-b")


def conversation_id(message_id: int, device_id: str, owner: Principal = KEY_A) -> str:
    return format_conversation_id(SESSION, message_id, device_id, owner)


def book() -> ConversationBook:
    return ConversationBook(lambda: ACCOUNTS, MemoryConversations(StoreOptions()))


def locate(
    conversations: ConversationBook, value: str, allowed: Callable[[str], bool], owner: Principal
) -> Native | None:
    return asyncio.run(conversations.locate(value, allowed, owner))


def anyone(account_id: str) -> bool:
    return True


def test_a_reply_id_names_session_message_account_and_owner_and_round_trips() -> None:
    reply_id = conversation_id(42, "device-b")
    assert (
        reply_id
        == f"{SESSION}@42.{account_key('device-b')}.{KEY_A.mark(f'{SESSION}.' + account_key('device-b'))}"
    )
    assert locate(book(), reply_id, anyone, KEY_A) == Native("beta", SESSION, 42)
    assert locate(book(), f"  {reply_id}\n", anyone, KEY_A) == Native("beta", SESSION, 42)


def test_the_account_key_names_no_account_and_is_stable() -> None:
    key = account_key("device-a")
    assert key == account_key("device-a") and key != account_key("device-b")
    assert "alpha" not in key and len(key) == 12


@pytest.mark.parametrize(
    "value",
    [
        conversation_id(3, "device-zzz"),  # an account this server does not have (any more)
        conversation_id(3, "device-a").rsplit(".", 1)[0],  # an older form: no owner
        f"{SESSION}@3",  # the oldest form carries no account: cannot be continued after a restart
    ],
)
def test_ids_this_server_cannot_continue_are_a_clear_404(value: str) -> None:
    with pytest.raises(ConversationNotFoundError) as info:
        locate(book(), value, anyone, KEY_A)
    assert info.value.param == "conversation_id" and "not known" in info.value.message


def _refusal(value: str, owner: Principal, allowed: Callable[[str], bool] = anyone) -> str:
    with pytest.raises(ConversationNotFoundError) as info:
        locate(book(), value, allowed, owner)
    return info.value.message.replace(value, "<id>")


def test_another_callers_conversation_looks_exactly_like_an_unknown_one() -> None:
    theirs = conversation_id(3, "device-a")
    unknown = _refusal(conversation_id(3, "device-zzz"), KEY_A)
    assert _refusal(theirs, KEY_A, lambda account_id: account_id == "beta") == unknown  # not its accounts
    for other in (KEY_B, ANONYMOUS, Principal.caller_tokens(["tok-a"])):
        assert _refusal(theirs, other) == unknown  # not its owner
    assert "alpha" not in unknown


def test_the_owner_mark_cannot_be_moved_to_another_session_or_account() -> None:
    mark = conversation_id(3, "device-a").rsplit(".", 1)[1]
    other_session = "6f1c2a3e-0000-4000-8000-000000000002"
    for moved in (
        f"{other_session}@3.{account_key('device-a')}.{mark}",
        f"{SESSION}@3.{account_key('device-b')}.{mark}",
    ):
        _refusal(moved, KEY_A)
    flipped = mark[:-1] + ("0" if mark[-1] != "0" else "1")
    _refusal(f"{SESSION}@3.{account_key('device-a')}.{flipped}", KEY_A)


def test_the_same_tokens_in_another_order_are_the_same_owner() -> None:
    mine = conversation_id(3, "device-a", Principal.caller_tokens(["tok-a", "tok-b"]))
    assert locate(book(), mine, anyone, Principal.caller_tokens(["tok-b", "tok-a", "tok-a"])) is not None
    _refusal(mine, Principal.caller_tokens(["tok-b"]))


@pytest.mark.parametrize(
    "value",
    ["", "abc@1", f"{SESSION}@", f"{SESSION}@x", SESSION, f"{SESSION}@1@2", f"x{SESSION}@2", f"{SESSION}@-1"],
)
def test_values_of_another_shape_start_a_new_conversation(value: str) -> None:
    assert locate(book(), value, anyone, KEY_A) is None


def test_an_account_added_later_is_found() -> None:
    accounts = list(ACCOUNTS)
    conversations = ConversationBook(lambda: accounts, MemoryConversations(StoreOptions()))
    locate(conversations, conversation_id(1, "device-a"), anyone, KEY_A)
    accounts.append(("gamma", "device-c"))
    found = locate(conversations, conversation_id(1, "device-c"), anyone, KEY_A)
    assert found == Native("gamma", SESSION, 1)
