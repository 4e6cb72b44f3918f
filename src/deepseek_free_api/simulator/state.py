"""The simulator's mutable world: accounts, sessions and their message trees, files, generations.

Everything here is touched only from the server's event loop, so it needs no locks; the
single-flight rule holds because the busy check and the claim happen without an ``await``
between them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .calls import CallCount
from .config import AccountConfig, SimulatorConfig
from .replies import ReplyPlan, TurnFacts

# The 2026 signals an account is scripted with (simulator/signals.py), as in its configuration.
SIGNAL_FIELDS = (
    "disabled",
    "ban_signal",
    "mute_signal",
    "throttle_burst",
    "throttle_window_seconds",
    "throttle_signal",
)


@dataclass
class Account:
    """Runtime state of one account."""

    id: str
    token: str | None
    email: str | None
    mobile: str | None
    password: str | None
    muted_until: float = 0.0
    banned: bool = False
    revoked: bool = False
    rate_limited: bool = False
    edge_block: str = ""
    disabled: bool = False
    ban_signal: str = "empty"
    mute_signal: str = "biz_code"
    throttle_burst: int | None = None
    throttle_window_seconds: float | None = None
    throttle_signal: str = "error"
    generation: Generation | None = None
    recent: deque[float] = field(default_factory=deque)
    completions: int = 0
    logins: int = 0

    @classmethod
    def from_config(cls, config: AccountConfig) -> Account:
        """Fresh runtime state from the configuration."""
        return cls(
            id=config.id,
            token=config.token,
            email=config.email,
            mobile=config.mobile,
            password=config.password,
            muted_until=config.muted_until,
            banned=config.banned,
            revoked=config.revoked,
            rate_limited=config.rate_limited,
            edge_block=config.edge_block,
            **{name: getattr(config, name) for name in SIGNAL_FIELDS},
        )

    def is_muted(self) -> bool:
        """Whether completions are refused right now (biz_code 5)."""
        return self.muted_until > time.time()

    def busy(self) -> Generation | None:
        """The generation that occupies this account, if any."""
        gen = self.generation
        if gen is not None and gen.busy_until is not None and gen.busy_until <= time.monotonic():
            gen.reach_deadline()  # its timer is due but has not run yet
        return self.generation

    def release(self) -> None:
        """Stop the running generation, if any, and free the account."""
        if self.generation is not None:
            self.generation.stop()
            self.generation = None

    def describe(self) -> dict[str, Any]:
        """JSON view for /_sim/state (no token or password)."""
        gen = self.busy()
        return {
            "id": self.id,
            "email": self.email,
            "mobile": self.mobile,
            "has_token": bool(self.token),
            "muted_until": self.muted_until,
            "muted": self.is_muted(),
            "banned": self.banned,
            "revoked": self.revoked,
            "rate_limited": self.rate_limited,
            "edge_block": self.edge_block,
            **{name: getattr(self, name) for name in SIGNAL_FIELDS},
            "completions": self.completions,
            "logins": self.logins,
            "generation": gen.describe() if gen else None,
        }


@dataclass
class Message:
    """A node of a session's message tree."""

    message_id: int
    parent_id: int | None
    role: str  # USER or ASSISTANT
    inserted_at: float
    generation: int = 3
    # USER turns: what was asked (regenerate asks it again).
    prompt: str = ""
    files: list[str] = field(default_factory=list)
    model_type: str = "default"
    thinking: bool = False
    search: bool = False
    # ASSISTANT turns: the reply as sent so far, and what rebuilds its stream.
    tree: dict[str, Any] = field(default_factory=dict)  # {"response": {...}}
    plan: ReplyPlan | None = None
    facts: TurnFacts | None = None
    delivered: int = 0  # body frames already sent (for continue)

    @property
    def status(self) -> str:
        """WIP, FINISHED, INCOMPLETE or CONTENT_FILTER (USER turns are FINISHED)."""
        return str(self.tree.get("response", {}).get("status", "FINISHED"))


@dataclass
class Session:
    """A chat session of one account."""

    id: str
    seq_id: int
    account_id: str
    inserted_at: float
    updated_at: float
    model_type: str = "default"
    title: str | None = None
    current_message_id: int | None = None
    messages: dict[int, Message] = field(default_factory=dict)
    ref_file_ids: list[str] = field(default_factory=list)
    last_id: int = 0
    chars: int = 0  # what its messages cost (retention.py)

    def next_ids(self) -> tuple[int, int]:
        """Request and response ids of the next turn (1/2, then 3/4 …)."""
        self.last_id += 2
        return self.last_id - 1, self.last_id

    def next_id(self) -> int:
        """One new message id (a regenerated answer)."""
        self.last_id += 1
        return self.last_id


