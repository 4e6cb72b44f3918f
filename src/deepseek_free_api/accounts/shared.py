"""The pool's accounts as records in the store: merged at start, written by lease holders, read back.

What one process learns about an account (a new token from a login, a mute, an invalid mark, its
counters) is written to the ``AccountStore`` by the holder of the account's lease, after each
generation and after each login; the store refuses the write once that lease is dead. Other
processes take a record in every few seconds (``sync``), and before they log the account in or
try an invalid mark again, but only when it differs from the last record they read or wrote
themselves: a change made here and not yet written is not undone by an older copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from operator import attrgetter

from ..stores import AccountOrigin, AccountRecord, AccountStore
from ..stores.protocols import RecordChange
from .account import Account
from .lease import Lease
from .matching import Slot
from .records import (
    Clocks,
    account_from_record,
    apply_marks,
    config_of,
    definition,
    with_health,
    with_marks,
)
from .registry import AccountRegistry

log = logging.getLogger(__name__)


# What a record says: every field but ``updated_at`` (when it was written), read in one C call.
# Comparing two copies made with ``replace`` cost 20 us; a sync compares every account's record.
_SAID = attrgetter(*(item.name for item in fields(AccountRecord) if item.name != "updated_at"))


def _same(a: AccountRecord | None, b: AccountRecord | None) -> bool:
    if a is None or b is None:
        return a is b
    return a is b or (type(a) is type(b) and _SAID(a) == _SAID(b))


class SharedAccounts(AccountRegistry):
    """An account registry whose accounts' state lives in an ``AccountStore``."""

    def __init__(
        self,
        records: AccountStore,
        *,
        can_log_in: bool,
        max_caller_accounts: int,
        device_salt: str,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        super().__init__(
            can_log_in=can_log_in, max_caller_accounts=max_caller_accounts, device_salt=device_salt
        )
        self._records = records
        self._clock = clock
        self._wall_clock = wall_clock
        self._known: dict[str, AccountRecord] = {}  # the last record read or written, per account
        self._origins: dict[str, AccountOrigin] = {}  # accounts this process took from the store

    def clocks(self) -> Clocks:
        """The pool clock and the wall clock, now."""
        return Clocks(self._clock(), self._wall_clock())

    async def load(self, configured: Sequence[Account]) -> None:
        """Merge the configured accounts into the store, then serve them and every added account.

        A configured login account keeps the token of its last login; a configured token that
        differs from the stored one replaces it and clears the marks it earned. Health marks and
        counters of every account are taken from the store.
        """
        stored = {record.id: record for record in await self._records.all()}
        for account in configured:
            record = stored.pop(account.id, None)
            if record is not None and account.has_credentials and record.token and not account.token:
                account.token = record.token  # refreshed by a login before the restart
            elif record is not None and record.token != account.token:
                record = replace(record, needs_login=False, invalid_reason=None, invalid_until=None)
            merged = definition(account, "config", record)
            if not _same(merged, record):
                await self._records.put(merged)  # only a changed definition: never older marks
            self._take(account, merged, "config", marks=record is not None)
        for record in stored.values():
            if record.origin != "added" or record.id in self._slots:
                continue  # a configured account no longer in this configuration is not served
            added = account_from_record(record, self._device_salt)
            if added is None:
                log.warning("account %s in the store has no token and no login; skipped", record.id)
            else:
                self._take(added, record, "added")

    def _take(
        self, account: Account, record: AccountRecord, origin: AccountOrigin, *, marks: bool = True
    ) -> None:
        """Serve ``account`` with the marks of its stored ``record`` (none for a new account)."""
        self.add(account)
        self._origins[account.id] = origin
        self._known[account.id] = record
        if marks:
            apply_marks(self._slots[account.id].health, record, self.clocks())
        self._changed()

    async def adopt(self, slot: Slot, record: AccountRecord | None) -> None:
        """Take in ``record`` (just read from the store) if another writer changed it."""
        account_id = slot.account.id
        if record is None or _same(record, self._known.get(account_id)):
            return
        self._known[account_id] = record
        if record.token and record.token != slot.account.token and self._slots.get(account_id) is slot:
            self.update_token(account_id, record.token)  # logged in elsewhere, or set by an operator
        if record.origin == "added":  # a configured account's proxy and locality are the configuration's
            added = config_of(record)
            slot.account.proxy = added.proxy
            slot.account.locale, slot.account.timezone_offset = added.locale, added.timezone_offset
        apply_marks(slot.health, record, self.clocks())

    async def write_record(
        self,
        lease: Lease,
        slot: Slot,
        *,
        used: bool = False,
        failed: bool = False,
        release_pause_s: float | None = None,
    ) -> bool:
        """Write the account's token and marks under ``lease`` (refused by the store once it is dead).

        With ``release_pause_s`` the lease is released in the same step of the store (the end of a
        turn: one transaction, not three). False if the lease was dead: nothing written or released.
        A caller's own account has no record (its token is not kept): nothing is written.
        """
        account = slot.account
        if account.source != "server":
            if release_pause_s is not None:
                raise ValueError("a caller's account keeps no record: release its lease instead")
            return True
        change = self._record_change(slot, self._known.get(account.id), used=used, failed=failed)
        record = await self._records.amend(lease.grant, change, release_pause_s=release_pause_s)
        if record is None:
            return False
        self._known[account.id] = record
        if record.token and record.token != account.token:
            # Another process logged in (or an operator set a token) since this one last looked:
            # that token is newer than ours, whatever ours just met.
            if self._slots.get(account.id) is slot:
                self.update_token(account.id, record.token)
            else:
                account.token = record.token
        return True

    def _record_change(
        self, slot: Slot, known: AccountRecord | None, *, used: bool, failed: bool
    ) -> RecordChange:
        """The stored record with this process's marks and token (``AccountStore.amend`` calls it)."""
        account, health, clocks = slot.account, slot.health, self.clocks()

        def change(stored: AccountRecord | None) -> AccountRecord:
            base = stored or AccountRecord(account.id)
            if base.token and known is not None and base.token != known.token == account.token:
                return with_marks(base, health, clocks, used=used, failed=failed)  # the stored token stays
            return with_health(base, account, health, clocks, used=used, failed=failed)

        return change

    async def reset(self, account_id: str) -> None:
        """Clear cooldown, mute and invalidity of an account at once, here and in the store."""
        slot = self._slots[account_id]
        slot.health.reset()
        self._changed()
        if slot.account.source != "server":
            return
        base = await self._records.get(account_id) or AccountRecord(account_id)
        record = with_health(base, slot.account, slot.health, self.clocks())
        await self._records.put(record)  # an operator's decision: whatever the leases say
        self._known[account_id] = record

    async def sync(self) -> None:
        """Read every record back: marks set by other processes, accounts added or removed by the CLI."""
        records = await self._records.all()
        present = {record.id for record in records}
        for record in records:
            slot = self._slots.get(record.id)
            if slot is None:
                if record.origin == "added" and (account := account_from_record(record, self._device_salt)):
                    log.info("account %s was added to the store; serving it", record.id)
                    self._take(account, record, "added")
            elif not slot.health.busy:  # while we hold it, our own report is what counts
                await self.adopt(slot, record)
        for account_id, origin in list(self._origins.items()):
            if origin == "added" and account_id not in present and account_id in self._slots:
                log.info("account %s was removed from the store; no longer serving it", account_id)
                self.remove(account_id)

    def remove(self, account_id: str) -> Account | None:
        """Take an account out; a lease still holding it ends normally."""
        self._origins.pop(account_id, None)
        self._known.pop(account_id, None)
        return super().remove(account_id)
