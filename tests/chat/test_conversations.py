"""Conversation ids: where a conversation lives, readable after a restart, refused when not ours."""

from __future__ import annotations

import pytest

from deepseek_free_api.chat.conversations import ConversationBook, Native, account_key, format_conversation_id
from deepseek_free_api.errors import ConversationNotFoundError

SESSION = "6f1c2a3e-0000-4000-8000-000000000001"
ACCOUNTS = [("alpha", "device-a"), ("beta", "device-b")]


def book() -> ConversationBook:
    return ConversationBook(lambda: ACCOUNTS)


def anyone(account_id: str) -> bool:
    return True


def test_a_reply_id_names_session_message_and_account_and_round_trips() -> None:
    reply_id = format_conversation_id(SESSION, 42, "device-b")
    assert reply_id == f"{SESSION}@42.{account_key('device-b')}"
    assert book().locate(reply_id, anyone) == Native("beta", SESSION, 42)
    assert book().locate(f"  {reply_id}\n", anyone) == Native("beta", SESSION, 42)


def test_the_account_key_names_no_account_and_is_stable() -> None:
    key = account_key("device-a")
    assert key == account_key("device-a") and key != account_key("device-b")
    assert "alpha" not in key and len(key) == 12


@pytest.mark.parametrize(
    "value",
    [
        f"{SESSION}@3.{account_key('device-zzz')}",  # an account this server does not have (any more)
        f"{SESSION}@3",  # the pre-0.2 form carries no account: cannot be continued after a restart
    ],
)
def test_ids_this_server_cannot_continue_are_a_clear_404(value: str) -> None:
    with pytest.raises(ConversationNotFoundError) as info:
        book().locate(value, anyone)
    assert info.value.param == "conversation_id" and "not known" in info.value.message


def test_another_callers_conversation_looks_exactly_like_an_unknown_one() -> None:
    theirs = format_conversation_id(SESSION, 3, "device-a")
    with pytest.raises(ConversationNotFoundError) as info:
        book().locate(theirs, lambda account_id: account_id == "beta")
    assert "alpha" not in info.value.message


@pytest.mark.parametrize(
    "value",
    ["", "abc@1", f"{SESSION}@", f"{SESSION}@x", SESSION, f"{SESSION}@1@2", f"x{SESSION}@2", f"{SESSION}@-1"],
)
def test_values_of_another_shape_start_a_new_conversation(value: str) -> None:
    assert book().locate(value, anyone) is None


def test_an_account_added_later_is_found() -> None:
    accounts = list(ACCOUNTS)
    conversations = ConversationBook(lambda: accounts)
    conversations.locate(format_conversation_id(SESSION, 1, "device-a"), anyone)
    accounts.append(("gamma", "device-c"))
    found = conversations.locate(format_conversation_id(SESSION, 1, "device-c"), anyone)
    assert found == Native("gamma", SESSION, 1)
