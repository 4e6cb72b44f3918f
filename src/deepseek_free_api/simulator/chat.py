"""Generating calls: ``chat/completion``, ``edit_message``, ``regenerate``, ``continue``, ``stop_stream``.

Order of checks: body (422) -> proof of work (40301) -> mute (biz_code 5 / 50006) -> a ban told
in the stream (40012) -> session, parent, files -> faults -> one generation per account (busy) ->
throttle -> hints -> stream.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from starlette.responses import Response

from .core import Call, pow_refusal
from .envelope import biz_error, check_fields, json_response, read_json
from .faults import Fault
from .files import file_status
from .generation import StreamRun, build_shape, plan_with_fault
from .reading import ASSISTANT, USER
from .replies import TurnFacts, plan_reply
from .retention import LENGTH_LIMIT, grow, is_full
from .sessions import ILLEGAL_SESSION, find_session
from .signals import (
    THROTTLED,
    TOO_FREQUENT,
    ban_stream,
    drifted_stream,
    mute_refusal,
    throttle_stream,
    throttled,
    version_tuple,
)
from .sse import encode, short_stream
from .state import Generation, Message, Session
from .stream_items import StreamShape

# Texts measured 2026-09-11 (SRC-69391278382); the JSON biz_codes below are the simulator's choice.
BUSY = "A message is being generated, please try again later."
INVALID_MESSAGE = (26, "invalid message id")  # NIY ref §5
INVALID_FILE = (21, "INVALID_REF_FILE_ID")
_HINTS = {
    "input_exceeds_limit": "Content is too long. Please shorten it and try again.",
    "rate_limit_reached": TOO_FREQUENT,
    "unsupported_client_by_model": "Update to the latest version to use Expert/Vision.",
    "conversation_length": LENGTH_LIMIT,
}
# The length limit's own finish_reason is not known (retention.py): sent as the input limit's.
_FINISH_REASONS = {"conversation_length": "input_exceeds_limit"}


def generation_for(call: Call) -> int:
    """Stream generation chosen by ``X-Client-Version`` (first matching rule)."""
    version = call.request.headers.get("x-client-version", "")
    for rule in call.sim.config.generation_rules:
        if re.search(rule.client_version, version):
            return rule.generation
    return call.sim.config.default_generation


async def open_turn(
    call: Call, required: Mapping[str, str], optional: Mapping[str, str] | None = None, *, proof: bool = True
) -> tuple[dict[str, Any], Session] | Response:
    """The checked body and the caller's session, or the refusal: 40301 (if ``proof``), mute, session."""
    body = await read_json(call.request, call.body)
    check_fields(body, required, optional)
    refusal = (pow_refusal(call) if proof else None) or mute_refusal(call.user) or ban_stream(call.user)
    if refusal is not None:
        return refusal
    session = find_session(call, body["chat_session_id"])
    if session is None:
        return biz_error(*ILLEGAL_SESSION)
    return body, session


def _error_frame(call: Call, text: str, kind: str) -> Response:
    call.sim.world.count(kind)
    return short_stream([encode({"type": "error", "content": text})])


def _busy(call: Call, session_id: str) -> Response | None:
    """Refuse a second concurrent generation and record the attempt as a violation."""
    account = call.user
    running = account.busy()
    if running is None:
        return None
    call.sim.world.violations.append(
        {"account": account.id, "time": time.time(), "path": call.request.url.path, "session_id": session_id}
        | {"running": running.describe(), "refused": True}
    )
    if call.sim.config.busy_response == "json":
        call.sim.world.count("busy_refusals")
        return biz_error(3, BUSY)
    return _error_frame(call, BUSY, "busy_refusals")


def refusal_stream(call: Call, fault: Fault | None, session_id: str) -> Response | None:
    if fault is not None and fault.name == "json_instead_of_sse":
        code = int(fault.number("code", 1001))
        return json_response(
            {"code": code, "msg": str(fault.params.get("msg", "Rate limited")), "data": None}
        )
    if fault is not None and fault.name == "busy":
        return _error_frame(call, BUSY, "busy_refusals")
    if fault is not None and fault.name == "format_drift":
        call.sim.world.count("format_drift")
        return drifted_stream()
    busy = _busy(call, session_id)
    if busy is not None:
        return busy
    if fault is not None and fault.name == "throttle":
        return _error_frame(call, THROTTLED, "throttled")
    if throttled(call.sim.config, call.user):
        call.sim.world.count("throttled")
        return throttle_stream(call.user)
    return None


def hint_for(call: Call, facts: TurnFacts, fault: Fault | None, session: Session) -> str | None:
    config, version = call.sim.config, call.request.headers.get("x-client-version", "")
    if is_full(call.sim.world, session):
        return "conversation_length"
    if facts.model_type in ("expert", "vision") and version_tuple(version) < version_tuple(
        config.expert_min_client_version
    ):
        return "unsupported_client_by_model"
    limit = next((m.input_character_limit for m in call.sim.models if m.model_type == facts.model_type), None)
    if limit is not None and len(facts.prompt) > limit:
        return "input_exceeds_limit"
    if call.user.rate_limited or (fault is not None and fault.name == "rate_limit"):
        return "rate_limit_reached"
    return None


def hint_stream(call: Call, ids: tuple[int, int], model_type: str, reason: str) -> Response:
    call.sim.world.count(f"hint_{reason}")
    ready = {"request_message_id": ids[0], "response_message_id": ids[1], "model_type": model_type}
    finish = _FINISH_REASONS.get(reason, reason)
    hint = {"type": "error", "content": _HINTS[reason], "clear_response": True, "finish_reason": finish}
    return short_stream([encode(ready, "ready"), encode(hint, "hint")])


