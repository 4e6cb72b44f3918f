"""Streaming transfers that can be aborted, on curl_cffi's session or on ``upstream.handles``.

curl_cffi's ``AsyncSession.request(stream=True)`` starts a task that performs the transfer and
then waits for the first bytes of the body. Cancelling that wait (a client that left, a request
timeout) leaves the task and its transfer running with nobody to close it, while DeepSeek goes on
generating for a reader that will never come (curl_cffi 0.17). ``OwnedSession`` notes which curl
handle a request takes while a ``Transfer`` is current, so the transfer's owner can take the
handle out of curl's multi handle: that ends the transfer and closes its connection at once, and
curl_cffi's own clean-up then returns the handle to the pool. DeepSeek's calls run on
``upstream.handles`` instead, which binds a ``Transfer`` the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from curl_cffi.requests import AsyncSession

log = logging.getLogger("deepseek_free_api.upstream.client")

_CURRENT: ContextVar[Transfer | None] = ContextVar("deepseek_free_api_transfer", default=None)


class Transfer:
    """The curl handle of one streaming request, for aborting it before its answer arrives."""

    def __init__(self) -> None:
        self._curl: Any = None
        self._session: Any = None

    @contextmanager
    def current(self) -> Iterator[None]:
        """Within this block, the request sent by this task belongs to this transfer."""
        token = _CURRENT.set(self)
        try:
            yield
        finally:
            _CURRENT.reset(token)

    def bind(self, session: Any, curl: Any) -> None:
        """For the pool a request took ``curl`` from (None: its handle went back to the pool).

        ``session`` has ``abort(curl)``: ``OwnedSession`` or ``upstream.handles.HandlePool``.
        """
        self._session, self._curl = session, curl

    def abort(self) -> None:
        """End the transfer now if it still runs (idempotent; nothing to do once it ended)."""
        session, curl = self._session, self._curl
        self._curl = None
        if session is not None and curl is not None:
            session.abort(curl)

    async def end(self, response: Any) -> None:
        """Abort the transfer, then wait for ``response``'s perform task (None: nothing was answered).

        Never curl_cffi's ``Response.aclose``: that waits until the whole body has arrived.
        """
        self.abort()
        await settle(response)


async def settle(response: Any) -> None:
    """Wait until an aborted streaming ``response`` has let go of its curl handle (idempotent).

    ``quit_now`` covers a transfer that was not aborted (its next bytes end it); a perform task that
    does not end within a second is cancelled.
    """
    if response is None:
        return
    quit_now = getattr(response, "quit_now", None)
    if quit_now is not None:
        quit_now.set()
    task: asyncio.Task[None] | None = getattr(response, "astream_task", None)
    if task is None:
        return
    # asyncio.wait, not await: the aborted task ends cancelled, and that is not our cancellation.
    if not task.done():
        done, _ = await asyncio.wait({task}, timeout=1.0)
        if not done:
            task.cancel()
            await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        log.debug("closing a streaming transfer failed", exc_info=task.exception())


# Accounts whose connections (upstream.handles) and cookies (upstream.cookies) are kept apart, the
# least recently used forgotten first: more than any server's accounts and the default cap of
# caller accounts.
MAX_ACCOUNTS = 2048


class OwnedSession(AsyncSession[Any]):
    """curl_cffi's session, telling the current ``Transfer`` which curl handle its request uses."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owners: dict[Any, Transfer] = {}

    async def pop_curl(self) -> Any:
        curl = await super().pop_curl()
        transfer = _CURRENT.get()
        if transfer is not None:
            self._owners[curl] = transfer
            transfer.bind(self, curl)
        return curl

    def release_curl(self, curl: Any) -> None:
        # The transfer ended (finished, failed or aborted): from now on the handle may serve another
        # request, so its former owner must no longer be able to abort it.
        owner = self._owners.pop(curl, None)
        if owner is not None:
            owner.bind(self, None)
        super().release_curl(curl)

    def abort(self, curl: Any) -> None:
        """Take a running transfer out of curl's multi handle (its perform task then ends)."""
        if self._owners.get(curl) is None:
            return
        try:
            self.acurl.remove_handle(curl)
        except Exception:  # noqa: BLE001 - the transfer ended meanwhile; nothing is left to abort
            log.debug("aborting an upstream transfer failed", exc_info=True)
