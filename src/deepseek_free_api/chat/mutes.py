"""A mute signal without an end: ask ``users/current`` until when (PROTOCOL.md §2.7).

Code 50006 inside an HTTP-200 stream may come without ``mute_until`` (chm413, 2026-08), while
``users/current`` says ``chat.is_muted`` and ``chat.mute_until``. The account is then parked until
that time rather than a guessed one; when ``users/current`` cannot tell either, the health machine
falls back to its default pause.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

import anyio

from deepseek_free_api.accounts.condition import iso
from deepseek_free_api.errors import MutedError, ServiceError
from deepseek_free_api.upstream.account_info import UserStatus
from deepseek_free_api.upstream.client import Identity

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT_S = 10.0  # the caller waits for this lookup: bounded


@runtime_checkable
class StatusSource(Protocol):
    """``upstream.client.DeepSeekClient.user_status``."""

    async def user_status(self, identity: Identity) -> UserStatus: ...


async def with_mute_until(source: object, identity: Identity, error: MutedError) -> MutedError:
    """``error`` with ``mute_until`` from ``users/current``, or ``error`` itself when it cannot say.

    ``source`` is the turn's upstream client; one without ``user_status`` (a test double) cannot say.
    """
    if not isinstance(source, StatusSource):
        return error
    try:
        with anyio.fail_after(LOOKUP_TIMEOUT_S):
            status = await source.user_status(identity)
    except (ServiceError, TimeoutError) as exc:
        log.info("users/current could not say until when the account is muted: %s", exc)
        return error
    if status.mute_until is None:
        return error
    return MutedError(
        f"{error.message}; users/current: muted until {iso(status.mute_until)}", mute_until=status.mute_until
    )