def start_reply(
    call: Call,
    session: Session,
    facts: TurnFacts,
    ids: tuple[int, int],
    fault: Fault | None,
    kind: str,
) -> Response:
    """Claim the account and stream a fresh reply for the user message ``ids[0]``."""
    sim, account = call.sim, call.user
    if is_full(sim.world, session):  # a regenerated answer adds a message too
        return hint_stream(call, ids, facts.model_type, "conversation_length")
    plan = plan_with_fault(plan_reply(facts, sim.config), fault)
    if account.banned:  # banned accounts get a valid but empty stream (Chat2API #164, 2026-06)
        plan = replace(plan, answer="", thinking=None, results=(), tip=None)
    message = Message(ids[1], ids[0], "ASSISTANT", time.time(), generation=generation_for(call))
    message.plan, message.facts = plan, facts  # a continue rebuilds the same stream from these
    session.messages[message.message_id] = message
    grow(sim.world, session, len(plan.answer) + len(plan.thinking or ""))
    session.current_message_id = message.message_id
    session.updated_at = time.time()
    session.title = session.title or plan.title
    account.completions += 1
    account.recent.append(time.monotonic())
    sim.world.count("generations")
    shape = build_shape(message, sim.config.emit_finish)
    message.tree = {"response": shape.snapshot()}
    cut = plan.incomplete_after
    if fault is not None and fault.name == "generation_err":
        total = sum(f.chars for f in shape.body())
        cut = int(fault.number("after", max(1, total // 2)))
    return run_stream(call, session, message, shape, 0, cut, fault, kind)


def run_stream(
    call: Call,
    session: Session,
    message: Message,
    shape: StreamShape,
    start: int,
    cut: int,
    fault: Fault | None,
    kind: str,
) -> Response:
    """Claim the account for ``message`` and stream ``shape`` from body frame ``start`` on."""
    account = call.user
    assert message.facts is not None
    generation = Generation(account.id, session.id, message.message_id, kind)
    account.generation = generation
    run = StreamRun(account, generation, message, shape, start, cut, fault,
                    call.sim.config.busy_after_disconnect_seconds, len(message.facts.prompt))  # fmt: skip
    return run.response()


def add_user_message(
    call: Call, session: Session, message_id: int, facts: TurnFacts, files: list[str]
) -> None:
    """Record the user message ``message_id`` under ``facts.parent``."""
    user = Message(message_id, facts.parent, "USER", time.time(), prompt=facts.prompt, files=list(files))
    user.model_type, user.thinking, user.search = facts.model_type, facts.thinking, facts.search
    session.messages[message_id] = user
    grow(call.sim.world, session, len(facts.prompt))


async def completion(call: Call) -> Response:
    """A new turn (PROTOCOL.md §4.2)."""
    opened = await open_turn(
        call,
        {"chat_session_id": "str", "prompt": "str", "ref_file_ids": "list?", "thinking_enabled": "bool",
         "search_enabled": "bool"},
        {"parent_message_id": "int?", "model_type": "str?", "preempt": "bool?", "client_stream_id": "str?"},
    )  # fmt: skip
    if isinstance(opened, Response):
        return opened
    body, session = opened
    parent = body.get("parent_message_id")
    if parent is not None and (
        parent not in session.messages or session.messages[parent].role != "ASSISTANT"
    ):
        return biz_error(*INVALID_MESSAGE)
    files = list(body.get("ref_file_ids") or [])
    for file_id in files:
        record = call.sim.world.files.get(file_id) if isinstance(file_id, str) else None
        if record is None or record.account_id != call.user.id or file_status(record) != "SUCCESS":
            return biz_error(*INVALID_FILE)
    model_type = body.get("model_type") or session.model_type
    if model_type not in {m.model_type for m in call.sim.models if m.enabled}:
        return biz_error(1, "INVALID_MODEL_TYPE")
    fault = call.stream_fault(body["prompt"])
    refused = refusal_stream(call, fault, session.id)
    if refused is not None:
        return refused
    if parent is not None and parent != session.current_message_id:
        call.sim.world.count("branches")  # a stale parent silently forks (SRC-59133341063)
    facts = TurnFacts(
        body["prompt"],
        model_type,
        body["thinking_enabled"],
        body["search_enabled"],
        len(files),
        parent,
        # Only scripts of scope "session" read it; kept with the message, so not made for nothing.
        branch_text(session, parent) if any(s.scope == "session" for s in call.sim.config.scripts) else "",
    )
    ids = session.next_ids()
    hint = hint_for(call, facts, fault, session)
    if hint is not None:
        return hint_stream(call, ids, model_type, hint)
    session.model_type = model_type
    session.ref_file_ids = files
    add_user_message(call, session, ids[0], facts, files)
    return start_reply(call, session, facts, ids, fault, "completion")


def branch_text(session: Session, parent: int | None) -> str:
    """The session's branch up to ``parent`` as the model sees it: each earlier prompt and answer,
    ``<｜User｜>`` / ``<｜Assistant｜>`` before each (scripts of scope "session" search it)."""
    parts: list[str] = []
    message = session.messages.get(parent) if parent is not None else None
    seen = 0
    while message is not None and seen <= len(session.messages):  # bounded: a tree has no cycle
        if message.role == "USER":
            parts.append(USER + message.prompt)
        else:
            parts.append(ASSISTANT + (message.plan.answer if message.plan is not None else ""))
        message = session.messages.get(message.parent_id) if message.parent_id is not None else None
        seen += 1
    return "".join(reversed(parts))
