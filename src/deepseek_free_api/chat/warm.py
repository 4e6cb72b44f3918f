"""Warm accounts: the next chat session and the next proof of work, prepared off the request path.

A new conversation needs ``chat_session/create`` (PROTOCOL.md §4.1) and a solved challenge for
``chat/completion`` (§3) before ``chat/completion`` itself. ``WarmAccounts`` keeps one of each
ready per account, so a warm turn makes exactly one upstream call before its first token. Both
are used at most once; ``refill`` prepares the next pair once the completion is on the wire.

Background work is bounded: its upstream calls (session creations, challenge fetches, deletions)
run ``concurrency`` at a time in all (``pool.prepare_concurrency``), and PoW solving goes through
``PowPresolver``'s line and its single low-priority solving thread, so warming 1,000 accounts at
start-up queues the work instead of sending DeepSeek a burst. A failure in the background is not
raised there: the request that needs the item creates it in the foreground and sees the error.

Unused pre-created sessions (decision, 2026-11): they are **deleted, best effort**, when
``aclose`` runs (within ``close_timeout_s`` overall, ``concurrency`` at a time), when ``forget``
drops an account, and when one is replaced for being older than ``session_max_age_s``. Nothing
outlives the process to reuse them after a restart, and an empty session left behind would sit
in the account's history until DeepSeek expires it (``ttl_seconds`` 259 200 s, §4.1). Deletes
that fail or do not finish in time are logged and left to that expiry; so is a creation still
in flight when ``aclose`` cancels it.

A creation is owned from before it is sent: a request that leaves (client gone, timeout) while
its session is being created, in the background or in the foreground, does not cancel the call;
the session is kept as the account's next one when it arrives, or deleted when the account has
one already, was forgotten, or sessions are not kept (``chat.session_delete = "delete"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from deepseek_free_api.errors import InvalidTokenError
from deepseek_free_api.upstream.client import COMPLETION_PATH, Identity
from deepseek_free_api.upstream.pow import BackgroundSolver, PowChallenge, PowPresolver

log = logging.getLogger(__name__)

IdentityOf = Callable[[str], Identity | None]

# Sessions live 259 200 s upstream (§4.1); a reserved one older than a day is replaced.
DEFAULT_SESSION_MAX_AGE_S = 86_400.0
DEFAULT_CONCURRENCY = 8
DEFAULT_CLOSE_TIMEOUT_S = 5.0
DELETE_TIMEOUT_S = 10.0


class WarmClient(Protocol):
    """The upstream calls warming needs (``upstream.client.DeepSeekClient`` has them)."""

    async def create_session(self, identity: Identity) -> str: ...
    async def create_pow_challenge(self, identity: Identity, target_path: str) -> Mapping[str, Any]: ...
    async def delete_session(self, identity: Identity, session_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class _Reserved:
    """A session created ahead of its turn, with the identity that created it."""

    identity: Identity
    session_id: str
    created_at: float


@dataclass(eq=False, slots=True)
class _Pending:
    """A background creation; ``started`` once it left the line."""

    task: asyncio.Task[_Reserved] | None = None
    started: bool = False


class WarmAccounts:
    """Per account, the next chat session and the next ``chat/completion`` PoW, each used once."""

    def __init__(
        self,
        client: WarmClient,
        identity_of: IdentityOf,
        *,
        sessions: bool = True,
        concurrency: int = DEFAULT_CONCURRENCY,
        session_max_age_s: float = DEFAULT_SESSION_MAX_AGE_S,
        close_timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S,
        pow_solver: BackgroundSolver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._identity_of = identity_of
        self._keep_sessions = sessions
        self._line = asyncio.Semaphore(concurrency)
        self._session_max_age_s = session_max_age_s
        self._close_timeout_s = close_timeout_s
        self._clock = clock
        self._pow = PowPresolver(
            self._fetch_challenge, background=pow_solver, concurrency=concurrency, clock=clock
        )
        self._sessions: dict[str, _Pending] = {}
        self._orphans: set[asyncio.Task[_Reserved]] = set()  # creations whose request left
        self._deletes: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- the request path -------------------------------------------------------------------

    async def session(self, account_id: str, identity: Identity) -> str:
        """A new chat session for this turn: the reserved one, or one created now (errors raise)."""
        pending = self._sessions.pop(account_id, None)
        if pending is not None:
            reserved = await self._claim(account_id, pending)
            if reserved is not None:
                if reserved.identity == identity and not self._too_old(reserved):
                    return reserved.session_id
                if reserved.identity != identity:  # the token changed: the PoW is the old one's too
                    self._pow.forget(account_id)
                self._delete_later(reserved)  # another token's, or stale: never handed out
        task = asyncio.create_task(self._create_now(identity), name="session-create")
        return (await self._own(account_id, task)).session_id

    async def pow_header(self, account_id: str, identity: Identity, target_path: str) -> str:
        """A fresh ``X-Ds-Pow-Response`` for ``target_path``, never reused (solved now if none is ready)."""

        async def fetch_now() -> PowChallenge:
            return PowChallenge.from_json(await self._client.create_pow_challenge(identity, target_path))

        answer = await self._pow.take(account_id, target_path, refill=False, fetch=fetch_now)
        return answer.header()

    def ready(self, account_id: str) -> bool:
        """True when a turn on this account would make no call before ``chat/completion``."""
        if not self._pow.ready(account_id, COMPLETION_PATH):
            return False
        if not self._keep_sessions:
            return True
        pending = self._sessions.get(account_id)
        task = pending.task if pending is not None else None
        return task is not None and task.done() and not task.cancelled() and task.exception() is None

    # -- off the request path ---------------------------------------------------------------

    def warm(self, account_id: str) -> None:
        """Start preparing this account's next session and PoW, unless they are on their way."""
        if self._closed:
            return
        self._pow.warm(account_id, COMPLETION_PATH)
        if self._keep_sessions and account_id not in self._sessions:
            pending = _Pending()
            pending.task = asyncio.create_task(self._create(account_id, pending), name="warm-session")
            self._sessions[account_id] = pending

    def refill(self, account_id: str) -> None:
        """Prepare the next pair after a turn took them (call once its completion is on the wire)."""
        self.warm(account_id)

    def pow_rejected(self) -> None:
        """DeepSeek refused a proof of work (40301): the prepared ones are stale too (presolver)."""
        dropped = self._pow.rejected()
        log.info("proof of work refused by DeepSeek: %d prepared answer(s) dropped and fetched anew", dropped)

    def forget(self, account_id: str) -> None:
        """Drop everything prepared or queued for this account (removed, evicted, new token)."""
        self._pow.forget(account_id)
        pending = self._sessions.pop(account_id, None)
        if pending is not None and pending.task is not None:
            reserved = _result(pending.task)
            if reserved is not None:
                self._delete_later(reserved)
            elif pending.started and not pending.task.done():
                self._orphan(account_id, pending.task, keep=False)  # on its way: delete it when it comes
            elif not pending.task.done():
                pending.task.cancel()  # still in line: nothing was sent

    async def aclose(self) -> None:
        """Cancel background work and delete unused reserved sessions (bounded; see module doc)."""
        self._closed = True
        await self._pow.aclose()
        pendings = [p.task for p in self._sessions.values() if p.task is not None]
        pendings += self._orphans
        self._sessions.clear()
        self._orphans.clear()
        for task in pendings:
            reserved = _result(task)
            if reserved is not None:
                self._delete_later(reserved)
            elif not task.done():
                task.cancel()
        for task in pendings:
            with contextlib.suppress(BaseException):
                await task
        if not self._deletes:
            return
        _, unfinished = await asyncio.wait(self._deletes, timeout=self._close_timeout_s)
        for delete in unfinished:
            delete.cancel()
        if unfinished:
            await asyncio.wait(unfinished)
            log.warning(
                "left %d unused pre-created session(s) upstream; DeepSeek expires them", len(unfinished)
            )

    # -- internals --------------------------------------------------------------------------

    async def _claim(self, account_id: str, pending: _Pending) -> _Reserved | None:
        """The pending creation's session, or None when a request should create one itself."""
        task = pending.task
        assert task is not None
        if not pending.started:
            task.cancel()  # still in line behind other accounts: creating now is quicker
            return None
        try:
            return await self._own(account_id, task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            return None
        except Exception as exc:  # the background error; the foreground call reports its own
            log.info("pre-creating a chat session failed (%s); creating one now", exc)
            return None

    async def _own(self, account_id: str, task: asyncio.Task[_Reserved]) -> _Reserved:
        """Wait for a creation; if the caller leaves meanwhile, the session is kept or deleted."""
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling() and not task.cancelled():
                self._orphan(account_id, task, keep=True)
            raise

    def _orphan(self, account_id: str, task: asyncio.Task[_Reserved], *, keep: bool) -> None:
        """A creation nobody waits for: when it ends, keep its session as the next one, or delete it."""
        self._orphans.add(task)

        def adopt(done: asyncio.Task[_Reserved]) -> None:
            self._orphans.discard(done)
            reserved = _result(done)
            if reserved is None or self._closed:
                return  # failed or cancelled; or closing, and ``aclose`` saw it
            usable = keep and self._keep_sessions and self._identity_of(account_id) == reserved.identity
            if usable and account_id not in self._sessions:
                self._sessions[account_id] = _Pending(done, started=True)
            else:
                self._delete_later(reserved)

        task.add_done_callback(adopt)

    async def _create_now(self, identity: Identity) -> _Reserved:
        return _Reserved(identity, await self._client.create_session(identity), self._clock())

    async def _create(self, account_id: str, pending: _Pending) -> _Reserved:
        async with self._line:
            pending.started = True
            identity = self._identity(account_id)
            session_id = await self._client.create_session(identity)
            return _Reserved(identity, session_id, self._clock())

    async def _fetch_challenge(self, account_id: str, target_path: str) -> PowChallenge:
        async with self._line:  # the presolver's background fetches share the sessions' line
            identity = self._identity(account_id)
            return PowChallenge.from_json(await self._client.create_pow_challenge(identity, target_path))

    def _identity(self, account_id: str) -> Identity:
        identity = self._identity_of(account_id)
        if identity is None or not identity.token:
            raise InvalidTokenError(f"account {account_id} has no token to prepare a turn with")
        return identity

    def _too_old(self, reserved: _Reserved) -> bool:
        return self._clock() - reserved.created_at > self._session_max_age_s

    def _delete_later(self, reserved: _Reserved) -> None:
        task = asyncio.create_task(self._delete(reserved), name="warm-session-delete")
        self._deletes.add(task)
        task.add_done_callback(self._deletes.discard)

    async def _delete(self, reserved: _Reserved) -> None:
        try:
            async with self._line:
                await asyncio.wait_for(
                    self._client.delete_session(reserved.identity, reserved.session_id), DELETE_TIMEOUT_S
                )
        except Exception as exc:  # noqa: BLE001 - housekeeping; DeepSeek expires it anyway
            log.info("deleting unused session %s failed: %s", reserved.session_id, exc)


def _result(task: asyncio.Task[_Reserved]) -> _Reserved | None:
    """A finished creation's session; None if it is running, failed (marked seen) or cancelled."""
    if not task.done() or task.cancelled():
        return None
    if task.exception() is not None:
        return None
    return task.result()
