"""Completion streams, turns, limits and the one-generation-per-account rule."""

# ruff: noqa: E501 - long literal streams and one-line assertions read better unwrapped

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx

from .client import Sim, answer_text, apply_frames, parse_sse, thinking_text
from .conftest import wait_until

Custom = Callable[..., AbstractContextManager[httpx.Client]]


def _tree(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("text/event-stream"), response.text
    return apply_frames(parse_sse(response.text))


def test_echo_reply_states_what_upstream_received(sim: Sim) -> None:
    tree = _tree(sim.complete(sim.session(), "first line\nsecond line"))
    assert (
        answer_text(tree)
        == "Echo: second line | model=default thinking=false search=false files=0 parent=none"
    )
    assert tree["response"]["status"] == "FINISHED"


def test_echo_reads_the_last_user_turn_of_a_folded_prompt(sim: Sim) -> None:
    prompt = "Be terse<｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜>"
    assert answer_text(_tree(sim.complete(sim.session(), prompt))).startswith("Echo: 2+2? |")


def test_thinking_and_search_flags(sim: Sim) -> None:
    tree = _tree(sim.complete(sim.session(), "weather", thinking_enabled=True, search_enabled=True))
    kinds = [f["type"] for f in tree["response"]["fragments"]]
    assert kinds[0] == "THINK" and "TOOL_SEARCH" in kinds and "TOOL_OPEN" in kinds and kinds[-1] == "RESPONSE"
    assert thinking_text(tree).startswith("The user said: weather.")
    answer = answer_text(tree)
    assert "thinking=true search=true" in answer and "[reference:0]" in answer
    response = tree["response"]["fragments"][-1]
    assert all(ref["type"] == "TOOL_OPEN" for ref in response["references"])
    assert tree["response"]["conversation_mode"] == "DEEP_SEARCH"


def test_generation_2_for_the_always_client(sim: Sim) -> None:
    response = sim.complete(
        sim.session(), "hi", headers={"X-Client-Version": "1.0.0-always"}, search_enabled=True
    )
    tree = _tree(response)["response"]
    assert "fragments" not in tree and tree["status"] == "FINISHED"
    assert tree["content"].startswith("Echo: hi |") and "[citation:1]" in tree["content"]
    assert tree["search_results"][0]["cite_index"] == 1


def test_generation_1_by_rule(custom: Custom) -> None:
    from deepseek_free_api.simulator import VersionRule

    with custom(generation_rules=(VersionRule("^0\\.", 1),)) as client:
        sim = Sim(client, "demo-token-1")
        response = sim.complete(
            sim.session(), "hi", headers={"X-Client-Version": "0.9.0"}, thinking_enabled=True
        )
        events = parse_sse(response.text)
        assert events[-1].data == "[DONE]"
        chunks = [e.json() for e in events[:-1]]
        text = "".join(
            c["choices"][0]["delta"]["content"] for c in chunks if c["choices"][0]["delta"]["type"] == "text"
        )
        assert text.startswith("Echo: hi | model=default thinking=true")
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_message_ids_and_parents_across_turns_and_history(sim: Sim) -> None:
    session = sim.session()
    first = parse_sse(sim.complete(session, "one").text)[0]
    assert first.name == "ready" and first.json() == {"request_message_id": 1, "response_message_id": 2,
                                                       "model_type": "default"}  # fmt: skip
    second = sim.complete(session, "two", parent_message_id=2)
    assert parse_sse(second.text)[0].json()["response_message_id"] == 4
    assert answer_text(_tree(second)).endswith("parent=2")
    history = sim.get("chat/history_messages", chat_session_id=session).json()["data"]["biz_data"]
    assert history["chat_session"]["current_message_id"] == 4
    messages = {m["message_id"]: m for m in history["chat_messages"]}
    assert messages[3]["parent_id"] == 2 and messages[3]["fragments"][0] == {"id": 1, "type": "REQUEST",
                                                                             "content": "two"}  # fmt: skip
    assert messages[4]["role"] == "ASSISTANT" and messages[4]["status"] == "FINISHED"


def test_stale_parent_makes_a_branch_and_unknown_parent_is_refused(sim: Sim, client: httpx.Client) -> None:
    session = sim.session()
    sim.complete(session, "one")
    sim.complete(session, "two", parent_message_id=2)
    branch = sim.complete(session, "again", parent_message_id=2)
    assert parse_sse(branch.text)[0].json()["request_message_id"] == 5
    assert client.get("/_sim/state").json()["counters"]["branches"] == 1
    assert sim.complete(session, "x", parent_message_id=99).json()["data"]["biz_code"] == 26


def test_expert_refused_for_old_client_versions(sim: Sim) -> None:
    session = sim.session()
    old = sim.complete(session, "hi", model_type="expert", headers={"X-Client-Version": "1.0.0-always"})
    events = parse_sse(old.text)
    assert [e.name for e in events] == ["ready", "hint"]
    assert events[1].json()["finish_reason"] == "unsupported_client_by_model"
    new = sim.complete(session, "hi", model_type="expert")
    assert "model=expert" in answer_text(_tree(new))


def test_input_exceeds_limit_hint(custom: Custom) -> None:
    from deepseek_free_api.simulator import ModelConfig

    with custom(models=(ModelConfig("default", True, 20),)) as client:
        sim = Sim(client, "demo-token-1")
        events = parse_sse(sim.complete(sim.session(), "x" * 21).text)
        assert [e.name for e in events] == ["ready", "hint"]
        assert events[1].json()["finish_reason"] == "input_exceeds_limit"
        assert events[1].json()["clear_response"] is True


def test_rate_limited_account_gets_the_hint(sim: Sim, client: httpx.Client) -> None:
    client.post("/_sim/accounts/demo-1", json={"rate_limited": True})
    events = parse_sse(sim.complete(sim.session(), "hi").text)
    assert events[1].name == "hint" and events[1].json()["finish_reason"] == "rate_limit_reached"


def test_content_filter_on_trigger_words(sim: Sim) -> None:
    tree = _tree(sim.complete(sim.session(), "tell me about simulated-forbidden-topic"))["response"]
    assert tree["status"] == "CONTENT_FILTER" and tree["quasi_status"] == "CONTENT_FILTER"
    assert [f["type"] for f in tree["fragments"]] == ["TEMPLATE_RESPONSE"]


def test_throttle_after_the_burst(custom: Custom) -> None:
    with custom(throttle_burst=2, throttle_window_seconds=60) as client:
        sim = Sim(client, "demo-token-1")
        session = sim.session()
        for _ in range(2):
            assert _tree(sim.complete(session, "hi"))["response"]["status"] == "FINISHED"
        third = parse_sse(sim.complete(session, "hi").text)
        assert third[0].json() == {"type": "error", "content": "消息发送过于频繁，请稍后重试"}


def test_banned_account_streams_an_empty_answer(sim: Sim, client: httpx.Client) -> None:
    session = sim.session()
    client.post("/_sim/accounts/demo-1", json={"banned": True})
    tree = _tree(sim.complete(session, "hi"))
    assert answer_text(tree) == "" and tree["response"]["status"] == "FINISHED"


def _hold_stream(sim: Sim, session: str, started: threading.Event, release: threading.Event) -> None:
    body = sim.completion_body(session, "slow")
    headers = sim.h(**{"X-Ds-Pow-Response": sim.pow_header()})
    with sim.client.stream("POST", "/api/v0/chat/completion", json=body, headers=headers) as response:
        for line in response.iter_lines():
            if '"RESPONSE"' in line:
                started.set()
                release.wait(10)
                return


@contextmanager
def _stream_in_flight(sim: Sim, session: str) -> Iterator[None]:
    """A completion in ``session`` that stays mid-answer until the block ends, then hangs up."""
    started, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_stream, args=(sim, session, started, release))
    holder.start()
    try:
        assert started.wait(10)
        yield
    finally:
        release.set()
        holder.join(10)


