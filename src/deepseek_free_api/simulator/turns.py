"""Calls on existing messages: ``edit_message``, ``regenerate``, ``continue``, ``stop_stream``."""

from __future__ import annotations

import copy
import dataclasses

from starlette.responses import Response

from .chat import (
    INVALID_MESSAGE,
    add_user_message,
    hint_for,
    hint_stream,
    open_turn,
    refusal_stream,
    run_stream,
    start_reply,
)
from .core import Call
from .envelope import biz_error, check_fields, ok, read_json
from .generation import build_shape
from .replies import TurnFacts
from .retention import grow
from .sessions import ILLEGAL_SESSION, find_session
from .state import Message, Session


async def edit_message(call: Call) -> Response:
    """Replace a user message and answer it; model and files come from the session (NIY ref §5)."""
    opened = await open_turn(
        call,
        {"chat_session_id": "str", "message_id": "int", "prompt": "str", "search_enabled": "bool",
         "thinking_enabled": "bool"},
        {"model_type": "str?"},
    )  # fmt: skip
    if isinstance(opened, Response):
        return opened
    body, session = opened
    old = session.messages.get(body["message_id"])
    if old is None or old.role != "USER":
        return biz_error(*INVALID_MESSAGE)
    fault = call.stream_fault(body["prompt"])
    refused = refusal_stream(call, fault, session.id)
    if refused is not None:
        return refused
    model_type = body.get("model_type") or session.model_type
    files = list(session.ref_file_ids)
    facts = TurnFacts(
        body["prompt"],
        model_type,
        body["thinking_enabled"],
        body["search_enabled"],
        len(files),
        old.parent_id,
    )
    ids = session.next_ids()
    hint = hint_for(call, facts, fault, session)
    if hint is not None:
        return hint_stream(call, ids, model_type, hint)
    add_user_message(call, session, ids[0], facts, files)
    return start_reply(call, session, facts, ids, fault, "edit_message")


async def regenerate(call: Call) -> Response:
    """A new answer to the same user message (``message_id`` = that answer or its user message)."""
    opened = await open_turn(call, {"chat_session_id": "str", "message_id": "int"})
    if isinstance(opened, Response):
        return opened
    body, session = opened
    target = session.messages.get(body["message_id"])
    user = session.messages.get(target.parent_id or -1) if target and target.role == "ASSISTANT" else target
    if user is None or user.role != "USER":
        return biz_error(*INVALID_MESSAGE)
    fault = call.stream_fault(user.prompt)
    refused = refusal_stream(call, fault, session.id)
    if refused is not None:
        return refused
    facts = TurnFacts(
        user.prompt, user.model_type, user.thinking, user.search, len(user.files), user.parent_id
    )
    return start_reply(call, session, facts, (user.message_id, session.next_id()), fault, "regenerate")


async def continue_(call: Call) -> Response:
    """Resume an INCOMPLETE answer: ready, a snapshot of everything so far, then new deltas.

    No proof of work: the captured web request carries none (SRC-66610760905, 2026-09).
    """
    opened = await open_turn(
        call, {"chat_session_id": "str", "message_id": "int"}, {"fallback_to_resume": "bool?"}, proof=False
    )
    if isinstance(opened, Response):
        return opened
    body, session = opened
    message = session.messages.get(body["message_id"])
    if message is None or message.role != "ASSISTANT" or message.plan is None or message.facts is None:
        return biz_error(*INVALID_MESSAGE)
    fault = call.stream_fault(message.facts.prompt)
    if fault is not None and fault.name == "new_message":
        message, fault = _moved(session, message), None
        grow(call.sim.world, session, len(message.plan.answer) if message.plan else 0)
    refused = refusal_stream(call, fault, session.id)
    if refused is not None:
        return refused
    shape = build_shape(message, call.sim.config.emit_finish)
    cut = 0
    if fault is not None and fault.name == "generation_err":
        done = sum(f.chars for f in shape.body()[: message.delivered])
        cut = done + int(fault.number("after", 1))
    call.sim.world.count("continues")
    return run_stream(call, session, message, shape, message.delivered, cut, fault, "continue")


def _moved(session: Session, message: Message) -> Message:
    """The answer goes on under a new message id, the old one left INCOMPLETE (PROTOCOL.md §4.4:
    ``ready`` repeats the ids "unless the server falls back to a new message")."""
    moved = dataclasses.replace(message, message_id=session.next_id(), tree=copy.deepcopy(message.tree))
    response = moved.tree.get("response")
    if isinstance(response, dict):
        response["message_id"] = moved.message_id
    session.messages[moved.message_id] = moved
    session.current_message_id = moved.message_id
    return moved


async def stop_stream(call: Call) -> Response:
    """End the running generation of ``message_id`` and free the account at once (NIY ref §6).

    Also ends a generation whose client already left (it would otherwise run to its end), and one
    whose headers were not sent yet: the answer is the session's current message from the moment
    the completion arrived (assumed, PROTOCOL.md §4.4). A message the session does not have is
    biz_code 26.
    """
    body = await read_json(call.request, call.body)
    check_fields(body, {"chat_session_id": "str", "message_id": "int"})
    session = find_session(call, body["chat_session_id"])
    if session is None:
        return biz_error(*ILLEGAL_SESSION)
    message = session.messages.get(body["message_id"])
    if message is None:
        return biz_error(*INVALID_MESSAGE)
    running = call.user.busy()
    if running is not None and running.session_id == session.id and running.message_id == message.message_id:
        call.user.release()  # whether or not its client is still reading
        response = message.tree.get("response")
        if isinstance(response, dict) and response.get("status") == "WIP":
            response["status"] = "INCOMPLETE"
        call.sim.world.count("stops")
    return ok(None)
