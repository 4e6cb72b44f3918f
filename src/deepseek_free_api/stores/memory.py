"""The memory backend (``memory://``): every store in this process only, gone at exit. For tests.

Each method runs without awaiting anything in between, so on one event loop it is atomic just as
a SQLite transaction or a Redis script is.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

import anyio

from .protocols import (
    MAX_MOVE_HOPS,
    AccountRecord,
    KeyExistsError,
    KeyLimits,
    Lease,
    LeaseSlot,
    Orphan,
    RecordChange,
    ResponseLimits,
    ServiceKey,
    StoredResponse,
    StoreOptions,
    UsageRow,
    UsageTotals,
    key_digest,
    key_prefix,
    new_service_key,
    utc_day,
)

Clock = Callable[[], float]


@dataclass(slots=True)
class _Row:
    lease: Lease | None = None  # the last lease; dead once released or expired
    released: bool = True
    free_at: float = 0.0


class MemoryLeases:
    """``LeaseStore`` in memory."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._rows: dict[str, _Row] = {}
        self._fence = 0
        self._released = 0
        self._event: anyio.Event | None = None

    def live(self, lease: Lease) -> bool:
        """Whether ``lease`` is the account's current lease and has not expired."""
        row = self._rows.get(lease.account_id)
        return (
            row is not None
            and not row.released
            and row.lease is not None
            and row.lease.fence == lease.fence
            and row.lease.expires_at > self._clock()
        )

    async def acquire(self, candidates: Sequence[str], owner: str, ttl_s: float) -> Lease | None:
        now = self._clock()
        for account_id in candidates:
            row = self._rows.setdefault(account_id, _Row())
            old = row.lease
            if row.free_at > now or (not row.released and old is not None and old.expires_at > now):
                continue
            orphan = None
            if not row.released and old is not None and old.session_id is not None:
                orphan = Orphan(old.session_id, old.message_id, old.owner, old.fence)
            self._fence += 1
            row.lease = Lease(account_id, owner, self._fence, now, now + ttl_s, orphan=orphan)
            row.released = False
            return row.lease
        return None

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        if not self.live(lease):
            return None
        row = self._rows[lease.account_id]
        assert row.lease is not None
        row.lease = replace(row.lease, expires_at=self._clock() + ttl_s)
        return row.lease

    async def renew_all(self, leases: Sequence[Lease], ttl_s: float) -> list[Lease | None]:
        return [await self.renew(lease, ttl_s) for lease in leases]

    async def note_generation(self, lease: Lease, session_id: str, message_id: int | None) -> Lease | None:
        if not self.live(lease):
            return None
        row = self._rows[lease.account_id]
        assert row.lease is not None
        row.lease = replace(row.lease, session_id=session_id, message_id=message_id)
        return row.lease

    async def release(self, lease: Lease, *, pause_s: float = 0.0) -> bool:
        return self.end(lease, pause_s)

    def end(self, lease: Lease, pause_s: float) -> bool:
        """``release``, for the account store of the same bundle (``MemoryAccounts.amend``)."""
        if not self.live(lease):
            return False
        row = self._rows[lease.account_id]
        row.released = True
        row.free_at = self._clock() + pause_s
        self._released += 1
        if self._event is not None:
            self._event.set()
            self._event = None
        return True

    async def slots(self, account_ids: Collection[str] | None = None) -> list[LeaseSlot]:
        now = self._clock()
        ids = sorted(self._rows) if account_ids is None else list(account_ids)
        result = []
        for account_id in ids:
            row = self._rows.get(account_id, _Row())
            live = not row.released and row.lease is not None and row.lease.expires_at > now
            result.append(LeaseSlot(account_id, row.lease if live else None, row.free_at))
        return result

    async def wait_released(self, since: int, timeout_s: float) -> int:
        if self._released == since:
            if self._event is None:
                self._event = anyio.Event()
            with anyio.move_on_after(timeout_s):
                await self._event.wait()
        return self._released


