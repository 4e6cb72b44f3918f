"""Session reuse for agents: a task of several tool round trips in one DeepSeek session, each turn sent alone.

Agent-shaped conversations (Claude Code through Anthropic Messages, Codex through Responses with
``store: false``) send the whole history on every request; the simulator answers with tool calls
until the last tool result comes back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

OTHER_KEY = "sk-test-other-service-key"
SYSTEM = "You are a coding agent. Work in the repository. " * 40  # ~2 kB, like an agent's own prompt
TASK = "please start: list the files, read the notes, then write the summary"
# Each tool result names the next step; the last one gets a plain answer.
SCRIPTS = [
    {"pattern": "RESULT-3", "scope": "last_turn", "answer": "All done: the summary is written."},
    {"pattern": "RESULT-2", "scope": "last_turn", "tool_calls": [{"tool": "write_file", "fill": "summary"}]},
    {"pattern": "RESULT-1", "scope": "last_turn", "tool_calls": [{"tool": "read_file", "fill": "notes.md"}]},
    {"pattern": "please start", "scope": "last_turn", "tool_calls": [{"tool": "run", "fill": "ls"}]},
]


def _tool(name: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"arg": {"type": "string"}}, "required": ["arg"]}
    return {"name": name, "description": f"The {name} tool.", "schema": schema}


TOOLS = [_tool("run"), _tool("read_file"), _tool("write_file")]


def stack_with(**settings: Any) -> Iterator[Stack]:
    yield from start_stack(
        simulator_config(scripts=SCRIPTS), min_interval_s=0.0, api_keys=[API_KEY, OTHER_KEY], **settings
    )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from stack_with()


class ClaudeLike:
    """A Claude Code-shaped client: system blocks (a billing line that changes every time), the history."""

    def __init__(self, stack: Stack, key: str = API_KEY) -> None:
        self.stack, self.key = stack, key
        self.messages: list[dict[str, Any]] = [{"role": "user", "content": TASK}]

    def send(self) -> dict[str, Any]:
        system = [
            {
                "type": "text",
                "text": f"x-anthropic-billing-header: cc_version=2.1.0; cch={uuid.uuid4().hex[:5]};",
            },
            {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}},
        ]
        tools = [
            {"name": t["name"], "description": t["description"], "input_schema": t["schema"]} for t in TOOLS
        ]
        body = {
            "model": "claude-sonnet-4-6",
            "max_tokens": 32000,
            "system": system,
            "tools": tools,
            "messages": self.messages,
        }
        reply = httpx.post(
            self.stack.server.url + "/v1/messages", json=body, headers={"x-api-key": self.key}, timeout=60
        )
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        self.messages.append({"role": "assistant", "content": answer["content"]})
        return answer

    def result(self, answer: dict[str, Any], text: str) -> None:
        [call] = [block for block in answer["content"] if block["type"] == "tool_use"]
        result = {"type": "tool_result", "tool_use_id": call["id"], "content": text}
        self.messages.append({"role": "user", "content": [result]})


class CodexLike:
    """A Codex-shaped client: Responses, store false, a developer message, output items echoed back."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.items: list[dict[str, Any]] = [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": SYSTEM}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": TASK}]},
        ]

    def send(self) -> dict[str, Any]:
        tools = [
            {
                "type": "function",
                "name": t["name"],
                "description": t["description"],
                "parameters": t["schema"],
            }
            for t in TOOLS
        ]
        body = {"model": "gpt-5.5", "input": self.items, "tools": tools, "store": False, "stream": False}
        headers = {"Authorization": f"Bearer {API_KEY}"}
        reply = httpx.post(self.stack.base_url + "/responses", json=body, headers=headers, timeout=60)
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        self.items.extend(answer["output"])
        return answer

    def result(self, answer: dict[str, Any], text: str) -> None:
        [call] = [item for item in answer["output"] if item["type"] == "function_call"]
        self.items.append({"type": "function_call_output", "call_id": call["call_id"], "output": text})


def run_task(client: ClaudeLike | CodexLike) -> list[dict[str, Any]]:
    """The task: three tool round trips, then the answer; the upstream completions it caused."""
    before = len(client.stack.upstream_requests("/chat/completion"))
    answer = client.send()
    for step in (1, 2, 3):
        client.result(answer, f"RESULT-{step}: output of step {step}")
        answer = client.send()
    assert "All done" in str(answer)
    return client.stack.upstream_requests("/chat/completion")[before:]


def sessions(completions: list[dict[str, Any]]) -> set[str]:
    return {c["body"]["chat_session_id"] for c in completions}


