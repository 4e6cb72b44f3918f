"""The service that runs one chat turn against DeepSeek, whatever the public dialect.

Per attempt: lease an account (one generation per account), create a session or continue the
caller's, get a proof-of-work answer (pre-solved when warm), open ``chat/completion``, decode
the stream, ``chat/continue`` while it ends INCOMPLETE, apply stop sequences and token limits,
count usage. Retryable failures before anything reached the caller fail over to another account
with backoff; after that, the error ends the stream. Every upstream stream is closed and every
lease released in ``finally``; a caller that goes away makes us ``chat/stop_stream`` at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import anyio

from deepseek_free_api.chat.events import (
    ChatEvent,
    Completed,
    FinishReason,
    KeepAlive,
    Started,
    TokenUsage,
)
from deepseek_free_api.chat.limits import Limited, OutputLimiter
from deepseek_free_api.chat.prompt import fold_messages, new_turn_prompt
from deepseek_free_api.chat.request import ChatRequest, format_conversation_id, parse_conversation_id
from deepseek_free_api.chat.sessions import SessionDirectory
from deepseek_free_api.errors import (
    CapacityError,
    EmptyAnswerError,
    InvalidSessionError,
    ServiceError,
    UpstreamServerError,
)
from deepseek_free_api.upstream.classifier import classify_stream_error
from deepseek_free_api.upstream.client import (
    COMPLETION_PATH,
    CompletionParams,
    DeepSeekClient,
    Identity,
    UpstreamStream,
)
from deepseek_free_api.upstream.decoder import StreamDecoder
from deepseek_free_api.upstream.events import (
    Citation,
    Finish,
    Ready,
    ReasoningDelta,
    SearchResults,
    StreamErrorFrame,
    StreamEvent,
    TextDelta,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class LeasedAccount(Protocol):
    """The account a lease grants."""

    @property
    def id(self) -> str: ...
    @property
    def token(self) -> str | None: ...
    @property
    def device_id(self) -> str: ...


class AccountLease(Protocol):
    """Exclusive use of one account for one generation."""

    @property
    def account(self) -> LeasedAccount: ...
    def report_success(self) -> None: ...
    def report_error(self, error: ServiceError) -> None: ...
    def release(self) -> None: ...


class AccountSource(Protocol):
    """Hands out leases (``accounts.AccountPool`` through an adapter)."""

    async def acquire(
        self, *, candidates: Sequence[str] | None, prefer: str | None, require: bool, exclude: Collection[str]
    ) -> AccountLease: ...
    def register_caller_tokens(self, tokens: Sequence[str]) -> list[str]: ...


class PowSource(Protocol):
    """Gives a fresh ``X-Ds-Pow-Response`` for an account and target path (pre-solved if warm)."""

    async def header(self, account_id: str, identity: Identity, target_path: str) -> str: ...
    def refill(self, account_id: str, target_path: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """The knobs of the service (from Settings)."""

    max_attempts: int = 3
    backoff_s: float = 0.5
    backoff_max_s: float = 4.0
    continue_max_rounds: int = 8
    delete_sessions: bool = False  # chat.session_delete = "delete": no history left upstream
    keepalive_interval_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: their own DeepSeek tokens, or the server's accounts."""

    tokens: tuple[str, ...] = field(default=(), repr=False)


@dataclass(slots=True)
class _Turn:
    """Mutable state of one attempt."""

    prompt: str = ""
    session_id: str = ""
    response_message_id: int | None = None
    answer: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    emitted: bool = False
    incomplete: bool = False
    stop_reason: FinishReason | None = None
    pending_start: Started | None = None
    finish_reason: FinishReason | None = None

    def emit(self, out: list[ChatEvent], event: ChatEvent) -> None:
        """Append a visible event, preceded by the held-back Started on the first one."""
        if self.pending_start is not None:
            out.append(self.pending_start)
            self.pending_start = None
        self.emitted = True
        out.append(event)