class MemoryAccounts:
    """``AccountStore`` in memory; reports check the leases of the same bundle."""

    def __init__(self, leases: MemoryLeases, clock: Clock = time.time) -> None:
        self._leases = leases
        self._clock = clock
        self._records: dict[str, AccountRecord] = {}

    async def get(self, account_id: str) -> AccountRecord | None:
        return self._records.get(account_id)

    async def all(self) -> list[AccountRecord]:
        return [self._records[k] for k in sorted(self._records)]

    async def put(self, record: AccountRecord) -> None:
        self._records[record.id] = replace(record, updated_at=self._clock())

    async def report(self, lease: Lease, record: AccountRecord) -> bool:
        if record.id != lease.account_id or not self._leases.live(lease):
            return False
        await self.put(record)
        return True

    async def amend(
        self, lease: Lease, change: RecordChange, *, release_pause_s: float | None = None
    ) -> AccountRecord | None:
        if not self._leases.live(lease):
            return None
        record = change(self._records.get(lease.account_id))
        if record.id != lease.account_id:
            return None
        self._records[record.id] = replace(record, updated_at=self._clock())
        if release_pause_s is not None:
            self._leases.end(lease, release_pause_s)
        return record

    async def remove(self, account_id: str) -> bool:
        return self._records.pop(account_id, None) is not None


class MemoryKeys:
    """``KeyStore`` in memory."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._by_name: dict[str, ServiceKey] = {}

    async def create(self, name: str, limits: KeyLimits) -> tuple[ServiceKey, str]:
        current = self._by_name.get(name)
        if current is not None and current.revoked_at is None:
            raise KeyExistsError(f"a service key named {name!r} exists; revoke it first or pick another name")
        key = new_service_key()
        record = ServiceKey(name, key_digest(key), key_prefix(key), limits, self._clock())
        self._by_name[name] = record
        return record, key

    async def lookup(self, presented: str) -> ServiceKey | None:
        digest = key_digest(presented)
        found = None
        for record in self._by_name.values():  # every record compared: no early exit to time
            if hmac.compare_digest(record.digest, digest):
                found = record
        return found

    async def get(self, name: str) -> ServiceKey | None:
        return self._by_name.get(name)

    async def all(self) -> list[ServiceKey]:
        return [self._by_name[k] for k in sorted(self._by_name)]

    async def revoke(self, name: str) -> bool:
        record = self._by_name.get(name)
        if record is None or record.revoked_at is not None:
            return False
        self._by_name[name] = replace(record, revoked_at=self._clock())
        return True


class MemoryUsage:
    """``UsageStore`` in memory."""

    def __init__(self, options: StoreOptions, clock: Clock = time.time) -> None:
        self._clock = clock
        self._days = options.usage_days
        self._counts: dict[tuple[str, str, str], tuple[int, int, int]] = {}
        self._last_used: dict[str, float] = {}
        self._pruned = ""  # the day old counters were last dropped

    async def record(
        self,
        principal: str,
        account_id: str,
        *,
        requests: int = 1,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        now = self._clock()
        key = (utc_day(now), principal, account_id)
        r, i, o = self._counts.get(key, (0, 0, 0))
        self._counts[key] = (r + requests, i + input_tokens, o + output_tokens)
        self._last_used[principal] = now
        if self._pruned != key[0]:
            self._pruned = key[0]
            oldest = utc_day(now - self._days * 86400.0)
            for stale in [k for k in self._counts if k[0] < oldest]:
                del self._counts[stale]

    async def totals(self, principal: str, day: str | None = None) -> UsageTotals:
        rows = await self.rows(day=day or utc_day(self._clock()), principal=principal)
        return UsageTotals(
            sum(r.requests for r in rows),
            sum(r.input_tokens for r in rows),
            sum(r.output_tokens for r in rows),
            self._last_used.get(principal),
        )

    async def rows(self, *, day: str | None = None, principal: str | None = None) -> list[UsageRow]:
        return [
            UsageRow(*key, *counts)
            for key, counts in sorted(self._counts.items())
            if (day is None or key[0] == day) and (principal is None or key[1] == principal)
        ]


class MemoryRates:
    """``RateStore`` in memory."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._tickets: dict[str, dict[str, float]] = {}

    async def hit(self, principal: str, limit: int, window_s: float = 60.0) -> float | None:
        now = self._clock()
        hits = self._hits.setdefault(principal, deque())
        while hits and hits[0] <= now - window_s:
            hits.popleft()
        if len(hits) >= limit:
            return max(0.0, hits[len(hits) - limit] + window_s - now)
        hits.append(now)
        return None

    async def enter(self, principal: str, limit: int, ticket: str, ttl_s: float) -> bool:
        now = self._clock()
        tickets = self._tickets.setdefault(principal, {})
        for stale in [t for t, until in tickets.items() if until <= now]:
            del tickets[stale]
        if ticket not in tickets and len(tickets) >= limit:
            return False
        tickets[ticket] = now + ttl_s
        return True

    async def leave(self, principal: str, ticket: str) -> None:
        tickets = self._tickets.get(principal)
        if tickets is not None:
            tickets.pop(ticket, None)
            if not tickets:
                del self._tickets[principal]


