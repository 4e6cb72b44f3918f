"""Going on in a DeepSeek session the server kept, instead of replaying the whole history in a new one.

Two ways to name such a session. A stored Response's reply id (``ChatRequest.resume``, for
``previous_response_id``). And session reuse for agents (``chat.session_reuse``, server-side
accounts only): agents send the whole history every turn, so after each answer the session is kept
in the store (``ReuseStore``) under the digest of the caller and the conversation up to that answer
(``chat.prefix``), and a request whose messages up to its last assistant message have that digest
goes on there. An edited earlier message gives another digest: no session is found.

Exactly one request goes on from a kept answer: the lookup takes the entry atomically in the store
(``ReuseStore.take``, shared by every process). Two requests extending the same answer at once
(an agent's retry, two branches of one conversation) would otherwise both continue after the same
message, forking the DeepSeek session (which the web app never does) and leaving a history there
that is neither caller's; the one that finds the entry taken replays in a new session at once
(outcome ``taken``). The entry is given back when nothing was sent upstream (the request was
refused before an account, its account stayed busy, or its caller left while it waited for the
account); once the turn started it is not, since a completion that failed may still have reached
DeepSeek and added a message after that answer: a later request with that history replays.

The turn then goes on with only the messages after the last assistant message (as a
``conversation_id`` continuation does, tool instructions included), when it can: the reply id must
be the caller's and its account one the caller may use, that account must be free within
``chat.resume_wait_s``, the session must still exist upstream, and (reuse) it must not grow past
``chat.session_reuse_max_tokens``. Otherwise the failover loop replays the whole conversation in a
new session, as it would without any of this: the caller gets an answer either way, and the log
says which.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from deepseek_free_api import scopes
from deepseek_free_api.chat.conversations import ConversationBook, Native
from deepseek_free_api.chat.events import ChatEvent, Completed, Started, TextDelta, ToolCall
from deepseek_free_api.chat.ports import EventSink
from deepseek_free_api.chat.prefix import conversation_key, earlier_turns
from deepseek_free_api.chat.principal import Principal
from deepseek_free_api.chat.request import ChatMessage, ChatRequest
from deepseek_free_api.errors import ServiceError
from deepseek_free_api.stores.protocols import ReusableSession, ReuseStore

if TYPE_CHECKING:
    from deepseek_free_api.chat.failover import Lease, Pool

log = logging.getLogger(__name__)

_CHARS_PER_TOKEN = 3  # a cautious guess of a new turn's size before it is counted
DIGEST_INLINE_MAX = 100_000  # characters of history digested on the event loop; more in a worker thread


@dataclass(frozen=True, slots=True)
class ResumePolicy:
    """Whether follow-ups go on in kept sessions, how long they wait for one, and session reuse."""

    enabled: bool = True  # off under chat.session_delete = "delete": no session outlives its turn
    wait_s: float = 10.0
    reuse: bool = False  # chat.session_reuse
    max_tokens: int = 200_000  # chat.session_reuse_max_tokens


@dataclass(frozen=True, slots=True)
class Resumption:
    """A session to go on in, and its size so far in tokens (0 when not known)."""

    native: Native
    tokens: int = 0
    kept: ReusableSession | None = None  # the reuse entry taken for it, given back if nothing went up


class Resumer:
    """Finds the session a request may go on in, takes its account if it frees in time, keeps sessions."""

    def __init__(
        self,
        leases: Pool[Any],
        book: ConversationBook,
        policy: ResumePolicy,
        sessions: ReuseStore | None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self._leases = leases
        self._book = book
        self._policy = policy
        self._sessions = sessions if policy.enabled and policy.reuse else None
        self._on_outcome = on_outcome

    def outcome(self, outcome: str) -> None:
        """Count what became of a follow-up that could go on in an earlier session (metrics):
        ``hit`` (it did), ``miss`` (nothing to go on in), ``rollover`` (too large: a new session),
        ``unavailable`` (the session's account is gone or not the caller's), ``busy`` (its account
        did not free within the wait), ``failed`` (continuing failed before any output), ``taken``
        (another request went on from that answer already, or is doing so now)."""
        if self._on_outcome is not None:
            self._on_outcome(outcome)

    def _reusing(self, request: ChatRequest, own_tokens: bool) -> ReuseStore | None:
        """The store, if this request takes part in session reuse (server accounts, no conversation_id)."""
        return None if own_tokens or request.conversation_id else self._sessions

    async def find(
        self, request: ChatRequest, owner: Principal, allowed: Callable[[str], bool], *, own_tokens: bool
    ) -> Resumption | None:
        """The session ``request`` may go on in, or None (then it is replayed in a new session)."""
        if request.conversation_id or not self._policy.enabled:
            return None
        if request.resume is not None:
            native = await self._book.resumable(request.resume, allowed, owner)
            if native is None:
                log.info("the session to go on in is not available (account gone or not usable): replaying")
                self.outcome("unavailable")
            return None if native is None else Resumption(native)
        sessions = self._reusing(request, own_tokens)
        earlier = earlier_turns(request.messages)
        if sessions is None or not earlier:
            return None
        kept = await sessions.take(await _key(owner.id, request, earlier))
        if kept is None:
            log.debug("no session to reuse (a new conversation, or an earlier message differs): replaying")
            self.outcome("miss")
            return None
        if kept.taken:
            log.info(
                "another request went on from this conversation's last answer already (a retry, or a "
                "second branch): replaying the history in a new session rather than forking that session"
            )
            self.outcome("taken")
            return None
        new = sum(
            len(m.text) + sum(len(c.arguments) for c in m.tool_calls)
            for m in request.messages[len(earlier) :]
        )
        if kept.tokens + new // _CHARS_PER_TOKEN > self._policy.max_tokens:
            log.info(
                "the reused session holds %d tokens; with this turn it would pass "
                "chat.session_reuse_max_tokens (%d): a new session with the folded history",
                kept.tokens,
                self._policy.max_tokens,
            )
            self.outcome("rollover")
            await self._give_back(kept)  # not gone on from: ``taken`` keeps meaning that it was
            return None
        native = await self._book.resumable(kept.reply_id, allowed, owner)
        if native is None:
            self.outcome("unavailable")
            await self._give_back(kept)
            return None
        return Resumption(native, kept.tokens, kept)

    async def give_back(self, resumed: Resumption | None) -> None:
        """Make the taken reuse entry of ``resumed`` reusable again: nothing was sent upstream."""
        await self._give_back(None if resumed is None else resumed.kept)

    async def _give_back(self, kept: ReusableSession | None) -> None:
        if kept is None or self._sessions is None:
            return
        with scopes.shielded():  # also when the caller left: the next request goes on there
            try:
                await self._sessions.keep(kept)
            except Exception as exc:  # noqa: BLE001 - the next request then replays, as after a failure
                log.warning("giving back the reusable session failed: %s", exc)

    async def lease(self, resumed: Resumption, candidates: Sequence[str] | None, owner: str) -> Lease | None:
        """A lease on the account holding ``resumed`` if it can serve within the wait; else None."""
        native, wait_s = resumed.native, self._policy.wait_s
        try:
            lease: Lease = await self._leases.acquire(
                candidates=candidates,
                prefer=native.account_id,
                require=True,
                exclude=(),
                owner=owner,
                timeout_s=wait_s,
            )
        except BaseException as error:
            await self.give_back(resumed)  # nothing went upstream: the next request may go on there
            if not isinstance(error, ServiceError):
                raise
            log.info(
                "account %s, which holds session %s, cannot serve within %g s (%s): replaying the history "
                "in a new session",
                native.account_id,
                native.session_id,
                wait_s,
                error.message,
            )
            self.outcome("busy")
            return None
        return lease

    def keeping(
        self,
        request: ChatRequest,
        owner: Principal,
        resumed: Resumption | None,
        sink: EventSink,
        *,
        own_tokens: bool,
    ) -> EventSink:
        """``sink``, keeping the turn's session for the next turn when the request takes part in reuse."""
        sessions = self._reusing(request, own_tokens)
        return sink if sessions is None else _Keeping(sink, sessions, request, owner.id, resumed)


