"""Account identity: stable ids, per-account device ids, and no secret in any text form."""

from __future__ import annotations

import asyncio

import pytest

from deepseek_free_api.accounts import Account, AccountPool, token_account_id

TOKEN = "secret-token-ABCDEF0123456789"
PASSWORD = "hunter2-password-99"


def test_token_account_id_is_stable_and_hides_the_token() -> None:
    account = Account.from_token(TOKEN)
    assert account.id == token_account_id(TOKEN) == Account.from_token(TOKEN).id
    assert account.id.startswith("acct-") and TOKEN not in account.id
    assert account.source == "server"
    assert Account.from_token(TOKEN, name="main").id == "main"


def test_credentials_id_does_not_change_with_the_token() -> None:
    before = Account.from_credentials(email="a@example.com", password=PASSWORD)
    after = Account.from_credentials(email="a@example.com", password=PASSWORD, token=TOKEN)
    assert before.id == after.id
    assert before.has_credentials and not Account.from_token(TOKEN).has_credentials
    with pytest.raises(ValueError):
        Account.from_credentials(password=PASSWORD)


def test_device_ids_are_stable_and_differ_between_accounts() -> None:
    first, second = Account.from_token("t1"), Account.from_token("t2")
    assert first.device_id == Account.from_token("t1").device_id
    assert first.device_id != second.device_id
    assert Account(id="x", token="t", device_id="given").device_id == "given"


def test_no_text_form_shows_a_token_or_password() -> None:
    account = Account.from_credentials(email="a@example.com", password=PASSWORD, token=TOKEN)
    pool = AccountPool([account], max_waiters=1, wait_timeout_s=1)
    snapshot = asyncio.run(pool.snapshot())
    texts = [repr(account), str(account), repr(snapshot), str(snapshot)]
    for text in texts:
        assert TOKEN not in text and PASSWORD not in text
    assert account.id in repr(account)
