"""The digest a conversation is reused by: equal for what clients change on the way, not for edits."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from deepseek_free_api.chat.models import parse_model
from deepseek_free_api.chat.prefix import conversation_key, earlier_turns
from deepseek_free_api.chat.request import ChatMessage, ChatRequest, ToolCall, ToolSpec

TOOLS = (ToolSpec("read", "Read a file.", {"type": "object", "properties": {"path": {"type": "string"}}}),)
ANSWER = ChatMessage(
    role="assistant",
    text="I'll read it.\n",
    tool_calls=(ToolCall("call_1", "read", '{"path": "a.md", "limit": 5}'),),
)
HISTORY = (
    ChatMessage(role="system", text="You are an agent."),
    ChatMessage(role="user", text="read a.md"),
    ANSWER,
)


def key(messages: tuple[ChatMessage, ...], principal: str = "alice", **changes: object) -> str:
    request = ChatRequest(model=parse_model("deepseek-chat"), messages=messages, tools=TOOLS)
    return conversation_key(principal, replace(request, **changes), messages)  # type: ignore[arg-type]


def test_what_clients_change_on_the_way_back_gives_the_same_digest() -> None:
    sent_back = ChatMessage(
        role="assistant",
        text="  I'll read it.",
        reasoning="signed thinking",
        tool_calls=(ToolCall("toolu_other", "read", '{"limit":5,"path":"a.md"}'),),
    )
    assert key((*HISTORY[:2], sent_back)) == key(HISTORY)
    # Responses sends the text and each call as items of their own
    split = (
        ChatMessage(role="assistant", text="I'll read it."),
        ChatMessage(role="assistant", text="", tool_calls=ANSWER.tool_calls),
    )
    assert key((*HISTORY[:2], *split)) == key(HISTORY)


def test_an_edit_another_caller_other_tools_or_mode_give_another_digest() -> None:
    edited = (HISTORY[0], ChatMessage(role="user", text="read b.md"), ANSWER)
    other_call = replace(ANSWER, tool_calls=(ToolCall("call_1", "read", '{"path": "b.md", "limit": 5}'),))
    assert (
        len(
            {
                key(HISTORY),
                key(edited),
                key((*HISTORY[:2], other_call)),
                key(HISTORY, principal="bob"),
                key(HISTORY, tools=()),
                key(HISTORY, model=parse_model("deepseek-v4-pro")),
            }
        )
        == 6
    )


def test_the_earlier_turns_end_at_the_last_assistant_message() -> None:
    result = ChatMessage(role="tool", text="contents", tool_call_id="call_1")
    assert earlier_turns((*HISTORY, result)) == HISTORY
    assert earlier_turns(HISTORY[:2]) == ()


def test_consecutive_assistant_messages_count_as_one_in_order() -> None:
    split = (
        ChatMessage(role="user", text="go"),
        ChatMessage(role="assistant", text="first"),
        ChatMessage(role="assistant", text="", tool_calls=(ToolCall("c1", "run", '{"a": 1}'),)),
        ChatMessage(role="assistant", text="last", tool_calls=(ToolCall("c2", "run", "{}"),)),
    )
    whole = (
        ChatMessage(role="user", text="go"),
        ChatMessage(
            role="assistant",
            text="first  last",
            tool_calls=(ToolCall("x1", "run", '{"a":1}'), ToolCall("x2", "run", "{}")),
        ),
    )
    assert key(split) == key(whole)
    assert key((split[0], split[1], split[3], split[2])) != key(split)  # the calls in another order


def test_the_digest_of_many_short_assistant_messages_grows_linearly() -> None:
    # An 8 MiB body holds about 150,000 of them; joined message by message, their digest took
    # minutes of CPU (the text so far copied at every step: 15 s for 40,000). A ratio of two
    # sizes, not a clock bound: 4 times the messages must cost well under quadratic work's 16.
    def cost(count: int) -> float:
        messages = tuple(ChatMessage(role="assistant", text="abcdefghij" * 5) for _ in range(count))
        began = time.process_time()
        key(messages)
        return time.process_time() - began

    cost(2_000)  # warm
    small, large = min(cost(10_000) for _ in range(3)), min(cost(40_000) for _ in range(3))
    assert large < 8 * max(small, 1e-3), (small, large)


def _instructions(seed: int) -> str:
    return "".join(f"- tool_{seed}_{i}(path)  reads\tthe file\n\n at path {i}.\n" for i in range(1_500))


def test_a_long_message_sent_again_is_folded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepseek_free_api.chat import prefix

    folded: list[int] = []
    fold = prefix._fold

    def counting(text: str) -> str:
        folded.append(len(text))
        return fold(text)

    monkeypatch.setattr(prefix, "_fold", counting)
    system = ChatMessage(role="system", text=_instructions(1))
    assert len(system.text) > 50_000
    first = key((system, *HISTORY[1:]))
    assert sorted(folded)[-1] == len(system.text)
    folded.clear()
    # The next request of the agent: the same instructions and turns, one more turn.
    again = key((system, *HISTORY[1:]))
    longer = key((system, *HISTORY[1:], ChatMessage(role="user", text="and b.md")))
    assert again == first and longer != first
    assert all(size < 4096 for size in folded), folded  # before: the 50,000 characters twice more


def test_kept_folds_give_the_digest_a_fold_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepseek_free_api.chat import prefix

    messages = (ChatMessage(role="system", text=_instructions(2)), *HISTORY[1:])
    cold = key(messages)
    assert key(messages) == cold  # kept
    monkeypatch.setattr(prefix, "_words", prefix._fold)  # nothing kept
    assert key(messages) == cold


def test_the_kept_folds_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepseek_free_api.chat import prefix

    monkeypatch.setattr(prefix, "_KEPT_CHARS", 400_000)
    kept = prefix._Folded()
    for seed in range(20):
        text = _instructions(100 + seed)
        assert kept(text) == " ".join(text.split())
        assert kept._chars <= 400_000 and len(kept) <= 8
    assert kept("x" * 200_000) == "x" * 200_000 and len(kept) <= 8  # over a quarter: not kept
