"""The Redis backend (``redis://HOST:PORT/DB``): one account pool for several processes or hosts.

Every read-then-write is one Lua script (``redis_scripts``), atomic on the server; times of
leases, rate windows and stored responses are the server's clock, so hosts whose clocks differ
still agree. A release is published on a channel, which wakes waiters in every process at once.
All keys start with a prefix (``?prefix=`` in the URL, default ``deepseek-free-api:``), so one
database can hold several installations.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

import anyio
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from . import redis_scripts as lua
from .codec import dump, load_account, load_key
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

DEFAULT_PREFIX = "deepseek-free-api:"
_LEASE_FIELDS = ("owner", "fence", "acquired_at", "expires_at", "session_id", "message_id")


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _lease(account_id: str, fields: Sequence[Any]) -> Lease:
    owner, fence, acquired, expires, session, message = fields
    message_id = _text(message)
    return Lease(
        account_id,
        _text(owner) or "",
        int(fence),
        int(acquired) / 1000,
        int(expires) / 1000,
        _text(session),
        int(message_id) if message_id else None,
    )


class RedisLeases:
    """``LeaseStore`` in Redis: one hash per account, a release counter published as it grows."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._r = client
        self._p = prefix
        self._acquire = client.register_script(lua.ACQUIRE)
        self._update = client.register_script(lua.UPDATE_LIVE)
        self.released = prefix + "released"  # the release counter, also its channel
        self._pubsub: PubSub | None = None
        self._listening: anyio.Event | None = None

    def key(self, account_id: str) -> str:
        """The hash of this account's lease."""
        return f"{self._p}lease:{account_id}"

    async def acquire(self, candidates: Sequence[str], owner: str, ttl_s: float) -> Lease | None:
        wanted = list(dict.fromkeys(candidates))
        if not wanted:
            return None
        keys = [self._p + "fence", self._p + "leases", *map(self.key, wanted)]
        got = await self._acquire(keys=keys, args=[owner, _ms(ttl_s), *wanted])
        if not got:
            return None
        account_id, fence, now, expires = _text(got[0]) or "", int(got[1]), int(got[2]), int(got[3])
        orphan = None
        if len(got) > 4:
            message = _text(got[5])
            orphan = Orphan(
                _text(got[4]) or "", int(message) if message else None, _text(got[6]) or "", int(got[7])
            )
        return Lease(account_id, owner, fence, now / 1000, expires / 1000, orphan=orphan)

    async def _live(self, lease: Lease, *args: Any) -> Lease | None:
        keys = [self.key(lease.account_id), self.released]
        fields = await self._update(keys=keys, args=[lease.fence, *args])
        return None if not fields else _lease(lease.account_id, fields)

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        return await self._live(lease, "renew", _ms(ttl_s))

    async def renew_all(self, leases: Sequence[Lease], ttl_s: float) -> list[Lease | None]:
        if not leases:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for lease in leases:
                keys = [self.key(lease.account_id), self.released]
                await self._update(keys=keys, args=[lease.fence, "renew", _ms(ttl_s)], client=pipe)
            answers = await pipe.execute()
        return [
            None if not fields else _lease(lease.account_id, fields)
            for lease, fields in zip(leases, answers, strict=True)
        ]

    async def note_generation(self, lease: Lease, session_id: str, message_id: int | None) -> Lease | None:
        return await self._live(lease, "note", session_id, "" if message_id is None else message_id)

    async def release(self, lease: Lease, *, pause_s: float = 0.0) -> bool:
        return await self._live(lease, "release", _ms(pause_s)) is not None

    async def slots(self, account_ids: Collection[str] | None = None) -> list[LeaseSlot]:
        if account_ids is None:
            ids = sorted(_text(m) or "" for m in await self._r.smembers(self._p + "leases"))
        else:
            ids = list(account_ids)
        names = (
            "owner",
            "fence",
            "acquired_at",
            "expires_at",
            "session_id",
            "message_id",
            "released",
            "free_at",
        )
        now_s, now_us = await self._r.time()
        now = now_s * 1000 + now_us // 1000
        async with self._r.pipeline(transaction=False) as pipe:
            for account_id in ids:
                pipe.hmget(self.key(account_id), names)
            rows = await pipe.execute()
        result = []
        for account_id, row in zip(ids, rows, strict=True):
            live = row[1] is not None and row[6] == b"0" and int(row[3]) > now
            free_at = int(row[7]) / 1000 if row[7] is not None else 0.0
            result.append(LeaseSlot(account_id, _lease(account_id, row[:6]) if live else None, free_at))
        return result

    async def _count(self) -> int:
        return int(await self._r.get(self.released) or 0)

    async def wait_released(self, since: int, timeout_s: float) -> int:
        value = await self._count()
        if value != since:
            return value
        if self._listening is not None:  # another task of this process reads the channel
            with anyio.move_on_after(timeout_s):
                await self._listening.wait()
            return await self._count()
        self._listening = anyio.Event()
        try:
            return await self._listen(since, timeout_s)
        finally:
            self._listening.set()
            self._listening = None

    async def _listen(self, since: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        if self._pubsub is None:
            # Subscribe confirmations are read as messages too (not ignored, which would make
            # get_message return None early): only a "message" is a release.
            self._pubsub = self._r.pubsub()
            await self._pubsub.subscribe(self.released)
        # Drop news that arrived while nobody listened, then read the counter: a release after
        # this read is published to the subscription that is already open.
        for _ in range(1000):  # bounded: releases may keep arriving as fast as they are read
            if await self._pubsub.get_message(timeout=0) is None:
                break
        value = await self._count()
        if value != since:
            return value
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                message = await self._pubsub.get_message(timeout=remaining)
                if message is not None and message.get("type") == "message":
                    break
        except BaseException:
            # Cancelled (or failed) mid-read: the connection may hold half a reply; drop it,
            # the next wait subscribes afresh.
            pubsub, self._pubsub = self._pubsub, None
            with anyio.CancelScope(shield=True):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        return await self._count()

    async def close(self) -> None:
        """Close the subscription."""
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            await pubsub.aclose()  # type: ignore[no-untyped-call]


class RedisAccounts:
    """``AccountStore`` in Redis: one JSON value per account and a set of ids."""

    def __init__(self, client: Redis, prefix: str, leases: RedisLeases) -> None:
        self._r = client
        self._p = prefix
        self._leases = leases
        self._report = client.register_script(lua.REPORT)

    def _key(self, account_id: str) -> str:
        return f"{self._p}account:{account_id}"

    async def get(self, account_id: str) -> AccountRecord | None:
        raw = await self._r.get(self._key(account_id))
        return None if raw is None else load_account(raw)

    async def all(self) -> list[AccountRecord]:
        ids = sorted(_text(m) or "" for m in await self._r.smembers(self._p + "accounts"))
        raws = await self._r.mget([self._key(i) for i in ids]) if ids else []
        return [load_account(raw) for raw in raws if raw is not None]

    async def put(self, record: AccountRecord) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set(self._key(record.id), dump(replace(record, updated_at=time.time())))
            pipe.sadd(self._p + "accounts", record.id)
            await pipe.execute()

    async def report(self, lease: Lease, record: AccountRecord) -> bool:
        return await self._write(lease, record, None)

    async def amend(
        self, lease: Lease, change: RecordChange, *, release_pause_s: float | None = None
    ) -> AccountRecord | None:
        # Read, then checked and written in one script: a put by another process in between is
        # overwritten, as it was by ``get`` followed by ``report``.
        record = change(await self.get(lease.account_id))
        return record if await self._write(lease, record, release_pause_s) else None

    async def _write(self, lease: Lease, record: AccountRecord, release_pause_s: float | None) -> bool:
        if record.id != lease.account_id:
            return False
        leases = self._leases
        keys = [leases.key(lease.account_id), self._key(record.id), self._p + "accounts", leases.released]
        args: list[Any] = [lease.fence, record.id, dump(replace(record, updated_at=time.time()))]
        if release_pause_s is not None:
            args.append(_ms(release_pause_s))
        return bool(await self._report(keys=keys, args=args))

    async def remove(self, account_id: str) -> bool:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(account_id))
            pipe.srem(self._p + "accounts", account_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)


