"""The example streams of PROTOCOL.md §5.5, reproduced by the demo scripts (structure, not bytes).

A stream's skeleton keeps named events and every structural patch frame with its effective
path and op (sticky ``p``/``o`` resolved) and drops text deltas, whose chunking is free.
"""

# ruff: noqa: E501 - long literal streams and one-line assertions read better unwrapped

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx

from deepseek_free_api.simulator import ModelConfig

from .client import Event, Sim, parse_sse

EXAMPLE_A = """event: ready
data: {"request_message_id":1,"response_message_id":2,"model_type":"default"}

event: update_session
data: {"updated_at":1777000000.1}

data: {"v":{"response":{"message_id":2,"parent_id":1,"role":"ASSISTANT","thinking_enabled":false,"status":"WIP","accumulated_token_usage":0,"search_enabled":false,"fragments":[],"has_pending_fragment":true,"auto_continue":false,"conversation_mode":"DEFAULT"}}}

data: {"p":"response","o":"BATCH","v":[{"p":"has_pending_fragment","v":false},{"p":"fragments","o":"APPEND","v":[{"id":1,"type":"RESPONSE","content":"Hi","references":[]}]}]}

data: {"p":"response/fragments/-1/content","o":"APPEND","v":" there"}

data: {"v":"!"}

data: {"p":"response","o":"BATCH","v":[{"p":"accumulated_token_usage","v":41},{"p":"quasi_status","v":"FINISHED"}]}

data: {"p":"response/status","o":"SET","v":"FINISHED"}

event: finish
data: {}

event: update_session
data: {"updated_at":1777000001.1}

event: title
data: {"content":"Greeting"}

event: close
data: {"click_behavior":"none","auto_resume":false}
"""  # noqa: E501

EXAMPLE_B = """event: ready
data: {"request_message_id":1,"response_message_id":2,"model_type":"default"}

data: {"v":{"response":{"message_id":2,"parent_id":1,"thinking_enabled":true,"status":"WIP","fragments":[{"id":2,"type":"THINK","content":"The user","elapsed_secs":null,"references":[],"stage_id":1}],"auto_continue":false}}}

data: {"p":"response/fragments/-1/content","o":"APPEND","v":" wants"}

data: {"v":" a haiku."}

data: {"p":"response/fragments/-1/elapsed_secs","o":"SET","v":2.4}

data: {"p":"response/fragments","o":"APPEND","v":[{"id":3,"type":"RESPONSE","content":"Autumn","references":[],"stage_id":1}]}

data: {"p":"response/fragments/-1/content","v":" moon"}

data: {"v":" rises"}

data: {"p":"response/fragments","v":[{"id":4,"type":"TIP","content":"AI-generated content, for reference only.","style":"WARNING","hide_on_wip":true}]}

data: {"p":"response","o":"BATCH","v":[{"p":"accumulated_token_usage","v":120},{"p":"quasi_status","v":"FINISHED"}]}

data: {"p":"response/status","o":"SET","v":"FINISHED"}
"""  # noqa: E501

EXAMPLE_C = """data: {"v":{"response":{"message_id":2,"parent_id":1,"thinking_enabled":false,"search_enabled":true,"status":"WIP","fragments":[],"conversation_mode":"DEFAULT","search_triggered":true}}}

data: {"p":"response","o":"BATCH","v":[{"p":"fragments","o":"APPEND","v":[{"id":2,"type":"TOOL_SEARCH","status":"WIP","content":null,"queries":[{"query":"Paris weather today"}],"results":[],"stage_id":1}]}]}

data: {"p":"response/fragments/-1/results","o":"SET","v":[{"url":"https://example.org/paris","title":"Paris forecast","snippet":"Light rain, 14°C","cite_index":null,"site_name":"Example"}]}

data: {"p":"response/fragments/-1/status","v":"FINISHED"}

data: {"p":"response/fragments","o":"APPEND","v":[{"id":3,"type":"RESPONSE","content":"Light rain","references":[],"stage_id":1}]}

data: {"p":"response/fragments/-1","o":"BATCH","v":[{"p":"content","o":"APPEND","v":"[reference:0]"},{"p":"references","o":"SET","v":[{"id":2,"type":"TOOL_SEARCH"}]}]}

data: {"p":"response/fragments/-1/content","o":"APPEND","v":", about 14°C."}

data: {"p":"response","o":"BATCH","v":[{"p":"accumulated_token_usage","v":300},{"p":"quasi_status","v":"FINISHED"}]}

data: {"p":"response/status","o":"SET","v":"FINISHED"}
"""  # noqa: E501

