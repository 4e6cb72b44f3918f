"""The store seam: async protocols for state that outlives a request, and the records they keep.

Every record is a frozen dataclass of plain values (str, int, float, bool, None, tuples of them,
bytes of JSON text) with wall-clock times in epoch seconds, so that a memory, SQLite or Redis
backend keeps exactly the same thing and another process or a restart reads it back unchanged.
No record holds a Python object, attachment bytes or a service key in clear (keys are kept as a
SHA-256 digest). DeepSeek tokens must be sent to DeepSeek as they are, so ``AccountRecord`` keeps
the current token; it never appears in a ``repr`` and the stores never log it.

Fencing: every lease carries a ``fence`` number that grows with each lease of the same account.
A lease whose ``expires_at`` has passed is dead: it can no longer be renewed, released or used to
report on its account, whether or not another lease took the account since; only a newer lease
can. Times of leases and rate windows come from one clock per store (Redis: the server's).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

KeyState = Literal["active", "revoked", "expired"]
AccountOrigin = Literal["config", "added"]  # from the configuration at start, or ``accounts add``


class StoreError(Exception):
    """The store cannot be opened or used (bad URL, unreachable server, newer schema)."""


class KeyExistsError(StoreError):
    """An active service key already has this name."""


# ---- leases ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Orphan:
    """A generation that a dead lease left running upstream: stop it before the next one starts."""

    session_id: str
    message_id: int | None  # None: the completion was requested but its message id not yet seen
    owner: str
    fence: int


@dataclass(frozen=True, slots=True)
class Lease:
    """Exclusive use of one account until ``expires_at`` (epoch seconds), unless renewed."""

    account_id: str
    owner: str
    fence: int
    acquired_at: float
    expires_at: float
    session_id: str | None = None  # the generation running on the lease, once requested
    message_id: int | None = None
    # On a fresh lease: what the dead lease before it was generating (see ``Orphan``).
    orphan: Orphan | None = None


@dataclass(frozen=True, slots=True)
class LeaseSlot:
    """One account as the lease store sees it: its live lease, and when a new one may start."""

    account_id: str
    holder: Lease | None  # None: free (never leased, released, or its lease expired)
    free_at: float  # epoch seconds: the pause after the last release (pacing) ends


class LeaseStore(Protocol):
    """Exclusive, fenced, expiring leases on accounts, shared by every process of the store."""

    async def acquire(self, candidates: Sequence[str], owner: str, ttl_s: float) -> Lease | None:
        """A lease on the first of ``candidates`` (in the given order) that is free now, or None.

        Free: no live lease, and its pause after the last release is over. Never waits: a caller
        that gets None waits locally and tries again when ``wait_released`` says so.
        """
        ...

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """The lease with ``expires_at`` moved ``ttl_s`` ahead; None if it is dead or superseded."""
        ...

    async def renew_all(self, leases: Sequence[Lease], ttl_s: float) -> list[Lease | None]:
        """``renew`` of each lease, in one round trip to the store (the keeper's every few seconds).

        One call per lease in a row took longer than a TTL under load with a few hundred leases
        held: every call waited its turn behind the requests' own.
        """
        ...

    async def note_generation(self, lease: Lease, session_id: str, message_id: int | None) -> Lease | None:
        """Record the generation running on ``lease`` (for whoever takes the account after a crash)."""
        ...

    async def release(self, lease: Lease, *, pause_s: float = 0.0) -> bool:
        """End ``lease``; the account is free again after ``pause_s``. False if it was already dead."""
        ...

    async def slots(self, account_ids: Collection[str] | None = None) -> list[LeaseSlot]:
        """The lease state of these accounts (every account ever leased if None)."""
        ...

    async def wait_released(self, since: int, timeout_s: float) -> int:
        """Return the release count once it differs from ``since``, or after ``timeout_s`` anyway.

        Every release in any process sharing the store adds one. A lease that expires releases
        nothing: waiters compute that time themselves from ``slots``.
        """
        ...


# ---- accounts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """What is known of one account beyond the configuration: token, health and its reasons."""

    id: str
    token: str | None = field(default=None, repr=False)  # the current one (e.g. after a login)
    token_updated_at: float | None = None
    needs_login: bool = False
    invalid_reason: str | None = None
    invalid_until: float | None = None  # with a reason: when it is tried again; None = only by an operator
    mute_until: float = 0.0
    cooldown_until: float = 0.0
    last_used_at: float | None = None
    successes: int = 0
    errors: int = 0
    last_error: str | None = None  # an error class name, never a message with a secret in it
    last_error_at: float | None = None
    # The health condition (accounts/condition.py) and its last change: what DeepSeek said of the
    # account (muted, banned…), why, since and until when (epoch seconds).
    condition: str = "healthy"
    condition_reason: str | None = None
    condition_at: float | None = None
    condition_until: float | None = None
    throttle_streak: int = 0
    updated_at: float = 0.0
    # How the account logs in, for accounts added by ``accounts add`` (config accounts come from
    # the configuration at each start). The password is needed to log in again, like the token.
    email: str | None = None
    mobile: str | None = None
    area_code: str | None = None
    password: str | None = field(default=None, repr=False)
    proxy: str | None = field(default=None, repr=False)  # http(s):// or socks5:// URL, may hold a password
    # The account's own X-Client-Locale and X-Client-Timezone-Offset (seconds east, or "auto");
    # None: the server's persona.* (records written before they existed read as None).
    locale: str | None = None
    timezone_offset: int | str | None = None
    origin: AccountOrigin = "config"
    checked_at: float | None = None  # the last ``accounts check``
    canary: str | None = None  # the last canary run as JSON (canary.py): verdict, checks, evidence


# A record from the one stored (None: none yet), for ``AccountStore.amend``.
RecordChange = Callable[[AccountRecord | None], AccountRecord]


class AccountStore(Protocol):
    """Account records; the holder of a live lease is the only one whose reports land."""

    async def get(self, account_id: str) -> AccountRecord | None:
        """The record of this account, if any."""
        ...

    async def all(self) -> list[AccountRecord]:
        """Every record, ordered by id."""
        ...

    async def put(self, record: AccountRecord) -> None:
        """Write ``record`` whatever leases say (start-up merge, an operator's command)."""
        ...

    async def report(self, lease: Lease, record: AccountRecord) -> bool:
        """Write ``record`` (of ``lease.account_id``) only while ``lease`` is live; False otherwise."""
        ...

    async def amend(
        self, lease: Lease, change: RecordChange, *, release_pause_s: float | None = None
    ) -> AccountRecord | None:
        """Write ``change(stored record)`` while ``lease`` is live, and release it if asked, in one step.

        Returns the record written. With ``release_pause_s`` the lease also ends, as by
        ``LeaseStore.release(pause_s=release_pause_s)``: the end of a turn is one transaction.
        None, with nothing written and nothing released, if the lease was dead (or ``change``
        gave another account's record). ``change`` must be pure: a backend may call it twice
        (SQLite, when its first try found the file locked). SQLite and memory read the stored
        record in the same step; Redis reads it in a round trip of its own before the script that
        checks the lease, writes and releases.
        """
        ...

    async def remove(self, account_id: str) -> bool:
        """Forget this account's record; False if there was none."""
        ...


# ---- service keys, usage and limits ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """What one service key may do; None or empty means no limit."""

    rpm: int | None = None  # requests per rolling minute
    concurrency: int | None = None  # requests in flight at once
    tokens_per_day: int | None = None  # input + output tokens per UTC day
    models: tuple[str, ...] = ()  # fnmatch patterns of model names (``deepseek-v4-*``)
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """A service key as stored: its name (the Principal), a digest of the key, its limits."""

    name: str
    digest: str  # SHA-256 hex of the key; the key itself is shown once, at creation
    prefix: str  # the first 4 characters after ``sk-``, to tell keys apart in a list
    limits: KeyLimits
    created_at: float
    revoked_at: float | None = None

    def state(self, now: float) -> KeyState:
        """Whether the key lets its holder in at epoch time ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.limits.expires_at is not None and self.limits.expires_at <= now:
            return "expired"
        return "active"


class KeyStore(Protocol):
    """Service keys, kept by name and by digest."""

    async def create(self, name: str, limits: KeyLimits) -> tuple[ServiceKey, str]:
        """A new key named ``name`` and the key itself, which is not kept; KeyExistsError if taken.

        A revoked key's name may be used again: the new key replaces the revoked record.
        """
        ...

    async def lookup(self, presented: str) -> ServiceKey | None:
        """The record of the presented key (active, revoked or expired), None if unknown."""
        ...

    async def get(self, name: str) -> ServiceKey | None:
        """The key with this name, if any."""
        ...

    async def all(self) -> list[ServiceKey]:
        """Every key, ordered by name."""
        ...

    async def revoke(self, name: str) -> bool:
        """Revoke the key named ``name`` at once; False if there is no active key of that name."""
        ...


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Counters of one Principal on one account on one UTC day (``YYYY-MM-DD``)."""

    day: str
    principal: str
    account_id: str
    requests: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """A Principal's counters summed over accounts, and when it was last used at all."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    last_used_at: float | None = None

    @property
    def tokens(self) -> int:
        """Input and output tokens together (what ``tokens_per_day`` counts)."""
        return self.input_tokens + self.output_tokens


class UsageStore(Protocol):
    """Atomic usage counters per Principal, account and UTC day; they survive restarts."""

    async def record(
        self,
        principal: str,
        account_id: str,
        *,
        requests: int = 1,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        """Add to today's counters (``account_id`` may be ``""`` for requests no account served)."""
        ...

    async def totals(self, principal: str, day: str | None = None) -> UsageTotals:
        """The Principal's counters on ``day`` (today, UTC, if None)."""
        ...

    async def rows(self, *, day: str | None = None, principal: str | None = None) -> list[UsageRow]:
        """Counters, filtered by day and Principal, ordered by day, Principal and account."""
        ...


class RateStore(Protocol):
    """Request-rate and concurrency windows per Principal, counted across processes."""

    async def hit(self, principal: str, limit: int, window_s: float = 60.0) -> float | None:
        """Count one request if fewer than ``limit`` fell in the last ``window_s``: None.

        Otherwise count nothing and return the seconds until one more would be allowed.
        """
        ...

    async def enter(self, principal: str, limit: int, ticket: str, ttl_s: float) -> bool:
        """Take one of ``limit`` concurrent places under ``ticket`` for ``ttl_s``; False if all are taken.

        Entering again with the same ticket renews it; a holder that dies frees its place after ``ttl_s``.
        """
        ...

    async def leave(self, principal: str, ticket: str) -> None:
        """Give the place of ``ticket`` back (idempotent)."""
        ...


# ---- conversations and stored responses --------------------------------------------------------


# ``chat/continue`` moves one answer at most ``chat.continue_max_rounds`` times; a chain longer than
# this is a loop or garbage, and following it stops there.
MAX_MOVE_HOPS = 64


class ConversationStore(Protocol):
    """Answers that ``chat/continue`` moved to a new message id after the caller got the first one."""

    async def moved(self, session_id: str, old: int, new: int) -> None:
        """The answer known as ``old`` went on under ``new``."""
        ...

    async def follow(self, session_id: str, message_id: int) -> int:
        """The message id an answer known as ``message_id`` ended up under (itself if never moved)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A stored OpenAI response: the JSON body, and the conversation up to it as JSON.

    The conversation names attachments by the file ids DeepSeek returned, never by their bytes.
    """

    id: str
    owner: str  # the Principal that created it: another one is told "not found"
    body: bytes = field(repr=False)  # UTF-8 JSON
    conversation: bytes = field(repr=False)  # UTF-8 JSON
    created_at: float = 0.0
    expires_at: float | None = None

    @property
    def size(self) -> int:
        """The bytes it holds, as the store's byte bound counts them."""
        return len(self.body) + len(self.conversation) + len(self.id) + len(self.owner)


class ResponseStore(Protocol):
    """Stored responses, bounded in count, bytes and per owner, each for at most a TTL."""

    @property
    def limits(self) -> ResponseLimits:
        """Its bounds (a chain of responses read back is never longer than ``max_count``)."""
        ...

    async def put(self, response: StoredResponse) -> None:
        """Keep ``response`` (replacing one with its id); least recently used ones go first.

        The newest is always kept, even alone above the byte bound: its caller was just given its id.
        """
        ...

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        """The response if it exists, has not expired and belongs to ``owner``; else None."""
        ...

    async def delete(self, response_id: str, owner: str) -> bool:
        """Delete the owner's response; False if there was none."""
        ...


@dataclass(frozen=True, slots=True)
class ReusableSession:
    """A conversation this server answered, kept so that its next turn goes on in the same session.

    ``key`` is a digest of the caller and of the conversation up to and including the answer
    (``chat.prefix``); ``reply_id`` is the answer's reply id (``chat.conversations``: session,
    message, account key and the owner's mark), ``tokens`` the session's size so far. ``taken``:
    a request went on from that answer already (``ReuseStore.take``); its reply id and size may be
    blank then, since nobody else may go on from there.
    """

    key: str
    reply_id: str
    tokens: int = 0
    expires_at: float = 0.0  # epoch seconds; set by the store from its TTL
    taken: bool = False


class ReuseStore(Protocol):
    """Reusable sessions by conversation digest, bounded in count (oldest go first) and in time."""

    async def keep(self, session: ReusableSession) -> None:
        """Keep ``session`` under its key (replacing one there) for the store's TTL."""
        ...

    async def find(self, key: str) -> ReusableSession | None:
        """The session kept under ``key`` (``taken`` or not), unless it expired or was evicted."""
        ...

    async def take(self, key: str) -> ReusableSession | None:
        """The session kept under ``key``, marked taken in the same atomic step; None if none.

        Exactly one caller (of every process sharing the store) gets it with ``taken`` False after
        it was kept: the one that may go on from its answer. Later callers get it with ``taken``
        True, until ``keep`` gives it back or puts a new session under the key. Two requests going
        on from one answer would fork the DeepSeek session, which the web app never does.
        """
        ...


@dataclass(frozen=True, slots=True)
class ReuseLimits:
    """Bounds of the reuse store (``chat.session_reuse_max_count``, ``chat.session_reuse_ttl_s``)."""

    max_count: int = 10_000
    ttl_s: float = 86400.0

    def __post_init__(self) -> None:
        if self.max_count < 1 or self.ttl_s <= 0:
            raise ValueError("reuse store bounds must be positive")


@dataclass(frozen=True, slots=True)
class ResponseLimits:
    """Bounds of the response store."""

    max_count: int = 1024
    max_bytes: int = 64 * 1024 * 1024
    max_per_owner: int = 256
    ttl_s: float = 30 * 24 * 3600.0

    def __post_init__(self) -> None:
        if min(self.max_count, self.max_bytes, self.max_per_owner) < 1 or self.ttl_s <= 0:
            raise ValueError("response store bounds must be positive")


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """Tunables shared by every backend (the defaults suit a server)."""

    responses: ResponseLimits = ResponseLimits()
    reuse: ReuseLimits = ReuseLimits()
    max_moves: int = 100_000  # conversation moves kept, oldest forgotten first
    usage_days: int = 400  # days of usage counters kept
    poll_s: float = 0.1  # SQLite: how often a waiter looks for releases by other processes


# ---- helpers every backend shares --------------------------------------------------------------

KEY_PREFIX = "sk-"


def new_service_key() -> str:
    """A fresh service key: ``sk-`` and 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    """The digest a key is stored and looked up by (SHA-256: keys are random, so no slow hash is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    """The 4 characters a key list shows (after ``sk-``)."""
    return key.removeprefix(KEY_PREFIX)[:4]


def utc_day(epoch: float) -> str:
    """The UTC day of an epoch time, as usage counters name it."""
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))