class RedisKeys:
    """``KeyStore`` in Redis: records by name in one hash, names by digest in another."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._r = client
        self._names = prefix + "keys"
        self._digests = prefix + "key-digests"
        self._create = client.register_script(lua.CREATE_KEY)
        self._swap = client.register_script(lua.SWAP)

    async def create(self, name: str, limits: KeyLimits) -> tuple[ServiceKey, str]:
        key = new_service_key()
        record = ServiceKey(name, key_digest(key), key_prefix(key), limits, time.time())
        args: list[str | bytes] = [name, record.digest, dump(record)]
        if not await self._create(keys=[self._names, self._digests], args=args):
            raise KeyExistsError(f"a service key named {name!r} exists; revoke it first or pick another name")
        return record, key

    async def lookup(self, presented: str) -> ServiceKey | None:
        digest = key_digest(presented)
        name = await self._r.hget(self._digests, digest)
        record = None if name is None else await self.get(_text(name) or "")
        return record if record is not None and record.digest == digest else None

    async def get(self, name: str) -> ServiceKey | None:
        raw = await self._r.hget(self._names, name)
        return None if raw is None else load_key(raw)

    async def all(self) -> list[ServiceKey]:
        raws = await self._r.hgetall(self._names)
        return sorted((load_key(raw) for raw in raws.values()), key=lambda k: k.name)

    async def revoke(self, name: str) -> bool:
        for _ in range(8):  # compare-and-set: retried if another process changed the record meanwhile
            raw = await self._r.hget(self._names, name)
            record = None if raw is None else load_key(raw)
            if raw is None or record is None or record.revoked_at is not None:
                return False
            revoked = dump(replace(record, revoked_at=time.time()))
            if await self._swap(keys=[self._names], args=[name, raw, revoked]):
                return True
        return False


_COUNTERS = (("r", "requests"), ("i", "input_tokens"), ("o", "output_tokens"))


class RedisUsage:
    """``UsageStore`` in Redis: one hash per Principal and day, with totals and per-account fields."""

    def __init__(self, client: Redis, prefix: str, options: StoreOptions) -> None:
        self._r = client
        self._p = prefix
        self._keep_s = options.usage_days * 86400

    def _day_key(self, day: str, principal: str) -> str:
        return f"{self._p}usage:{day}:{principal}"

    async def record(
        self,
        principal: str,
        account_id: str,
        *,
        requests: int = 1,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        now = time.time()
        day = utc_day(now)
        key = self._day_key(day, principal)
        async with self._r.pipeline(transaction=True) as pipe:
            for (short, _), amount in zip(_COUNTERS, (requests, input_tokens, output_tokens), strict=True):
                pipe.hincrby(key, short, amount)
                pipe.hincrby(key, f"{short}:{account_id}", amount)
            pipe.expire(key, self._keep_s)
            pipe.sadd(f"{self._p}usage:{day}", principal)
            pipe.expire(f"{self._p}usage:{day}", self._keep_s)
            pipe.zadd(self._p + "usage-days", {day: 0})
            pipe.hset(self._p + "last-used", principal, repr(now))
            await pipe.execute()

    async def totals(self, principal: str, day: str | None = None) -> UsageTotals:
        key = self._day_key(day or utc_day(time.time()), principal)
        counts = await self._r.hmget(key, ["r", "i", "o"])
        last = await self._r.hget(self._p + "last-used", principal)
        r, i, o = (int(c or 0) for c in counts)
        return UsageTotals(r, i, o, None if last is None else float(last))

    async def rows(self, *, day: str | None = None, principal: str | None = None) -> list[UsageRow]:
        stored = await self._r.zrange(self._p + "usage-days", 0, -1)
        days = [day] if day else [_text(d) or "" for d in stored if isinstance(d, bytes | str)]
        result: list[UsageRow] = []
        for one_day in days:
            if principal is not None:
                principals = [principal]
            else:
                members = await self._r.smembers(f"{self._p}usage:{one_day}")
                principals = sorted(_text(m) or "" for m in members)
            for who in principals:
                fields = await self._r.hgetall(self._day_key(one_day, who))
                per_account: dict[str, dict[str, int]] = {}
                for name, value in fields.items():
                    short, sep, account_id = (_text(name) or "").partition(":")
                    if sep:
                        per_account.setdefault(account_id, {})[short] = int(value)
                for account_id in sorted(per_account):
                    c = per_account[account_id]
                    result.append(
                        UsageRow(one_day, who, account_id, c.get("r", 0), c.get("i", 0), c.get("o", 0))
                    )
        return result


class RedisRates:
    """``RateStore`` in Redis: a sorted set of hit times per Principal, one of tickets by expiry."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._p = prefix
        self._hit = client.register_script(lua.HIT)
        self._enter = client.register_script(lua.ENTER)
        self._r = client

    async def hit(self, principal: str, limit: int, window_s: float = 60.0) -> float | None:
        keys = [f"{self._p}rate:{principal}"]
        wait_ms = int(await self._hit(keys=keys, args=[limit, _ms(window_s), uuid.uuid4().hex]))
        return None if wait_ms < 0 else wait_ms / 1000

    async def enter(self, principal: str, limit: int, ticket: str, ttl_s: float) -> bool:
        keys = [f"{self._p}tickets:{principal}"]
        return bool(await self._enter(keys=keys, args=[limit, ticket, _ms(ttl_s)]))

    async def leave(self, principal: str, ticket: str) -> None:
        await self._r.zrem(f"{self._p}tickets:{principal}", ticket)