EXAMPLE_E1 = """data: {"p":"response/fragments/-1/content","o":"APPEND","v":"normal answer text"}

data: {"p":"response/fragments","v":[{"id":37,"type":"TIP","content":"AI-generated","style":"WARNING","hide_on_wip":true}]}

data: {"p":"response","o":"BATCH","v":[{"p":"accumulated_token_usage","v":1269},{"p":"quasi_status","v":"FINISHED"}]}

data: {"v":[{"p":"ban_regenerate","v":true},{"p":"status","v":"CONTENT_FILTER"},{"p":"fragments","v":[{"id":38,"type":"TEMPLATE_RESPONSE","content":"Sorry"}]},{"p":"quasi_status","v":"CONTENT_FILTER"}]}

event: finish
data: {}
"""  # noqa: E501

# The note's e3 excerpt leaves "o" out of the status frame, which after a BATCH would inherit
# BATCH under the sticky rule (§5.3 rule 1); the simulator sends "o":"SET", as every other end does.
EXAMPLE_E3 = """data: {"p":"response","o":"BATCH","v":[{"p":"accumulated_token_usage","v":2413},{"p":"quasi_status","v":"INCOMPLETE"}]}

data: {"p":"response/status","o":"SET","v":"INCOMPLETE"}

data: {"type":"error","content":"Server is temporarily unavailable.","finish_reason":"generation_err"}

event: close
data: {"click_behavior":"none","auto_resume":false}
"""

EXAMPLE_E2 = """event: ready
data: {"request_message_id":1,"response_message_id":2,"model_type":"default"}

event: hint
data: {"type":"error","content":"Content is too long. Please shorten it and try again.","clear_response":true,"finish_reason":"input_exceeds_limit"}
"""  # noqa: E501

_STATUSES = {"WIP", "FINISHED", "INCOMPLETE", "CONTENT_FILTER", True, False}


def _kind(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, dict) and "type" in v for v in value):
        return tuple(v["type"] for v in value)
    if isinstance(value, list) and value and all(isinstance(v, dict) and "v" in v for v in value):
        out, op = [], "SET"
        for sub in value:
            op = sub.get("o", op)
            out.append((sub["p"], op, _kind(sub["v"])))
        return tuple(out)
    if isinstance(value, str | bool) and value in _STATUSES:
        return value
    return type(value).__name__


def skeleton(events: list[Event]) -> list[tuple[Any, ...]]:
    """Named events and structural frames with effective path/op; text deltas dropped."""
    out: list[tuple[Any, ...]] = []
    path, op = "", "SET"
    for event in events:
        if event.name is not None:
            out.append((event.name,))
            continue
        data = event.json()
        if "v" not in data:
            out.append(("error", data.get("finish_reason")))
            continue
        path, op = data.get("p", path), data.get("o", op)
        value = data["v"]
        if isinstance(value, dict) and "response" in value:
            out.append(("snapshot", _kind(value["response"].get("fragments", []))))
            path, op = "", "SET"
        elif isinstance(value, str) and path.endswith("content") and op == "APPEND":
            continue
        else:
            out.append((path, op, _kind(value)))
    return out


