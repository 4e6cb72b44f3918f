"""The accounts of a pool: by id and by token, caller-token accounts with LRU eviction, change events.

``AccountPool`` builds its leasing on this; the two hooks ``_changed`` (re-check the queue) and
``_in_use`` (an account a lease or a waiter needs is never evicted) are where it plugs in.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence

from ..config import device_id_for, token_identity
from ..errors import AuthenticationError, CapacityError
from .account import Account, token_account_id
from .health import AccountHealth
from .matching import Slot
from .ready import ReadyAccounts

AccountListener = Callable[[str], None]  # told the id of an account removed, evicted or given a new token

log = logging.getLogger(__name__)

# When a caller account may be idle again is not known here: about one generation from now.
CALLER_RETRY_AFTER_S = 5.0


class AccountRegistry:
    """Accounts by id and token; accounts made from caller tokens are evicted least recently used first."""

    def __init__(self, *, can_log_in: bool, max_caller_accounts: int, device_salt: str) -> None:
        self.max_caller_accounts = max_caller_accounts
        self._can_log_in = can_log_in
        self._device_salt = device_salt  # caller accounts get the same device ids as configured ones
        self._slots: dict[str, Slot] = {}
        self._ready = ReadyAccounts()  # the free server accounts in lease order
        self._by_token: dict[str, str] = {}
        self._callers: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self._listeners: list[AccountListener] = []

    def _changed(self) -> None:
        """Hook: accounts or their states changed."""

    def _in_use(self, account_id: str) -> bool:
        """Hook: whether an account must not be evicted now."""
        return self._slots[account_id].health.busy

    def add(self, account: Account) -> None:
        """Put an account into rotation."""
        if account.id in self._slots:
            raise ValueError(f"duplicate account id {account.id!r}")
        if account.token is not None and account.token in self._by_token:
            raise ValueError(
                f"account {account.id!r} has the same token as {self._by_token[account.token]!r}"
            )
        health = AccountHealth(label=account.id)
        if account.token is None:
            if account.has_credentials and self._can_log_in:
                health.needs_login = True
            else:  # a configuration problem: no re-check can fix it
                health.invalidate("no token, and no credentials with a login hook")
        slot = self._slots[account.id] = Slot(account, health)
        self._ready.add(slot)
        if account.token is not None:
            self._by_token[account.token] = account.id
        if account.source == "caller":
            self._callers[account.id] = None
        self._changed()

    def remove(self, account_id: str) -> Account | None:
        """Take an account out; a lease still holding it ends normally."""
        slot = self._slots.pop(account_id, None)
        if slot is None:
            return None
        self._ready.remove(slot)
        self._forget_token(slot.account)
        self._callers.pop(account_id, None)
        self._notify(account_id)
        self._changed()
        return slot.account

    def get(self, account_id: str) -> Account | None:
        """The account with this id, if any."""
        slot = self._slots.get(account_id)
        return None if slot is None else slot.account

    def devices(self) -> list[tuple[str, str]]:
        """``(account id, device id)`` of every account (conversation ids name accounts by device)."""
        return [(account_id, slot.account.device_id) for account_id, slot in self._slots.items()]

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._slots

    def __len__(self) -> int:
        return len(self._slots)

    def update_token(self, account_id: str, token: str) -> None:
        """Give an account a new token (after a login or from an operator); clears invalidity."""
        slot = self._slots[account_id]
        changed = slot.account.token != token
        self._forget_token(slot.account)
        slot.account.token = token
        self._by_token[token] = account_id
        slot.health.token_changed()
        if changed:
            self._notify(account_id)
        self._changed()

    def _forget_token(self, account: Account) -> None:
        if account.token is not None and self._by_token.get(account.token) == account.id:
            del self._by_token[account.token]

    def subscribe(self, listener: AccountListener) -> Callable[[], None]:
        """Call ``listener(account_id)`` when an account is removed, evicted or gets a new token."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, account_id: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(account_id)
            except Exception:
                # A listener's bug must not break the pool's bookkeeping, but it must be seen.
                log.exception("account listener %r failed for account %s", listener, account_id)

    def register_caller_tokens(self, tokens: Sequence[str]) -> list[str]:
        """Accounts for tokens a caller brought; the same token always maps to the same account.

        The cap on caller accounts is hard: room for new tokens is made by evicting idle caller
        accounts, least recently used first, never one leased or awaited, nor one this request
        brings; if that cannot make room, nothing is registered and CapacityError (429) says so.
        """
        wanted = list(dict.fromkeys(token for token in (raw.strip() for raw in tokens) if token))
        new = [token for token in wanted if token not in self._by_token]
        if len(new) > self.max_caller_accounts:
            raise AuthenticationError(
                f"The bearer holds {len(new)} DeepSeek tokens; this server keeps at most "
                f"{self.max_caller_accounts} callers' tokens (auth.max_caller_accounts)"
            )
        known = {self._by_token[token] for token in wanted if token in self._by_token}
        self._make_room(len(new), keep=known)
        ids: list[str] = []
        for token in wanted:
            account_id = self._by_token.get(token)
            if account_id is None:
                account_id = token_account_id(token)
                if account_id in self._slots:  # a prefix clash with another token: use the full hash
                    account_id = token_account_id(token, hex_digits=64)
                device_id = device_id_for(token_identity(token), self._device_salt)
                self.add(Account.from_token(token, name=account_id, source="caller", device_id=device_id))
            if account_id in self._callers:
                self._callers.move_to_end(account_id)
            ids.append(account_id)
        return ids

    def _make_room(self, needed: int, *, keep: Collection[str]) -> None:
        """Evict idle caller accounts until ``needed`` more fit under the cap, or evict none and refuse."""
        excess = len(self._callers) + needed - self.max_caller_accounts
        if excess <= 0:
            return
        idle = [i for i in self._callers if i not in keep and not self._in_use(i)][:excess]
        if len(idle) < excess:
            raise CapacityError(
                f"this server holds {len(self._callers)} accounts made from callers' own tokens, its "
                f"limit (auth.max_caller_accounts), and too few are idle to make room for {needed} more",
                retry_after=CALLER_RETRY_AFTER_S,
            )
        for account_id in idle:
            self.remove(account_id)

    def _touch_caller(self, account_id: str) -> None:
        """The end of a generation counts as a use of a caller account."""
        if account_id in self._callers:
            self._callers.move_to_end(account_id)