def test_second_concurrent_completion_on_one_account_is_busy(sim: Sim, client: httpx.Client) -> None:
    session = sim.session()
    with _stream_in_flight(sim, session):
        state = client.get("/_sim/state").json()
        assert state["in_flight"]["demo-1"]["session_id"] == session
        busy = parse_sse(sim.complete(sim.session(), "hi").text)
        assert busy[0].json()["content"] == "A message is being generated, please try again later."
        other = Sim(client, "demo-token-2")
        assert answer_text(_tree(other.complete(other.session(), "hi"))).startswith("Echo: hi")
    violations = client.get("/_sim/state").json()["violations"]
    assert len(violations) == 1 and violations[0]["account"] == "demo-1"
    # The client hung up: the account is free again once the slow reply's generation ends.
    assert wait_until(lambda: not client.get("/_sim/state").json()["in_flight"])
    assert _tree(sim.complete(session, "hi"))["response"]["status"] == "FINISHED"


def test_busy_as_json_envelope_when_configured(custom: Custom) -> None:
    with custom(busy_response="json") as client:
        sim = Sim(client, "demo-token-1")
        session = sim.session()
        with _stream_in_flight(sim, session):
            busy = sim.complete(session, "hi")
            assert busy.headers["content-type"].startswith("application/json")
            assert busy.json()["data"]["biz_msg"] == "A message is being generated, please try again later."


