"""Which modes DeepSeek has switched on, and each mode's input limit (PROTOCOL.md §4.7, §2.7).

DeepSeek's web app reads ``client/settings?scope=model``; peers poll it hourly, and in 2026-09 it
said ``enabled: false`` for expert and vision. ``ModeBook`` asks it on a turn's own account, at
most once an hour per process (a failure is retried after a minute and never fails the turn), and
only when the answer matters: for the expert and vision modes (which may be off), and for a
prompt long enough to be near a limit. A configured limit (``chat.input_limit_*``) wins over
DeepSeek's; the default mode is never asked whether it is on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import anyio

from deepseek_free_api.accounts import AccountPool, AccountState
from deepseek_free_api.errors import ModelDisabledError, ServiceError
from deepseek_free_api.upstream.account_info import ModeConfig
from deepseek_free_api.upstream.client import Identity

log = logging.getLogger(__name__)

_SERVING = (AccountState.FREE, AccountState.BUSY, AccountState.PACING)

# Below every limit seen (163 840 characters for expert and vision, 2 621 440 for default, 2026-05),
# so a shorter prompt needs no look at client/settings for its length.
SAFE_PROMPT_CHARS = 100_000
SETTINGS_TTL_S = 3600.0  # peers poll hourly (FLY _discover_models, 2026-05)
FAILURE_RETRY_S = 60.0
LIST_WAIT_S = 3.0  # GET /v1/models waits at most this long for client/settings
REFRESH_MIN_S = 60.0  # DeepSeek said "too long" under a limit we knew: look again, but not in a loop


class SettingsSource(Protocol):
    """``upstream.client.DeepSeekClient.mode_configs``."""

    async def mode_configs(self, identity: Identity) -> tuple[ModeConfig, ...]: ...


@dataclass(frozen=True, slots=True)
class Mode:
    """What is known of one mode now: on or off, and its input limit in characters (None: unknown)."""

    model_type: str
    enabled: bool = True
    limit: int | None = None


class ModeBook:
    """DeepSeek's mode switches and limits, cached; see the module docstring."""

    def __init__(
        self,
        source: SettingsSource,
        *,
        overrides: Mapping[str, int] | None = None,
        ttl_s: float = SETTINGS_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._overrides = {kind: limit for kind, limit in (overrides or {}).items() if limit > 0}
        self._ttl_s = ttl_s
        self._clock = clock
        self._modes: dict[str, ModeConfig] = {}
        self._loaded_at: float | None = None
        self._failed_at: float | None = None
        self._lock = asyncio.Lock()

    async def mode(
        self, identity: Identity, model_type: str, prompt_chars: int, *, refresh: bool = False
    ) -> Mode:
        """The mode as far as it matters for a prompt of ``prompt_chars`` characters."""
        override = self._overrides.get(model_type)
        wanted = refresh or model_type != "default" or (override is None and prompt_chars > SAFE_PROMPT_CHARS)
        if wanted:
            await self._load(identity, max_age=REFRESH_MIN_S if refresh else self._ttl_s)
        known = self._modes.get(model_type)
        limit = override if override is not None else (known.input_character_limit if known else None)
        return Mode(model_type, enabled=known.enabled if known else True, limit=limit)

    async def check(self, identity: Identity, model_type: str, prompt_chars: int, model_name: str) -> Mode:
        """``mode``, refusing one DeepSeek has switched off with a clear error (not an empty answer)."""
        mode = await self.mode(identity, model_type, prompt_chars)
        if not mode.enabled:
            raise ModelDisabledError(
                f"DeepSeek has switched its {model_type} mode off (client/settings: enabled=false), so "
                f"'{model_name[:64]}' cannot answer now; use a model of another mode",
                param="model",
                code="model_disabled",
            )
        return mode

    async def refresh(self, identity: Identity) -> None:
        """Read client/settings with ``identity`` unless it was read within the hour."""
        await self._load(identity, max_age=self._ttl_s)

    def switched_off(self) -> frozenset[str]:
        """The model types DeepSeek said are off, as last read (none before the first read)."""
        return frozenset(kind for kind, config in self._modes.items() if not config.enabled)

    async def _load(self, identity: Identity, *, max_age: float) -> None:
        async with self._lock:  # one request asks; the others waiting here use its answer
            now = self._clock()
            if self._loaded_at is not None and now - self._loaded_at < max_age:
                return
            if self._failed_at is not None and now - self._failed_at < FAILURE_RETRY_S:
                return
            try:
                configs = await self._source.mode_configs(identity)
            except ServiceError as exc:  # the turn itself will meet a real account problem
                self._failed_at = self._clock()
                log.info("client/settings could not be read (%s); mode limits unknown for now", exc.message)
                return
            self._modes = {config.model_type: config for config in configs}
            self._loaded_at, self._failed_at = self._clock(), None


class ModeCatalogue:
    """The modes switched off, for ``GET /v1/models``: asked with a serving account's token, hourly at most.

    The list never waits long for DeepSeek: a read that takes more than ``LIST_WAIT_S`` is left
    (the list then shows what is known), and one is tried at most every ``FAILURE_RETRY_S``.
    """

    def __init__(
        self,
        book: ModeBook,
        pool: AccountPool,
        identity_of: Callable[[str], Identity | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._book = book
        self._pool = pool
        self._identity_of = identity_of
        self._clock = clock
        self._next_try = 0.0

    async def switched_off(self) -> frozenset[str]:
        """Model types to leave out of the list (none known before a server account could ask)."""
        if self._clock() >= self._next_try:
            self._next_try = self._clock() + FAILURE_RETRY_S
            identity = await self._serving_identity()
            if identity is not None:
                with anyio.move_on_after(LIST_WAIT_S):
                    await self._book.refresh(identity)  # cached for an hour
        return self._book.switched_off()

    async def _serving_identity(self) -> Identity | None:
        for status in await self._pool.snapshot():  # a parked account's token may not be answered
            if status.source == "server" and status.state in _SERVING:
                identity = self._identity_of(status.id)
                if identity is not None:
                    return identity
        return None
