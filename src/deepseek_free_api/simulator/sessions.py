"""``chat_session/*`` and ``chat/history_messages`` (PROTOCOL.md §4.1, §4.5, §4.6)."""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from .core import Call
from .envelope import BodyInvalid, biz_error, check_fields, ok, read_json
from .patch import deep_copy
from .retention import admit_session
from .state import Message, Session

ILLEGAL_SESSION = (1, "ILLEGAL_CHAT_SESSION_ID")  # NIY ref §8 (update_title), 2026-05


def session_json(session: Session) -> dict[str, Any]:
    """The 2026 ``chat_session`` object."""
    return {
        "id": session.id,
        "seq_id": session.seq_id,
        "agent": "chat",
        "character": None,
        "model_type": session.model_type,
        "title": session.title,
        "title_type": "SYSTEM" if session.title else "DEFAULT",
        "version": len(session.messages),
        "current_message_id": session.current_message_id,
        "pinned": False,
        "inserted_at": session.inserted_at,
        "updated_at": session.updated_at,
    }


def find_session(call: Call, session_id: str) -> Session | None:
    """The caller's live session ``session_id`` (expired ones count as gone)."""
    session = call.sim.world.sessions.get(session_id)
    if session is None or session.account_id != call.user.id:
        return None
    if time.time() - session.inserted_at > call.sim.config.session_ttl_seconds:
        return None
    return session


def message_json(message: Message) -> dict[str, Any]:
    """A message of ``history_messages``: fragments (generation 3) or content (older)."""
    if message.role == "ASSISTANT":
        view: dict[str, Any] = deep_copy(message.tree.get("response", {}))
        view.update({"message_id": message.message_id, "parent_id": message.parent_id, "role": "ASSISTANT"})
        view.setdefault("model", "")
        return view
    view = {
        "message_id": message.message_id,
        "parent_id": message.parent_id,
        "model": "",
        "role": "USER",
        "thinking_enabled": message.thinking,
        "search_enabled": message.search,
        "ban_edit": False,
        "ban_regenerate": False,
        "status": "FINISHED",
        "accumulated_token_usage": len(message.prompt) // 4,
        "files": [{"id": file_id} for file_id in message.files],
        "inserted_at": message.inserted_at,
    }
    if message.generation >= 3:
        fragments: list[dict[str, Any]] = [{"id": 1, "type": "REQUEST", "content": message.prompt}]
        fragments += [{"id": 2 + i, "type": "FILE", "file_id": f} for i, f in enumerate(message.files)]
        view["fragments"] = fragments
    else:
        view.update({"content": message.prompt, "thinking_content": None})
    return view


async def create(call: Call) -> Response:
    """A new session; a banned account gets no ``biz_data`` (DFA createSession, 2024-11-29)."""
    body = await read_json(call.request, call.body)
    check_fields(body, {}, {"agent": "str?", "character_id": "str?"})
    if call.user.banned and call.user.ban_signal == "empty":
        return ok(None)
    admit_session(call.sim.world, call.user.id)
    session = call.sim.world.new_session(call.user.id)
    call.sim.world.count("sessions_created")
    return ok({"chat_session": session_json(session), "ttl_seconds": call.sim.config.session_ttl_seconds})


async def delete(call: Call) -> Response:
    """Delete one session of the caller."""
    body = await read_json(call.request, call.body)
    check_fields(body, {"chat_session_id": "str"})
    session = find_session(call, body["chat_session_id"])
    if session is None:
        return biz_error(*ILLEGAL_SESSION)
    call.sim.world.drop_session(session.id)
    return ok(None)


async def delete_all(call: Call) -> Response:
    """Delete every session of the caller."""
    await read_json(call.request, call.body)
    world = call.sim.world
    for session_id in [s.id for s in world.sessions.values() if s.account_id == call.user.id]:
        world.drop_session(session_id)
    return ok(None)


async def fetch_page(call: Call) -> Response:
    """Sessions newest first; ``lte_cursor.updated_at`` pages (DS2-go client_session.go)."""
    query = call.request.query_params
    try:
        count = int(query.get("count", "50"))
        cursor = float(query["lte_cursor.updated_at"]) if "lte_cursor.updated_at" in query else None
    except ValueError as exc:
        raise BodyInvalid(
            [{"type": "float_parsing", "loc": ["query", "count"], "msg": "bad number"}]
        ) from exc
    mine = [s for s in call.sim.world.sessions.values() if s.account_id == call.user.id]
    mine.sort(key=lambda s: s.updated_at, reverse=True)
    if cursor is not None:
        mine = [s for s in mine if s.updated_at <= cursor]
    page = mine[:count]
    return ok({"chat_sessions": [session_json(s) for s in page], "has_more": len(mine) > count})


async def history(call: Call) -> Response:
    """The session and its whole message tree; the visible branch ends at current_message_id."""
    session_id = call.request.query_params.get("chat_session_id")
    if session_id is None:
        missing = {
            "type": "missing",
            "loc": ["query", "chat_session_id"],
            "msg": "Field required",
            "input": None,
        }
        raise BodyInvalid([missing])
    session = find_session(call, session_id)
    if session is None:
        return biz_error(*ILLEGAL_SESSION)
    messages = [message_json(m) for m in sorted(session.messages.values(), key=lambda m: m.message_id)]
    return ok({"chat_session": session_json(session), "chat_messages": messages})