def test_stop_stream_ends_the_generation_and_frees_the_account(sim: Sim, client: httpx.Client) -> None:
    session = sim.session()
    body = sim.completion_body(session, "slow")
    headers = sim.h(**{"X-Ds-Pow-Response": sim.pow_header()})
    with client.stream("POST", "/api/v0/chat/completion", json=body, headers=headers) as response:
        lines = response.iter_lines()
        ready = next(line for line in lines if line.startswith("data:"))
        assert '"response_message_id":2' in ready
        stop = sim.post("chat/stop_stream", {"chat_session_id": session, "message_id": 2}).json()
        assert stop["code"] == 0 and stop["data"]["biz_code"] == 0
        assert client.get("/_sim/state").json()["in_flight"] == {}
        rest = list(lines)
    assert not any("FINISHED" in line for line in rest)
    history = sim.get("chat/history_messages", chat_session_id=session).json()["data"]["biz_data"]
    assert history["chat_messages"][-1]["status"] == "INCOMPLETE"


def test_continue_resumes_an_incomplete_answer(sim: Sim) -> None:
    session = sim.session()
    broken = parse_sse(sim.complete(session, "example e3: broken").text)
    assert broken[-2].json()["finish_reason"] == "generation_err"
    first = apply_frames(broken)
    assert first["response"]["status"] == "INCOMPLETE"
    partial = answer_text(first)
    body = {"chat_session_id": session, "message_id": 2, "fallback_to_resume": True}
    events = parse_sse(sim.post("chat/continue", body).text)  # no PoW needed
    assert events[0].name == "ready" and events[0].json()["response_message_id"] == 2
    snapshot = events[2].json()["v"]["response"]
    assert answer_text({"response": snapshot}) == partial
    final = apply_frames(events)
    assert final["response"]["status"] == "FINISHED"
    assert (
        answer_text(final) == "This answer breaks after forty characters and needs chat/continue to finish."
    )


def test_edit_message_and_regenerate(sim: Sim) -> None:
    session = sim.session()
    sim.complete(session, "original", thinking_enabled=True)
    pow_edit = sim.pow_header("/api/v0/chat/edit_message")
    body = {"chat_session_id": session, "message_id": 1, "prompt": "edited", "search_enabled": False,
            "thinking_enabled": False}  # fmt: skip
    edited = sim.post("chat/edit_message", body, **{"X-Ds-Pow-Response": pow_edit})
    ready = parse_sse(edited.text)[0].json()
    assert ready["response_message_id"] == 4
    assert answer_text(_tree(edited)).startswith("Echo: edited | model=default thinking=false")
    pow_regen = sim.pow_header("/api/v0/chat/regenerate")
    regen = sim.post("chat/regenerate", {"chat_session_id": session, "message_id": 4},
                     **{"X-Ds-Pow-Response": pow_regen})  # fmt: skip
    assert parse_sse(regen.text)[0].json() == {"request_message_id": 3, "response_message_id": 5,
                                               "model_type": "default"}  # fmt: skip
    assert answer_text(_tree(regen)).startswith("Echo: edited")
    without_pow = sim.post("chat/regenerate", {"chat_session_id": session, "message_id": 4})
    assert without_pow.json()["code"] == 40301