class ChatService:
    """Runs chat requests; one instance per server."""

    def __init__(
        self,
        client: DeepSeekClient,
        accounts: AccountSource,
        pow_source: PowSource,
        count_tokens: Callable[[str], int],
        policy: ServicePolicy,
        sessions: SessionDirectory | None = None,
    ) -> None:
        self._client = client
        self._accounts = accounts
        self._pow = pow_source
        self._count = count_tokens
        self._policy = policy
        self.sessions = sessions or SessionDirectory()

    async def stream(self, request: ChatRequest, caller: Caller) -> AsyncGenerator[ChatEvent, None]:
        """Run one turn, yielding events; raises ServiceError (before or during the stream)."""
        candidates = self._accounts.register_caller_tokens(caller.tokens) if caller.tokens else None
        native = parse_conversation_id(request.conversation_id) if request.conversation_id else None
        owner = self.sessions.owner(native[0]) if native else None
        if native and owner is None:
            log.info("conversation %s is unknown here; folding the whole history instead", native[0])
            native = None
        if native and candidates is not None and owner not in candidates:
            native, owner = None, None  # the session belongs to an account this caller did not bring
        excluded: set[str] = set()
        last_error: ServiceError | None = None
        attempt = 0
        while True:
            attempt += 1
            turn = _Turn()
            lease: AccountLease | None = None
            try:
                async for tick in self._acquire(candidates, owner, native is not None, excluded):
                    if isinstance(tick, KeepAlive):
                        yield tick
                    else:
                        lease = tick
                assert lease is not None
                async for event in self._attempt(request, lease, native, turn):
                    yield event
                lease.report_success()
                if self._policy.delete_sessions:
                    await self._delete_session(lease.account, turn.session_id)
                return
            except ServiceError as error:
                if lease is None and last_error is not None and isinstance(error, CapacityError):
                    raise last_error from error  # failover ran out of accounts: report the real cause
                if lease is not None:
                    lease.report_error(error)
                    if native is None:
                        excluded.add(lease.account.id)
                if turn.emitted or not error.retryable or attempt >= self._policy.max_attempts:
                    raise
                last_error = error
                log.warning(
                    "attempt %d failed before any output (%s: %s); retrying",
                    attempt,
                    type(error).__name__,
                    error.message,
                )
                if native is not None and isinstance(error, InvalidSessionError):
                    log.info("session %s is gone upstream; folding the whole history instead", native[0])
                    self.sessions.forget(native[0])
                    native, owner = None, None
                await asyncio.sleep(
                    min(self._policy.backoff_s * 2 ** (attempt - 1), self._policy.backoff_max_s)
                )
            finally:
                if lease is not None:
                    lease.release()

    async def _acquire(
        self, candidates: Sequence[str] | None, owner: str | None, require: bool, excluded: set[str]
    ) -> AsyncIterator[KeepAlive | AccountLease]:
        """A lease (with keep-alives while waiting); if failover excluded every account, try them again."""
        try:
            async for tick in self._keepalive(
                self._accounts.acquire(candidates=candidates, prefer=owner, require=require, exclude=excluded)
            ):
                yield tick
        except CapacityError:
            if not excluded:
                raise
            excluded.clear()
            async for tick in self._keepalive(
                self._accounts.acquire(candidates=candidates, prefer=owner, require=require, exclude=())
            ):
                yield tick

    async def _attempt(
        self,
        request: ChatRequest,
        lease: AccountLease,
        native: tuple[str, int] | None,
        turn: _Turn,
    ) -> AsyncIterator[ChatEvent]:
        account = lease.account
        identity = Identity(token=account.token or "", device_id=account.device_id)
        if native is not None:
            turn.session_id, parent = native
            turn.prompt = new_turn_prompt(request.messages)
        else:
            turn.session_id = await self._client.create_session(identity)
            parent = None
            turn.prompt = fold_messages(request.messages)
        self.sessions.remember(turn.session_id, account.id)
        header = ""
        async for solved in self._keepalive(self._pow.header(account.id, identity, COMPLETION_PATH)):
            if isinstance(solved, KeepAlive):
                yield solved
            else:
                header = solved
        params = CompletionParams(
            session_id=turn.session_id,
            prompt=turn.prompt,
            model_type=request.model.model_type,
            thinking=request.model.thinking,
            search=request.model.search,
            parent_message_id=parent,
        )
        limiter = OutputLimiter(request.stop, request.max_tokens, self._count)
        decoder = StreamDecoder()
        upstream: UpstreamStream | None = None
        try:
            async for opened in self._keepalive(self._client.open_completion(identity, params, header)):
                if isinstance(opened, KeepAlive):
                    yield opened
                else:
                    upstream = opened
        finally:
            self._pow.refill(account.id, COMPLETION_PATH)  # next answer, off this request's path
        assert upstream is not None
        rounds = 0
        try:
            while True:
                async for chunk in self._keepalive_iter(upstream):
                    if chunk is None:
                        yield KeepAlive()
                        continue
                    for out in self._process(decoder.feed(chunk), account.id, turn, limiter):
                        yield out
                    if turn.finish_reason is not None:
                        break
                if turn.finish_reason is None:
                    for out in self._process(decoder.close(), account.id, turn, limiter):
                        yield out
                if turn.finish_reason is not None:
                    break
                if decoder.finish is None:
                    raise UpstreamServerError("the DeepSeek stream ended before the answer was complete")
                # INCOMPLETE: ask DeepSeek to go on, a bounded number of times.
                rounds += 1
                if rounds > self._policy.continue_max_rounds or turn.response_message_id is None:
                    raise UpstreamServerError(
                        f"DeepSeek left the answer incomplete after {rounds - 1} continuations"
                    )
                await upstream.aclose()
                upstream = None
                turn.incomplete = False
                decoder.begin_continuation()
                upstream = await self._client.open_continue(
                    identity, turn.session_id, turn.response_message_id
                )
            for out in self._flush(limiter, turn):
                yield out
            if not turn.answer and turn.finish_reason == "stop" and turn.stop_reason is None:
                raise EmptyAnswerError("DeepSeek finished without an answer")
            usage = await self._usage(turn)
            if turn.pending_start is not None:
                yield turn.pending_start
            yield Completed(finish_reason=turn.finish_reason, usage=usage)
        finally:
            # DeepSeek goes on generating unless it reached its end or we tell it to stop
            # (caller gone, stop sequence, max_tokens, error), and the account stays busy.
            ended = decoder.finish is not None and decoder.finish.status != "INCOMPLETE"
            with anyio.CancelScope(shield=True):
                if not ended and turn.response_message_id is not None:
                    await self._stop(identity, turn)  # first: frees the account upstream at once
                if upstream is not None:
                    await upstream.aclose()

    def _process(
        self, events: list[StreamEvent], account_id: str, turn: _Turn, limiter: OutputLimiter
    ) -> Iterator[ChatEvent]:
        """Handle decoded events until one ends the answer (recorded in ``turn.finish_reason``)."""
        for event in events:
            yield from self._handle(event, account_id, turn, limiter)
            turn.finish_reason = turn.stop_reason or _finish_reason(event)
            if turn.finish_reason is not None:
                return

    def _handle(
        self, event: StreamEvent, account_id: str, turn: _Turn, limiter: OutputLimiter
    ) -> list[ChatEvent]:
        """Turn one decoded event into what the caller sees (limits applied)."""
        out: list[ChatEvent] = []
        if isinstance(event, Ready):
            # Held back until the first visible event, so that errors right after ``ready``
            # (hint, busy) can still fail over to another account.
            turn.response_message_id = event.response_message_id
            if event.response_message_id is not None:
                conversation_id = format_conversation_id(turn.session_id, event.response_message_id)
                turn.pending_start = Started(conversation_id, account_id)
        elif isinstance(event, ReasoningDelta):
            limited = limiter.reasoning(event.text)
            if limited.text:
                turn.reasoning.append(limited.text)
                turn.emit(out, ReasoningDelta(limited.text))
            self._note_stop(limited, turn)
        elif isinstance(event, TextDelta):
            limited = limiter.answer(event.text)
            if limited.text:
                turn.answer.append(limited.text)
                turn.emit(out, TextDelta(limited.text))
            self._note_stop(limited, turn)
        elif isinstance(event, (Citation, SearchResults)):
            turn.emit(out, event)
        elif isinstance(event, Finish) and event.status == "CONTENT_FILTER" and not turn.answer:
            if event.template:
                turn.answer.append(event.template)
                turn.emit(out, TextDelta(event.template))
        elif isinstance(event, Finish) and event.status == "INCOMPLETE":
            turn.incomplete = True
        elif isinstance(event, StreamErrorFrame) and not turn.incomplete:
            # After INCOMPLETE, a generation_err frame only explains it; we continue instead.
            raise classify_stream_error(event)
        return out

    def _note_stop(self, limited: Limited, turn: _Turn) -> None:
        if limited.length:
            turn.stop_reason = "length"
        elif limited.stop:
            turn.stop_reason = "stop"

    def _flush(self, limiter: OutputLimiter, turn: _Turn) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        limited = limiter.flush()
        if limited.text:
            turn.answer.append(limited.text)
            turn.emit(out, TextDelta(limited.text))
        return out

    async def _usage(self, turn: _Turn) -> TokenUsage:
        def count() -> TokenUsage:
            reasoning = self._count("".join(turn.reasoning))
            answer = self._count("".join(turn.answer))
            return TokenUsage(self._count(turn.prompt), reasoning + answer, reasoning)

        if len(turn.prompt) > 20_000:
            return await asyncio.to_thread(count)
        return count()

    async def _delete_session(self, account: LeasedAccount, session_id: str) -> None:
        """Delete the turn's session upstream (best effort; the answer is already delivered)."""
        self.sessions.forget(session_id)
        identity = Identity(token=account.token or "", device_id=account.device_id)
        with anyio.CancelScope(shield=True):
            try:
                with anyio.fail_after(10):
                    await self._client.delete_session(identity, session_id)
            except Exception as exc:  # noqa: BLE001 - never fail a delivered answer over housekeeping
                log.warning("deleting session %s failed: %s", session_id, exc)

    async def _stop(self, identity: Identity, turn: _Turn) -> None:
        """Tell DeepSeek to stop generating (caller gone, limit reached, error), shielded."""
        assert turn.response_message_id is not None
        with anyio.CancelScope(shield=True):
            try:
                with anyio.fail_after(5):
                    await self._client.stop_stream(identity, turn.session_id, turn.response_message_id)
            except Exception as exc:  # noqa: BLE001 - best effort; the account is released anyway
                log.warning("stop_stream failed: %s", exc)

    async def _keepalive(self, awaitable: Awaitable[T]) -> AsyncIterator[KeepAlive | T]:
        """Await ``awaitable``, yielding KeepAlive every interval meanwhile, then its result."""
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._policy.keepalive_interval_s)
                if done:
                    yield task.result()
                    return
                yield KeepAlive()
        finally:
            if not task.done():
                task.cancel()
                with anyio.CancelScope(shield=True):
                    await asyncio.gather(task, return_exceptions=True)

    async def _keepalive_iter(self, chunks: UpstreamStream) -> AsyncIterator[bytes | None]:
        """Iterate an upstream stream, yielding None as a keep-alive tick while it is silent."""
        iterator = aiter(chunks)
        while True:
            async for tick in self._keepalive(anext(iterator, None)):
                if isinstance(tick, KeepAlive):
                    yield None
                elif tick is None:
                    return
                else:
                    yield tick


def _finish_reason(event: object) -> FinishReason | None:
    if isinstance(event, Finish):
        if event.status == "FINISHED":
            return "stop"
        if event.status == "CONTENT_FILTER":
            return "content_filter"
    return None
