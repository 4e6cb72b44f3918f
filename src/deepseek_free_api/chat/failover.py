"""The failover loop: pick an account, run one turn on it, and try another when that is safe.

A retryable failure before anything reached the caller is tried again on another account, with
backoff; the failed account's lease is released (or parked) before the backoff, so nobody waits
for an account nobody uses. The server's own accounts failing for their own reasons (revoked,
banned, login failed) are failed over regardless, and when none is left the caller hears 503
(with Retry-After: the next re-check), never a 401 for a problem that is not theirs. A login
account whose token was rejected logs in again and is tried once more within the same request.
Once events went out, an error ends the answer. A request that may go on in a session the server
kept (``chat.resume``) first tries that session's account, within its own wait; when that fails
before any output it is replayed in a new session, without counting as an attempt.

A turn whose ``chat/stop_stream`` DeepSeek did not confirm leaves its lease to ``chat.parking``
instead of releasing it: the account may still be generating. A turn whose lease is lost (the
pool could not renew it within its TTL, so another process may hold the account now) is stopped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Protocol, TypeVar

import anyio

from deepseek_free_api import scopes
from deepseek_free_api.accounts.faults import is_account_fault
from deepseek_free_api.chat.conversations import ConversationBook, Native
from deepseek_free_api.chat.events import ChatEvent
from deepseek_free_api.chat.generation import UnconfirmedStop
from deepseek_free_api.chat.parking import Parking
from deepseek_free_api.chat.principal import Principal
from deepseek_free_api.chat.request import ChatRequest
from deepseek_free_api.chat.resume import ResumePolicy, Resumer
from deepseek_free_api.chat.turn import EventSink, ReplyIds, TurnAccount, TurnRunner
from deepseek_free_api.errors import (
    AccountBusyError,
    CapacityError,
    ConversationNotFoundError,
    InvalidSessionError,
    InvalidTokenError,
    NoUsableAccountError,
    ServiceError,
    SessionFullError,
    UpstreamUnreachableError,
)
from deepseek_free_api.stores.protocols import ReuseStore

log = logging.getLogger(__name__)
_requests = count(1)


class LeasedAccount(TurnAccount, Protocol):
    """What the failover loop reads of an account (more than a turn needs)."""

    @property
    def source(self) -> str: ...
    @property
    def has_credentials(self) -> bool: ...


class Lease(Protocol):
    """Exclusive use of one account for one generation (``accounts.Lease``)."""

    @property
    def account(self) -> LeasedAccount: ...
    async def renew(self) -> bool: ...
    async def generating(self, session_id: str, message_id: int | None) -> None: ...
    def when_lost(self, callback: Callable[[], None]) -> Callable[[], None]: ...


LeaseT = TypeVar("LeaseT", bound=Lease)


class Pool(Protocol[LeaseT]):
    """Where leases come from and go back to (``accounts.AccountPool``, on the store's ``LeaseStore``)."""

    async def acquire(
        self,
        *,
        candidates: Sequence[str] | None,
        prefer: str | None,
        require: bool,
        exclude: Collection[str],
        owner: str,
        timeout_s: float | None = None,
    ) -> LeaseT: ...
    async def report(self, lease: LeaseT, error: ServiceError | None) -> None: ...
    async def release(self, lease: LeaseT) -> None: ...
    def register_caller_tokens(self, tokens: Sequence[str]) -> list[str]: ...
    def get(self, account_id: str) -> LeasedAccount | None: ...
    def recheck_in(self, candidates: Sequence[str] | None) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks (the owner of what they start), and on which accounts: their own tokens or the server's."""

    principal: Principal
    tokens: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class FailoverPolicy:
    """Retry knobs (from Settings)."""

    max_attempts: int = 3
    backoff_s: float = 0.5
    backoff_max_s: float = 4.0


class _Tracked:
    """The sink, noting whether anything reached the caller (then no failover is possible)."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self.emitted = False

    async def emit(self, events: list[ChatEvent]) -> None:
        self.emitted = True
        await self._sink.emit(events)

    def leased(self) -> None:
        self._sink.leased()


class ChatRunner:
    """Runs chat requests to the end; one instance per server."""

    def __init__(
        self,
        leases: Pool[Any],
        turns: TurnRunner,
        conversations: ConversationBook,
        policy: FailoverPolicy,
        parking: Parking | None = None,
        resume: ResumePolicy | None = None,
        reuse: ReuseStore | None = None,
        on_reuse: Callable[[str], None] | None = None,
    ) -> None:
        self._leases = leases
        self._turns = turns
        self._conversations = conversations
        self._policy = policy
        self._parking = parking
        self._resumer = Resumer(leases, conversations, resume or ResumePolicy(), reuse, on_reuse)

    async def run(self, request: ChatRequest, caller: Caller, sink: EventSink) -> None:
        """Run ``request`` for ``caller``; events go to ``sink``; raises ServiceError."""
        candidates = self._leases.register_caller_tokens(caller.tokens) if caller.tokens else None
        allowed = self._allowed(candidates)
        native = await self._conversations.locate(request.conversation_id, allowed, caller.principal)
        own, resumer = bool(caller.tokens), self._resumer
        resumed = None if native else await resumer.find(request, caller.principal, allowed, own_tokens=own)
        try:  # refusals that need no account come first
            self._turns.check(request, continued=native is not None or resumed is not None)
            # A conversation, or files uploaded earlier, live on one account: the turn runs there or nowhere.
            bound = native.account_id if native else _files_account(request, allowed)
        except BaseException:
            await resumer.give_back(resumed)  # refused before anything went upstream
            raise
        owner = f"{os.getpid()}:{next(_requests)}"
        # The end of a stored chain alone (``ChatRequest.history``) is no conversation to reuse by digest.
        keeping = (
            sink
            if request.history is not None
            else resumer.keeping(request, caller.principal, resumed, sink, own_tokens=own)
        )
        tracked = _Tracked(keeping)
        excluded: set[str] = set()
        relogged: set[str] = set()
        last: ServiceError | None = None
        prefer = bound
        attempt = 0
        while True:
            lease = None if resumed is None else await resumer.lease(resumed, candidates, owner)
            if lease is None:
                resumed = None  # its account cannot serve within the wait: the history is replayed
                if request.history is not None:  # read back only now that it is needed
                    request = await request.history()
                attempt += 1
                lease = await self._acquire(
                    candidates, prefer, bound is not None, excluded, owner, last, caller
                )
            tracked.leased()
            account = lease.account
            unstopped: list[UnconfirmedStop] = []
            backoff = 0.0
            handed = False
            try:
                ids = self._conversations.ids_for(account.device_id, caller.principal)
                at = native or (resumed.native if resumed else None)
                await self._run_turn(request, lease, at, tracked, ids, unstopped)
            except ServiceError as error:
                with scopes.shielded():
                    await self._leases.report(lease, error)
                if tracked.emitted:
                    raise
                last = error
                if resumed is not None and (error.retryable or is_account_fault(error)):
                    # The session is gone upstream, or its account failed: replay in a new session.
                    log.info(
                        "continuing session %s on account %s failed before any output (%s: %s); "
                        "replaying the history in a new session",
                        resumed.native.session_id,
                        account.id,
                        type(error).__name__,
                        error.message,
                    )
                    # A full session is a rollover forced by DeepSeek, not a failure of the turn.
                    resumer.outcome("rollover" if isinstance(error, SessionFullError) else "failed")
                    resumed = None
                    if is_account_fault(error) and bound is None and not isinstance(error, InvalidTokenError):
                        excluded.add(account.id)
                    continue
                if (
                    isinstance(error, InvalidTokenError)
                    and account.has_credentials
                    and account.id not in relogged
                ):
                    relogged.add(account.id)  # its token expired: log in again and retry it now
                    prefer = account.id
                elif is_account_fault(error) and bound is None:
                    excluded.add(account.id)
                    prefer = None
                elif isinstance(error, InvalidSessionError) and native is not None:
                    raise  # the conversation is gone upstream: the caller must start a new one
                elif not error.retryable:
                    raise
                elif bound is None:
                    excluded.add(account.id)
                if attempt >= self._policy.max_attempts:
                    raise self._exhausted(last, caller, candidates) from error
                log.warning(
                    "attempt %d failed before any output (%s: %s); retrying",
                    attempt,
                    type(error).__name__,
                    error.message,
                )
                if not is_account_fault(error):
                    backoff = min(self._policy.backoff_s * 2 ** (attempt - 1), self._policy.backoff_max_s)
            else:
                # The common way out: reported and handed back under one shield instead of two.
                with scopes.shielded():
                    await self._leases.report(lease, None)
                    if resumed is not None:
                        resumer.outcome("hit")
                    handed = True  # set first: a release that fails is never tried twice
                    await self._hand_back(lease, unstopped)
                return
            finally:
                if not handed:
                    with scopes.shielded():
                        await self._hand_back(lease, unstopped)
            if backoff:
                await anyio.sleep(backoff)  # the lease is back in the pool by now

    async def _run_turn(
        self,
        request: ChatRequest,
        lease: Lease,
        native: Native | None,
        sink: _Tracked,
        ids: ReplyIds,
        unstopped: list[UnconfirmedStop],
    ) -> None:
        """The turn, stopped if the lease is lost: the account may be another process's by then."""
        with scopes.scope() as scope:
            forget = lease.when_lost(scope.cancel)
            try:
                await self._turns.run(request, lease.account, native, sink, ids, unstopped, lease)
            finally:
                forget()
        if scope.cancelled_caught:
            raise CapacityError(
                f"this server lost its lease on account {lease.account.id} (not renewed within "
                "pool.lease_ttl_s); the generation was stopped"
            )

    async def _hand_back(self, lease: Lease, unstopped: list[UnconfirmedStop]) -> None:
        """Release the lease, or park it while DeepSeek may still be generating on its account."""
        if unstopped and self._parking is not None:
            self._parking.park(lease, unstopped, self._leases.release)
            return
        await self._leases.release(lease)

    async def _acquire(
        self,
        candidates: Sequence[str] | None,
        prefer: str | None,
        require: bool,
        excluded: set[str],
        owner: str,
        last: ServiceError | None,
        caller: Caller,
    ) -> Lease:
        """A lease; when only accounts that just failed for a passing reason are left, they again."""
        while True:
            try:
                lease: Lease = await self._leases.acquire(
                    candidates=candidates, prefer=prefer, require=require, exclude=excluded, owner=owner
                )
                return lease
            except CapacityError as error:
                if last is None:
                    raise
                if excluded and not is_account_fault(last):
                    excluded.clear()  # e.g. one account and a 5xx: the same account may do now
                    continue
                raise self._exhausted(last, caller, candidates) from error
            except ServiceError as error:
                if caller.tokens or isinstance(error, NoUsableAccountError | UpstreamUnreachableError):
                    # The caller's own tokens: their problem, in their words. Parked server accounts
                    # and an unreachable DeepSeek: the pool's or the network's words name the cause.
                    raise
                # Every server account is marked invalid: not the caller's fault, and no account
                # ids in what they see.
                raise NoUsableAccountError(
                    "none of this server's DeepSeek accounts can serve at the moment (revoked, banned or "
                    "failing to log in); the operator has to look at them",
                    retry_after=self._leases.recheck_in(candidates),
                ) from error

    def _allowed(self, candidates: Sequence[str] | None) -> Callable[[str], bool]:
        """Which accounts' conversations this caller may continue."""
        if candidates is not None:
            return set(candidates).__contains__

        def server_account(account_id: str) -> bool:
            account = self._leases.get(account_id)
            return account is not None and account.source != "caller"

        return server_account

    def _exhausted(
        self, last: ServiceError | None, caller: Caller, candidates: Sequence[str] | None
    ) -> ServiceError:
        """The error to report once no attempt is left (or no account could be had)."""
        if last is None:
            return CapacityError("no account is available")
        if not caller.tokens and is_account_fault(last) and not isinstance(last, AccountBusyError):
            # The server's own accounts are at fault (revoked, banned, muted, throttled), not the
            # caller: never a 401 or a 429 for that, but a 503 with the soonest Retry-After.
            return NoUsableAccountError(
                f"none of this server's DeepSeek accounts could serve the request (last: {last.message})",
                retry_after=self._leases.recheck_in(candidates),
            )
        return last


def _files_account(request: ChatRequest, allowed: Callable[[str], bool]) -> str | None:
    """The account holding the request's earlier files (``ChatRequest.files_account``), if it may be used."""
    account_id = request.files_account
    if account_id is not None and not allowed(account_id):
        raise ConversationNotFoundError(
            "the images and files of the earlier conversation were uploaded to a DeepSeek account that is "
            "not available to this request (gone, or not yours); send the whole conversation again, "
            "images included"
        )
    return account_id


__all__ = ["Caller", "ChatRunner", "FailoverPolicy", "Native", "Pool"]
