"""How much the simulator keeps: sessions per account and in all, their characters, the request log.

DeepSeek reclaims a session ``ttl_seconds`` (259 200 s) after creating it (PROTOCOL.md §4.1) and
ends a conversation at a length limit ("Length limit reached. Please start a new chat.", reported
2026-06 by web users; its wire form is not known, so the simulator sends the ``input_exceeds_limit``
hint with that text). How many sessions DeepSeek keeps per account is not known. The simulator
must not grow without end however long it runs (``serve --demo`` kept every session: 141 → 290
MiB after 200 long requests), so it drops expired sessions, and past ``sessions_per_account``,
``sessions_max`` or ``sessions_max_chars`` reclaims the least recently updated sessions (never one
generating). A reclaimed session answers as an expired one does (``ILLEGAL_CHAT_SESSION_ID``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from .state import Session, World

# What a message costs besides its text (ids, the reply's tree), counted as characters.
MESSAGE_CHARS = 1024
LENGTH_LIMIT = "Length limit reached. Please start a new chat."


def admit_session(world: World, account_id: str) -> None:
    """Make room for one more session of ``account_id``: expired and surplus sessions go."""
    config = world.config
    now = time.time()
    expired = [s.id for s in world.sessions.values() if now - s.inserted_at > config.session_ttl_seconds]
    for session_id in expired:
        world.drop_session(session_id)
    mine = [s for s in world.sessions.values() if s.account_id == account_id]
    _reclaim(world, mine, len(mine) + 1 - config.sessions_per_account)
    _reclaim(world, world.sessions.values(), len(world.sessions) + 1 - config.sessions_max)


def grow(world: World, session: Session, chars: int) -> None:
    """``session`` got a message of ``chars`` characters; reclaim others past ``sessions_max_chars``."""
    cost = chars + MESSAGE_CHARS
    session.chars += cost
    world.session_chars += cost
    if world.session_chars <= world.config.sessions_max_chars:
        return
    busy = _generating(world) | {session.id}
    for other in sorted(world.sessions.values(), key=lambda s: s.updated_at):
        if world.session_chars <= world.config.sessions_max_chars:
            return
        if other.id not in busy:
            world.drop_session(other.id)


def is_full(world: World, session: Session) -> bool:
    """Whether ``session`` holds as many messages as a conversation may (the length limit)."""
    return len(session.messages) >= world.config.session_max_messages


def _reclaim(world: World, sessions: Iterable[Session], count: int) -> None:
    """Drop the ``count`` least recently updated of ``sessions`` that are not generating."""
    if count <= 0:
        return
    busy = _generating(world)
    idle = sorted((s for s in sessions if s.id not in busy), key=lambda s: s.updated_at)
    for session in idle[:count]:
        world.drop_session(session.id)
        world.count("sessions_reclaimed")


def _generating(world: World) -> set[str]:
    return {a.generation.session_id for a in world.accounts.values() if a.generation is not None}