@dataclass
class Generation:
    """An in-flight generation on one account, with or without a client reading it."""

    account_id: str
    session_id: str
    message_id: int
    kind: str
    started: float = field(default_factory=time.time)
    stopped: bool = False
    # Set when the client left and upstream generates on: wall time it left, when it will end
    # (wall and monotonic), and the one timer that ends it.
    client_left: float | None = None
    ends_at: float | None = None
    busy_until: float | None = None
    on_deadline: Callable[[], None] | None = field(default=None, repr=False)
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def generate_on(self, seconds: float, on_deadline: Callable[[], None]) -> None:
        """Go on without a client for ``seconds``, then call ``on_deadline`` (once)."""
        self.client_left = time.time()
        self.ends_at = self.client_left + seconds
        self.busy_until = time.monotonic() + seconds
        self.on_deadline = on_deadline
        self.timer = asyncio.get_running_loop().call_later(seconds, self.reach_deadline)

    def reach_deadline(self) -> None:
        """End a generation that went on without its client (by its timer or a late busy check)."""
        callback, self.on_deadline = self.on_deadline, None
        self.stop()
        if callback is not None:
            callback()

    def stop(self) -> None:
        """No more frames, and no timer left behind."""
        self.stopped = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def describe(self) -> dict[str, Any]:
        """JSON view."""
        return {
            "session_id": self.session_id,
            "message_id": self.message_id,
            "kind": self.kind,
            "started": self.started,
            "stopped": self.stopped,
            "client_connected": self.client_left is None,
            "client_left": self.client_left,
            "ends_at": self.ends_at,
        }


@dataclass
class FileRecord:
    """An uploaded file."""

    id: str
    account_id: str
    file_name: str
    file_size: int
    is_image: bool
    model_kind: str
    uploaded: float
    failure: str | None  # error_code when parsing will fail
    parse_seconds: float = 1.0


@dataclass
class World:
    """All mutable simulator state; rebuilt by /_sim/reset."""

    config: SimulatorConfig
    accounts: dict[str, Account] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)
    requests: deque[dict[str, Any]] = field(default_factory=deque)
    violations: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    calls: CallCount = field(default_factory=CallCount)  # in flight now and at most
    seq: int = 0
    session_chars: int = 0  # the sum of the sessions' ``chars``
    _logged_sizes: deque[int] = field(default_factory=deque, repr=False)
    _logged_bytes: int = 0

    # token -> account: found by dictionary, not by a scan (49-76 µs a call with 1,000 accounts)
    _tokens: dict[str, Account] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for account in self.config.accounts:
            self.accounts[account.id] = Account.from_config(account)
            if account.token:
                self._tokens[account.token] = self.accounts[account.id]

    def log_request(self, entry: dict[str, Any], size: int) -> None:
        """Keep ``entry`` (a request of ``size`` bytes) for /_sim/requests; the oldest go past the limits."""
        limit, budget = self.config.request_log_limit, self.config.request_log_bytes
        while self.requests and (len(self.requests) >= limit or self._logged_bytes + size > budget):
            self.requests.popleft()
            self._logged_bytes -= self._logged_sizes.popleft()
        self.requests.append(entry)
        self._logged_sizes.append(size)
        self._logged_bytes += size

    def count(self, name: str, amount: int = 1) -> None:
        """Bump a counter shown in /_sim/state."""
        self.counters[name] = self.counters.get(name, 0) + amount

    def by_token(self, token: str) -> Account | None:
        """The account holding ``token`` (revoked ones included)."""
        account = self._tokens.get(token)
        return account if account is not None and account.token == token else None

    def set_token(self, account: Account, token: str) -> None:
        """Give ``account`` a new token (a login); its old one stops working."""
        if account.token is not None and self._tokens.get(account.token) is account:
            del self._tokens[account.token]
        account.token = token
        self._tokens[token] = account

    def new_session(self, account_id: str) -> Session:
        """Create and register a session."""
        self.seq += 1
        now = time.time()
        session = Session(str(uuid.uuid4()), self.seq, account_id, now, now)
        self.sessions[session.id] = session
        return session

    def drop_session(self, session_id: str) -> None:
        """Forget a session (deleted, expired or reclaimed)."""
        session = self.sessions.pop(session_id, None)
        if session is not None:
            self.session_chars -= session.chars