class MemoryConversations:
    """``ConversationStore`` in memory, the newest ``max_moves`` moves."""

    def __init__(self, options: StoreOptions) -> None:
        self._max = options.max_moves
        self._moves: OrderedDict[tuple[str, int], int] = OrderedDict()

    async def moved(self, session_id: str, old: int, new: int) -> None:
        self._moves[(session_id, old)] = new
        self._moves.move_to_end((session_id, old))
        while len(self._moves) > self._max:
            self._moves.popitem(last=False)

    async def follow(self, session_id: str, message_id: int) -> int:
        for _ in range(MAX_MOVE_HOPS):
            moved = self._moves.get((session_id, message_id))
            if moved is None:
                break
            message_id = moved
        return message_id


class MemoryResponses:
    """``ResponseStore`` in memory, least recently used evicted first."""

    def __init__(self, limits: ResponseLimits, clock: Clock = time.time) -> None:
        self._limits = limits
        self._clock = clock
        self._items: OrderedDict[str, StoredResponse] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def _drop(self, response_id: str) -> None:
        self._bytes -= self._items.pop(response_id).size

    @property
    def limits(self) -> ResponseLimits:
        """Its bounds."""
        return self._limits

    async def put(self, response: StoredResponse) -> None:
        now = self._clock()
        if response.expires_at is None:
            response = replace(response, expires_at=now + self._limits.ttl_s)
        for stale in [k for k, r in self._items.items() if r.expires_at is not None and r.expires_at <= now]:
            self._drop(stale)
        if response.id in self._items:
            self._drop(response.id)
        self._items[response.id] = response
        self._bytes += response.size
        mine = [k for k, r in self._items.items() if r.owner == response.owner]
        for response_id in mine[: max(0, len(mine) - self._limits.max_per_owner)]:
            self._drop(response_id)
        limits = self._limits
        while len(self._items) > 1 and (
            len(self._items) > limits.max_count or self._bytes > limits.max_bytes
        ):
            self._drop(next(iter(self._items)))

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        response = self._items.get(response_id)
        if response is None or response.owner != owner:
            return None
        if response.expires_at is not None and response.expires_at <= self._clock():
            self._drop(response_id)
            return None
        self._items.move_to_end(response_id)  # a conversation in use stays
        return response

    async def delete(self, response_id: str, owner: str) -> bool:
        response = self._items.get(response_id)
        if response is None or response.owner != owner:
            return False
        self._drop(response_id)
        return True
