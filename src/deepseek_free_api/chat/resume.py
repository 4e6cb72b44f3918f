"""Going on in a DeepSeek session the server kept, instead of replaying the whole history in a new one.

A follow-up names such a session through ``ChatRequest.resume`` (a stored Response's reply id, for
``previous_response_id``). The turn then goes on there with only the messages after the last
assistant message (as a ``conversation_id`` continuation does, tool instructions included), when it
can: the reply id must be the caller's and its account one the caller may use, that account must
be free within ``chat.resume_wait_s``, and the session must still exist upstream. Otherwise the
failover loop replays the whole conversation in a new session, as it would without a resume: the
caller gets an answer either way, and the log says which (info).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deepseek_free_api.chat.conversations import ConversationBook, Native
from deepseek_free_api.chat.principal import Principal
from deepseek_free_api.chat.request import ChatRequest
from deepseek_free_api.errors import ServiceError

if TYPE_CHECKING:
    from deepseek_free_api.chat.failover import Lease, Pool

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResumePolicy:
    """Whether follow-ups may go on in kept sessions, and how long they wait for the session's account."""

    enabled: bool = True  # off under chat.session_delete = "delete": no session outlives its turn
    wait_s: float = 10.0


class Resumer:
    """Finds the session a request may go on in, and takes its account if it frees in time."""

    def __init__(self, leases: Pool[Any], book: ConversationBook, policy: ResumePolicy) -> None:
        self._leases = leases
        self._book = book
        self._policy = policy

    async def find(
        self, request: ChatRequest, owner: Principal, allowed: Callable[[str], bool]
    ) -> Native | None:
        """The session ``request`` may go on in, or None (then it is replayed in a new session)."""
        if request.resume is None or request.conversation_id or not self._policy.enabled:
            return None
        resumed = await self._book.resumable(request.resume, allowed, owner)
        if resumed is None:
            log.info("the session to go on in is not available (account gone or not usable): replaying")
        return resumed

    async def lease(self, resumed: Native, candidates: Sequence[str] | None, owner: str) -> Lease | None:
        """A lease on the account holding ``resumed`` if it can serve within the wait; else None."""
        wait_s = self._policy.wait_s
        try:
            lease: Lease = await self._leases.acquire(
                candidates=candidates,
                prefer=resumed.account_id,
                require=True,
                exclude=(),
                owner=owner,
                timeout_s=wait_s,
            )
        except ServiceError as error:
            log.info(
                "account %s, which holds session %s, cannot serve within %g s (%s): replaying the history "
                "in a new session",
                resumed.account_id,
                resumed.session_id,
                wait_s,
                error.message,
            )
            return None
        return lease
