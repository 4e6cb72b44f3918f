"""Multi-turn (folded and native), and what the server sends upstream on the way."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Callers bring their own tokens next to the service key: an explicit opt-in on a keyed server.
    yield from start_stack(simulator_config(), min_interval_s=0.0, caller_tokens=True)


def client(stack: Stack) -> openai.OpenAI:
    return sdk_client(openai.OpenAI, stack.base_url, API_KEY)


def test_history_is_folded_into_one_prompt(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-chat",
        messages=[
            {"role": "system", "content": "Be terse"},
            {"role": "user", "content": "Hi"},
            # Cherry Studio and others send reasoning back in history (CLIENTS.md)
            {"role": "assistant", "content": "Hello", "reasoning_content": "greet back"},  # type: ignore[list-item]
            {"role": "user", "content": [{"type": "text", "text": "2+2?"}]},
        ],
    )
    sent = stack.upstream_requests("/chat/completion")[-1]
    assert sent["prompt"] == "Be terse<｜User｜>Hi<｜Assistant｜>Hello<｜User｜>2+2?"
    assert sent["body"]["parent_message_id"] is None
    assert (reply.choices[0].message.content or "").startswith("Echo: 2+2? | ")


def test_conversation_id_continues_the_session_natively(stack: Stack) -> None:
    api = client(stack)
    first = api.chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "first"}]
    )
    session, _, rest = first.id.partition("@")
    message_id, _, key = rest.partition(".")
    creates = len(stack.upstream_requests("/chat_session/create"))
    second = api.chat.completions.create(
        model="deepseek-chat",
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "second"},
        ],
        extra_body={"conversation_id": first.id},
    )
    sent = stack.upstream_requests("/chat/completion")[-1]
    assert sent["body"]["chat_session_id"] == session
    assert sent["body"]["parent_message_id"] == int(message_id)
    assert sent["prompt"] == "second"  # only the new turn goes up
    assert len(stack.upstream_requests("/chat_session/create")) == creates
    assert (second.choices[0].message.content or "").endswith(f"parent={message_id}")
    assert second.id == f"{session}@{int(message_id) + 2}.{key}"


@pytest.mark.parametrize(
    "conversation_id",
    ["00000000-0000-4000-8000-000000000000@2", "00000000-0000-4000-8000-000000000000@2.0123456789ab"],
)
def test_unknown_conversation_id_is_a_clear_404_not_an_answer_without_context(
    stack: Stack, conversation_id: str
) -> None:
    before = len(stack.upstream_requests("/chat/completion"))
    with pytest.raises(openai.NotFoundError) as info:
        client(stack).chat.completions.create(
            model="deepseek-chat",
            messages=[{"role": "user", "content": "new"}],
            extra_body={"conversation_id": conversation_id},
        )
    assert info.value.body["code"] == "conversation_not_found"  # type: ignore[index]
    assert info.value.body["param"] == "conversation_id"  # type: ignore[index]
    assert len(stack.upstream_requests("/chat/completion")) == before


def _pow_headers(stack: Stack) -> list[str]:
    return [r["headers"]["x-ds-pow-response"] for r in stack.upstream_requests("/chat/completion")]


def test_every_completion_carries_its_own_pow_answer(stack: Stack) -> None:
    api = client(stack)
    for index in range(4):
        api.chat.completions.create(
            model="deepseek-chat", messages=[{"role": "user", "content": f"n{index}"}]
        )
    headers = _pow_headers(stack)
    assert len(headers) == len(set(headers))
    for header in headers:
        fields = orjson.loads(base64.b64decode(header))
        assert list(fields) == ["algorithm", "challenge", "salt", "answer", "signature", "target_path"]
        assert fields["target_path"] == "/api/v0/chat/completion"
    assert stack.sim("GET", "/_sim/state")["counters"].get("pow_rejected", 0) == 0


def test_warm_server_makes_one_upstream_call_before_the_first_token(stack: Stack) -> None:
    api = client(stack)
    api.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "warm up"}])
    deadline = time.monotonic() + 10  # let the account's next session and PoW be prepared
    while time.monotonic() < deadline:
        log = stack.upstream_requests()
        last_completion = max(i for i, r in enumerate(log) if r["path"].endswith("/chat/completion"))
        after = [r["path"] for r in log[last_completion:]]
        if any(p.endswith("/create_pow_challenge") for p in after) and any(
            p.endswith("/chat_session/create") for p in after
        ):
            break
        time.sleep(0.05)
    time.sleep(0.3)
    before = len(stack.upstream_requests())
    api.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "warm"}])
    new = [r["path"].removeprefix("/api/v0") for r in stack.upstream_requests()[before:]]
    until_completion = new[: new.index("/chat/completion") + 1]
    assert until_completion == ["/chat/completion"]  # session and PoW were ready


def test_each_account_has_its_own_stable_uuid_device_id(stack: Stack) -> None:
    for key in ("tok-alpha", "tok-beta", "tok-alpha"):
        sdk_client(openai.OpenAI, stack.base_url, key).chat.completions.create(
            model="deepseek-chat", messages=[{"role": "user", "content": "device"}]
        )
    httpx.post(
        stack.server.url + "/token/check",
        json={"token": "tok-beta"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    sent = stack.upstream_requests("/chat/completion")[-3:] + stack.upstream_requests("/users/current")[-1:]
    ids = [r["headers"]["x-device-id"] for r in sent]
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert ids[0] == ids[2] and ids[0] != ids[1]  # stable per account, never shared
    assert ids[3] == ids[1]  # /token/check presents the same device as that token's requests


def test_another_callers_conversation_id_is_answered_like_an_unknown_one(stack: Stack) -> None:
    alpha = sdk_client(openai.OpenAI, stack.base_url, "tok-alpha")
    beta = sdk_client(openai.OpenAI, stack.base_url, "tok-beta")
    first = alpha.chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "mine"}]
    )
    before = len(stack.upstream_requests("/chat/completion"))
    with pytest.raises(openai.NotFoundError) as info:
        beta.chat.completions.create(
            model="deepseek-chat",
            messages=[{"role": "user", "content": "theirs?"}],
            extra_body={"conversation_id": first.id},
        )
    body = info.value.body
    assert body["code"] == "conversation_not_found"  # type: ignore[index]
    assert "acct-" not in str(body) and "alpha" not in str(body)  # no account of the other caller named
    assert len(stack.upstream_requests("/chat/completion")) == before