class RedisConversations:
    """``ConversationStore`` in Redis, the newest ``max_moves`` moves."""

    def __init__(self, client: Redis, prefix: str, options: StoreOptions) -> None:
        self._r = client
        self._keys = [prefix + "moves", prefix + "moves-order", prefix + "moves-seq"]
        self._max = options.max_moves
        self._moved = client.register_script(lua.MOVED)

    async def moved(self, session_id: str, old: int, new: int) -> None:
        await self._moved(keys=self._keys, args=[f"{session_id}:{old}", new, self._max])

    async def follow(self, session_id: str, message_id: int) -> int:
        for _ in range(MAX_MOVE_HOPS):
            moved = await self._r.hget(self._keys[0], f"{session_id}:{message_id}")
            if moved is None:
                break
            message_id = int(moved)
        return message_id


class RedisResponses:
    """``ResponseStore`` in Redis: a hash per response, sorted sets by use, expiry and owner."""

    def __init__(self, client: Redis, prefix: str, limits: ResponseLimits) -> None:
        self._p = prefix
        self._limits = limits
        self._keys = [
            prefix + "resp-by-use",
            prefix + "resp-by-expiry",
            prefix + "resp-bytes",
            prefix + "resp-seq",
        ]
        self._put = client.register_script(lua.PUT_RESPONSE)
        self._get = client.register_script(lua.GET_RESPONSE)
        self._delete = client.register_script(lua.DELETE_RESPONSE)

    @property
    def limits(self) -> ResponseLimits:
        """Its bounds."""
        return self._limits

    async def put(self, response: StoredResponse) -> None:
        now = time.time()
        limits = self._limits
        expires_at = now + limits.ttl_s if response.expires_at is None else response.expires_at
        args: list[str | bytes | int] = [
            self._p,
            response.id,
            response.owner,
            response.body,
            response.conversation,
            response.size,
            _ms(response.created_at or now),
            _ms(expires_at),
            limits.max_count,
            limits.max_bytes,
            limits.max_per_owner,
        ]
        await self._put(keys=self._keys, args=args)

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        got = await self._get(keys=self._keys, args=[self._p, response_id, owner])
        if not got:
            return None
        body, conversation, created, expires = got
        return StoredResponse(
            response_id, owner, body, conversation, int(created) / 1000, int(expires) / 1000
        )

    async def delete(self, response_id: str, owner: str) -> bool:
        return bool(await self._delete(keys=self._keys, args=[self._p, response_id, owner]))