def is_subsequence(expected: list[tuple[Any, ...]], actual: list[tuple[Any, ...]]) -> bool:
    remaining = iter(actual)
    return all(any(item == candidate for candidate in remaining) for item in expected)


def _stream(sim: Sim, prompt: str, **fields: Any) -> list[Event]:
    response = sim.complete(sim.session(), prompt, **fields)
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


def test_example_a_plain_chat(sim: Sim) -> None:
    ours = skeleton(_stream(sim, "example a: greeting"))
    assert ours == skeleton(parse_sse(EXAMPLE_A))


def test_example_b_thinking(sim: Sim) -> None:
    expected = skeleton(parse_sse(EXAMPLE_B))
    assert is_subsequence(expected, skeleton(_stream(sim, "example b: haiku", thinking_enabled=True)))


def test_example_c_search(sim: Sim) -> None:
    expected = skeleton(parse_sse(EXAMPLE_C))
    ours = skeleton(_stream(sim, "example c: paris weather", search_enabled=True))
    assert is_subsequence(expected, ours)
    assert ours[2][0] == "snapshot" and ours[3:][: len(expected) - 1] == expected[1:]


def test_example_d_deep_search_phases(sim: Sim) -> None:
    ours = skeleton(_stream(sim, "example d: guangzhou weather", thinking_enabled=True, search_enabled=True))
    frags = "response/fragments"
    expected = [
        ("snapshot", ("THINK",)),
        ("response/fragments/-1/elapsed_secs", "SET", "float"),
        ("response/has_pending_fragment", "SET", True),
        ("response", "BATCH", (("fragments", "APPEND", ("TOOL_SEARCH", "TOOL_SEARCH")),)),
        (f"{frags}/-2/results", "SET", "list"),
        (f"{frags}/-2/status", "SET", "FINISHED"),
        (f"{frags}/-1/results", "SET", "list"),
        (f"{frags}/-1/status", "SET", "FINISHED"),
        ("response", "BATCH", (("fragments", "APPEND", ("THINK",)), ("has_pending_fragment", "SET", False))),
        ("response", "BATCH", (("fragments", "APPEND", ("TOOL_OPEN", "TOOL_OPEN", "TOOL_OPEN")),)),
        (f"{frags}/-3/status", "SET", "FINISHED"),
        (f"{frags}", "APPEND", ("RESPONSE",)),
        (f"{frags}/-1", "BATCH", (("content", "APPEND", "str"), ("references", "SET", ("TOOL_OPEN",)))),
        (f"{frags}/-1", "BATCH", (("content", "APPEND", "str"), ("references", "APPEND", ("TOOL_OPEN",)))),
        (
            "response",
            "BATCH",
            (("accumulated_token_usage", "SET", "int"), ("quasi_status", "SET", "FINISHED")),
        ),
        ("response/status", "SET", "FINISHED"),
        ("finish",),
        ("update_session",),
        ("title",),
        ("close",),
    ]
    assert is_subsequence(expected, ours), ours


def test_example_e1_content_filter(sim: Sim) -> None:
    expected = skeleton(parse_sse(EXAMPLE_E1))
    assert is_subsequence(expected, skeleton(_stream(sim, "example e1: filtered")))


def test_example_e2_hint(custom: Callable[..., AbstractContextManager[httpx.Client]]) -> None:
    with custom(models=(ModelConfig("default", True, 10),)) as client:
        ours = _stream(Sim(client, "demo-token-1"), "a prompt longer than ten characters")
    assert skeleton(ours) == skeleton(parse_sse(EXAMPLE_E2))
    assert ours[1].json() == parse_sse(EXAMPLE_E2)[1].json()


def test_example_e3_generation_err(sim: Sim) -> None:
    ours = skeleton(_stream(sim, "example e3: broken"))
    expected = skeleton(parse_sse(EXAMPLE_E3))
    assert ours[-len(expected) :] == expected
