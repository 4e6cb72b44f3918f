"""An account's own locale and timezone offset survive every backend, and older records still read."""

from __future__ import annotations

import asyncio

from deepseek_free_api.accounts.records import account_from_record
from deepseek_free_api.stores import AccountRecord
from deepseek_free_api.stores.codec import load_account

from .conftest import Backend


def test_the_locality_round_trips_in_every_backend(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            east = AccountRecord("east", token="t-e", locale="en-US", timezone_offset=28800)
            await stores.accounts.put(east)
            await stores.accounts.put(AccountRecord("here", token="t-h", timezone_offset="auto"))
            await stores.accounts.put(AccountRecord("plain", token="t-p"))
            east, here, plain = await stores.accounts.all()
        assert (east.locale, east.timezone_offset) == ("en-US", 28800)
        assert (here.locale, here.timezone_offset) == (None, "auto")
        assert (plain.locale, plain.timezone_offset) == (None, None)
        account = account_from_record(east, "salt")
        assert account is not None and (account.locale, account.timezone_offset) == ("en-US", 28800)

    asyncio.run(main())


def test_a_record_written_before_the_locality_existed_reads_as_the_persona() -> None:
    old = load_account(b'{"id": "old", "token": "t-o", "origin": "added", "condition": "healthy"}')
    account = account_from_record(old, "salt")
    assert account is not None and (account.locale, account.timezone_offset) == (None, None)
    # A value this version cannot use (edited by hand, or a newer format) falls back, never reaches a header.
    odd = AccountRecord("odd", token="t", origin="added", locale="en\r\nX: 1", timezone_offset="UTC+8")
    account = account_from_record(odd, "salt")
    assert account is not None and (account.locale, account.timezone_offset) == (None, None)