class _Keeping:
    """Passes events on; keeps the session under the conversation's digest before the last batch goes out.

    Kept before the end reaches the caller, so that the agent's next request (sent as soon as it
    has read the end) finds it. Only an answer that ended by itself is kept: one cut short by a
    stop sequence or a token limit is longer upstream than what the caller holds.
    """

    def __init__(
        self,
        sink: EventSink,
        sessions: ReuseStore,
        request: ChatRequest,
        principal_id: str,
        resumed: Resumption | None,
    ) -> None:
        self._sink = sink
        self._sessions = sessions
        self._request = request
        self._principal_id = principal_id
        self._resumed = resumed
        self._started: Started | None = None
        self._text: list[str] = []
        self._calls: list[ToolCall] = []

    async def emit(self, events: list[ChatEvent]) -> None:
        for event in events:
            if isinstance(event, Started) and self._started is None:
                self._started = event
            elif isinstance(event, TextDelta):
                self._text.append(event.text)
            elif isinstance(event, ToolCall):
                self._calls.append(event)
            elif isinstance(event, Completed):
                await self._keep(event)
        await self._sink.emit(events)

    def leased(self) -> None:
        self._sink.leased()

    async def _keep(self, completed: Completed) -> None:
        started = self._started
        if started is None or completed.stop not in ("end_turn", "tool_use"):
            return
        answer = ChatMessage(role="assistant", text="".join(self._text), tool_calls=tuple(self._calls))
        key = await _key(self._principal_id, self._request, (*self._request.messages, answer))
        tokens = 0 if completed.usage is None else completed.usage.total_tokens
        resumed = self._resumed
        if resumed is not None and started.conversation_id.startswith(resumed.native.session_id + "@"):
            tokens += resumed.tokens  # it went on in that session (not replayed in a new one)
        try:
            await self._sessions.keep(ReusableSession(key, started.conversation_id, tokens))
        except Exception as exc:  # noqa: BLE001 - reuse saves upstream traffic; the answer stands without it
            log.warning("keeping the session for reuse failed: %s", exc)


async def _key(principal_id: str, request: ChatRequest, messages: Sequence[ChatMessage]) -> str:
    """``conversation_key``, off the event loop for a long history (CPU work)."""
    # Each message costs its text and calls, and some work of its own however short it is.
    size = sum(64 + len(m.text) + sum(len(c.arguments) for c in m.tool_calls) for m in messages)
    if size <= DIGEST_INLINE_MAX:
        return conversation_key(principal_id, request, messages)
    return await anyio.to_thread.run_sync(conversation_key, principal_id, request, messages)