@pytest.mark.parametrize("client", [ClaudeLike, CodexLike], ids=["anthropic", "responses"])
def test_an_agent_task_runs_in_one_session_sending_only_each_new_turn(stack: Stack, client: type) -> None:
    # On the base code each of the 4 requests made a new session and re-sent the whole history.
    completions = run_task(client(stack))
    assert len(completions) == 4 and len(sessions(completions)) == 1
    first, *rest = completions
    assert SYSTEM[:200] in first["prompt"] and TASK in first["prompt"]
    for step, sent in enumerate(rest, start=1):
        assert sent["body"]["parent_message_id"] is not None
        assert SYSTEM[:200] not in sent["prompt"] and TASK not in sent["prompt"]  # only the new turn
        assert f"RESULT-{step}" in sent["prompt"] and f"RESULT-{step - 1}" not in sent["prompt"]
        assert "write_file" in sent["prompt"]  # the tools are offered again, as on every continued turn


def test_characters_sent_upstream_with_and_without_reuse() -> None:
    sent: dict[str, list[int]] = {}
    for name, settings in (("reuse", {}), ("no reuse", {"chat.session_reuse": False})):
        for stack in stack_with(**settings):
            completions = run_task(ClaudeLike(stack))
            sent[name] = [len(c["prompt"]) for c in completions]
            if name == "no reuse":
                assert len(sessions(completions)) == 4  # the setting turns it off
    print(f"\ncharacters per upstream prompt: {sent} (totals {[sum(v) for v in sent.values()]})")
    assert sum(sent["reuse"]) < sum(sent["no reuse"])
    assert max(sent["reuse"][1:]) < sent["reuse"][0]  # each later prompt smaller than the first
    assert sent["no reuse"] == sorted(sent["no reuse"])  # without it, every prompt carries all before it


def test_an_edited_earlier_message_is_replayed_in_a_new_session(stack: Stack) -> None:
    client = ClaudeLike(stack)
    answer = client.send()
    client.result(answer, "RESULT-1: output of step 1")
    client.send()
    started = stack.upstream_requests("/chat/completion")[-1]
    client.messages[0] = {"role": "user", "content": TASK + " (and be quick)"}  # the user edited the task
    client.messages[-1:] = []  # the last answer goes; the request ends with the tool result again
    client.send()
    sent = stack.upstream_requests("/chat/completion")[-1]
    assert sent["body"]["parent_message_id"] is None
    assert sent["body"]["chat_session_id"] != started["body"]["chat_session_id"]
    assert "(and be quick)" in sent["prompt"] and "RESULT-1" in sent["prompt"]


def test_two_keys_with_the_same_conversation_never_share_a_session(stack: Stack) -> None:
    mine, theirs = run_task(ClaudeLike(stack)), run_task(ClaudeLike(stack, OTHER_KEY))
    assert len(sessions(mine)) == 1 and len(sessions(theirs)) == 1
    assert sessions(mine) != sessions(theirs)


def test_a_session_about_to_grow_past_the_limit_is_replaced_by_a_new_one(stack: Stack) -> None:
    probe = ClaudeLike(stack)
    sizes = []  # tokens each turn adds to its session: its prompt and its answer
    answer = probe.send()
    for step in (1, 2):
        sizes.append(answer["usage"]["input_tokens"] + answer["usage"]["output_tokens"])
        probe.result(answer, f"RESULT-{step}: output of step {step}")
        answer = probe.send()
    sizes.append(answer["usage"]["input_tokens"] + answer["usage"]["output_tokens"])
    # The session holds all three turns by the fourth: one token less makes that one a new session.
    limit = {"chat.session_reuse_max_tokens": sum(sizes) - 1}
    for bounded in stack_with(**limit):
        completions = run_task(ClaudeLike(bounded))
    assert [c["body"]["parent_message_id"] is None for c in completions] == [True, False, False, True]
    assert len(sessions(completions)) == 2
    assert TASK in completions[3]["prompt"] and "RESULT-2" in completions[3]["prompt"]  # the folded history


def _reuse_counts(stack: Stack) -> dict[str, float]:
    text = httpx.get(stack.server.url + "/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "deepseek_free_api_session_reuse":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["outcome"]] = sample.value
    return counts


def test_metrics_count_reused_sessions_and_replays() -> None:
    for stack in stack_with():
        run_task(ClaudeLike(stack))  # the first request has no history; the three after it go on
        edited = ClaudeLike(stack)
        answer = edited.send()
        edited.result(answer, "RESULT-1: output of step 1")
        edited.messages[0] = {"role": "user", "content": TASK + " (edited)"}  # nothing to go on in
        edited.send()
        counts = _reuse_counts(stack)
    assert counts.get("hit") == 3 and counts.get("miss") == 1, counts
