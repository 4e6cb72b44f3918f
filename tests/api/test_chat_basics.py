"""OpenAI SDK (sync and async) against the real server, with the simulator as DeepSeek."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    config = simulator_config(
        scripts=[
            {"pattern": "LONG-ANSWER", "answer": "{echo}", "answer_chars": 400, "incomplete_after": 60},
        ],
        content_filter_words=["forbidden-topic"],
    )
    yield from start_stack(config)


def client(stack: Stack) -> openai.OpenAI:
    return sdk_client(openai.OpenAI, stack.base_url, API_KEY)


def test_plain_chat_non_stream(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.object == "chat.completion"
    message = reply.choices[0].message
    assert message.content is not None
    assert message.content.startswith("Echo: hello there | model=default thinking=false search=false")
    assert reply.choices[0].finish_reason == "stop"
    session, _, rest = reply.id.partition("@")
    message_id, _, marks = rest.partition(".")
    key, _, owner = marks.partition(".")  # the account key, then the owner's mark
    assert len(session) == 36 and message_id.isdigit() and (len(key), len(owner)) == (12, 16)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 5
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_stream_equals_non_stream_and_chunks_are_well_formed(stack: Stack) -> None:
    chunks = list(
        client(stack).chat.completions.create(
            model="deepseek-chat", messages=[{"role": "user", "content": "stream me"}], stream=True
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.id for c in chunks} == {chunks[0].id} and "@" in chunks[0].id
    assert all(c.object == "chat.completion.chunk" and c.choices for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith("Echo: stream me | model=default")
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_include_usage_adds_one_final_chunk_with_empty_choices(stack: Stack) -> None:
    chunks = list(
        client(stack).chat.completions.create(
            model="deepseek-chat",
            messages=[{"role": "user", "content": "count me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert all(c.choices and c.usage is None for c in chunks[:-1])


def test_async_client_streams(stack: Stack) -> None:
    async def run() -> str:
        async with openai.AsyncOpenAI(base_url=stack.base_url, api_key=API_KEY, max_retries=0) as aclient:
            stream = await aclient.chat.completions.create(
                model="deepseek-v4-flash-nothinking",
                messages=[{"role": "user", "content": "async hi"}],
                stream=True,
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream])

    assert asyncio.run(run()).startswith("Echo: async hi | model=default thinking=false")


def test_thinking_model_returns_reasoning_content(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-reasoner", messages=[{"role": "user", "content": "think about it"}]
    )
    message = reply.choices[0].message
    assert "thinking=true" in (message.content or "")
    reasoning = getattr(message, "reasoning_content", None)
    assert reasoning and reasoning.startswith("The user said: think about it")
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    assert (reply.usage.completion_tokens_details.reasoning_tokens or 0) > 0


def test_pro_model_maps_to_expert(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="DeepSeek-V4-Pro-nothinking", messages=[{"role": "user", "content": "expert please"}]
    )
    assert "model=expert thinking=false" in (reply.choices[0].message.content or "")


def test_search_gives_citations_annotations_and_sources(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-search", messages=[{"role": "user", "content": "paris weather"}]
    )
    message = reply.choices[0].message
    content = message.content or ""
    assert "search=true" in content and "[reference:" not in content
    assert "[1]" in content and "[2]" in content
    assert "Sources:" in content and "https://search.example/1" in content
    annotations = message.model_dump().get("annotations") or []
    urls = [a["url_citation"]["url"] for a in annotations]
    assert urls[:2] == [
        "https://search.example/1?q=paris%20weather",
        "https://search.example/2?q=paris%20weather",
    ]
    first = annotations[0]["url_citation"]
    assert content[first["start_index"] : first["end_index"]] == "[1]"


def test_thinking_and_search_together(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-r1-search", messages=[{"role": "user", "content": "both"}]
    )
    message = reply.choices[0].message
    assert "thinking=true search=true" in (message.content or "")
    assert getattr(message, "reasoning_content", None)


def test_silent_hides_reasoning_and_sources(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-r1-silent", messages=[{"role": "user", "content": "quiet"}]
    )
    message = reply.choices[0].message
    assert getattr(message, "reasoning_content", None) is None
    assert "thinking=true" in (message.content or "") and "The user said" not in (message.content or "")


def test_fold_puts_reasoning_in_details(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-r1-fold", messages=[{"role": "user", "content": "fold it"}]
    )
    content = reply.choices[0].message.content or ""
    assert content.startswith("<details>") and "The user said: fold it" in content
    assert content.index("</details>") < content.index("Echo: fold it")


def test_think_tags_option(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-reasoner",
        messages=[{"role": "user", "content": "tags"}],
        extra_body={"reasoning_format": "think_tags"},
    )
    content = reply.choices[0].message.content or ""
    assert content.startswith("<think>\nThe user said: tags") and "</think>\n\nEcho: tags" in content


def test_stop_sequence_cuts_the_answer(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "stop here"}], stop=[" | model"]
    )
    assert reply.choices[0].message.content == "Echo: stop here"
    assert reply.choices[0].finish_reason == "stop"


def test_max_tokens_truncates_with_length(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "a long one"}], max_tokens=3
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens <= 3
    assert 0 < len(reply.choices[0].message.content or "") < len("Echo: a long one")


def test_content_filter_finish_reason(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "tell me about forbidden-topic"}]
    )
    assert reply.choices[0].finish_reason == "content_filter"


def test_incomplete_stream_is_continued(stack: Stack) -> None:
    before = len(stack.upstream_requests("/chat/continue"))
    reply = client(stack).chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "LONG-ANSWER please"}]
    )
    content = reply.choices[0].message.content or ""
    assert content.startswith("Echo: LONG-ANSWER please") and len(content) == 400
    assert reply.choices[0].finish_reason == "stop"
    assert len(stack.upstream_requests("/chat/continue")) > before


def test_models_ping_and_index(stack: Stack) -> None:
    models = client(stack).models.list()
    ids = {m.id for m in models.data}
    assert {"deepseek-chat", "deepseek-reasoner", "deepseek-v4-pro"} <= ids
    assert httpx.get(stack.server.url + "/ping").text == "pong"
    page = httpx.get(stack.server.url + "/")
    assert page.status_code == 200 and "/docs" in page.text
    for endpoint in ("/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/models"):
        assert endpoint in page.text


def test_claude_and_gpt_names_are_retrievable_models(stack: Stack) -> None:
    # The SDKs and some pickers retrieve the model they are told to use before using it.
    for name in ("claude-sonnet-4-6", "claude-opus-4-1", "gpt-5.5", "deepseek-v4-pro-search"):
        assert client(stack).models.retrieve(name).id == name
    assert httpx.get(stack.base_url + "/models/not-a-model").status_code == 404


def test_token_check(stack: Stack) -> None:
    key = {"Authorization": f"Bearer {API_KEY}"}  # a keyed server: checks need a key too
    live = httpx.post(stack.server.url + "/token/check", json={"token": "tok-alpha"}, headers=key).json()
    dead = httpx.post(stack.server.url + "/token/check", json={"token": "no-such-token"}, headers=key).json()
    assert live == {"live": True} and dead == {"live": False}


def test_cors_preflight(stack: Stack) -> None:
    response = httpx.options(
        stack.server.url + "/v1/chat/completions",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://app.example")
