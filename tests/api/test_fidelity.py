"""What callers read, exactly: citations, trailing spaces, continuations, errors and the log.

The real server on a socket, the simulator as DeepSeek, the OpenAI SDK as the client.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import load_settings
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, TOKENS, Stack, sdk_client, simulator_config

INPUT_LIMIT = 2000  # characters the simulated default model accepts
CUT = {"pattern": "CUT", "answer": "{echo}", "answer_chars": 200, "incomplete_after": 60}
LONGISH = {"pattern": "LONGISH", "answer": "{echo}", "answer_chars": 300}


class ContinueOnNewMessage:
    """Wraps the simulator: ``chat/continue`` answers on a new message id, as DeepSeek may.

    PROTOCOL.md §4.4: the continuation repeats ``ready`` with the same message id "unless the
    server falls back to a new message". The simulator always resumes the same message, so this
    copies the INCOMPLETE message under a fresh id (same parent, same delivered prefix) and
    resumes that one; the old message stays behind, INCOMPLETE, as upstream's does.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.simulator: Any = getattr(app, "state").simulator  # noqa: B009 - Starlette's state
        self.moves: list[tuple[int, int]] = []  # (old id, new id) per continue

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/v0/chat/continue":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        request = orjson.loads(body)
        session = self.simulator.world.sessions.get(request["chat_session_id"])
        old = session.messages.get(request["message_id"]) if session else None
        if old is not None:
            new = copy.deepcopy(old)
            new.message_id = session.next_id()
            new.tree["response"]["message_id"] = new.message_id
            session.messages[new.message_id] = new
            session.current_message_id = new.message_id
            self.moves.append((old.message_id, new.message_id))
            body = orjson.dumps({**request, "message_id": new.message_id})
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)


@pytest.fixture(scope="module")
def upstream() -> ContinueOnNewMessage:
    config = simulator_config(
        scripts=[CUT, LONGISH],
        models=[{"model_type": "default", "input_character_limit": INPUT_LIMIT}, {"model_type": "expert"}],
    )
    return ContinueOnNewMessage(create_simulator(config))


@pytest.fixture(scope="module")
def stack(upstream: ContinueOnNewMessage) -> Iterator[Stack]:
    with BackgroundServer(upstream) as simulator:
        options = {
            "base_url": simulator.url,
            "tokens": list(TOKENS),
            "api_keys": [API_KEY],
            "min_interval_s": 0.0,
            "store.url": "memory://",
        }
        settings = load_settings(overrides=options, env={})
        with BackgroundServer(create_app(settings)) as server:
            yield Stack(simulator, server)


@pytest.fixture(autouse=True)
def clear_faults(stack: Stack) -> Iterator[None]:
    # No /_sim/reset: it forgets the PoW challenges the server holds ready, and the retries that
    # follow would log warnings of their own.
    yield
    stack.sim("DELETE", "/_sim/faults")


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[openai.OpenAI]:
    with sdk_client(openai.OpenAI, stack.base_url, API_KEY) as sdk:
        yield sdk


def ask(api: openai.OpenAI, model: str, content: str = "hi", **kwargs: Any) -> Any:
    return api.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **kwargs)


# -- citations and spaces ------------------------------------------------------------------------


def test_search_without_thinking_cites_each_source_once(api: openai.OpenAI) -> None:
    message = ask(api, "deepseek-chat-search").choices[0].message
    content = message.content or ""
    answer, _, sources = content.partition("\n\nSources:\n")
    assert re.findall(r"\[\d+\]", answer) == ["[1]", "[2]"]
    listed = re.findall(r"\((https://[^)]+)\)", sources)
    urls = [a.url_citation.url for a in message.annotations or []]
    assert len(listed) == 2 and urls == listed
    for annotation in message.annotations or []:
        span = annotation.url_citation
        assert content[span.start_index : span.end_index] in ("[1]", "[2]")


@pytest.mark.parametrize("stream", [False, True])
def test_silent_search_output_has_no_trailing_space(api: openai.OpenAI, stream: bool) -> None:
    if stream:
        chunks = ask(api, "deepseek-chat-search-silent", stream=True)
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        content = ask(api, "deepseek-chat-search-silent").choices[0].message.content or ""
    assert content == "Echo: hi | model=default thinking=false search=true files=0 parent=none"


# -- continuations -------------------------------------------------------------------------------


# The fix lives in chat/turn.py and chat/conversations.py (the lead's files): remove the mark with it.
def test_a_continue_on_a_new_message_keeps_one_reply_and_the_conversation_follows_it(
    stack: Stack, api: openai.OpenAI, upstream: ContinueOnNewMessage
) -> None:
    before = len(upstream.moves)
    chunks = list(ask(api, "deepseek-chat", "CUT", stream=True))
    assert len(upstream.moves) == before + 1, "the answer should have needed one continue"
    old, new = upstream.moves[-1]
    # One reply: one id for every chunk, one role delta, the whole answer once.
    assert len({chunk.id for chunk in chunks}) == 1
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.role) == 1
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content.startswith("Echo: CUT") and len(content) == CUT["answer_chars"]
    # The reply's id continues the conversation after the message that holds the whole answer.
    follow_up = api.chat.completions.create(
        model="deepseek-chat",
        messages=[
            {"role": "user", "content": "CUT"},
            {"role": "assistant", "content": content},
            {"role": "user", "content": "and then?"},
        ],
        extra_body={"conversation_id": chunks[0].id},
    )
    sent = stack.upstream_requests("/chat/completion")[-1]["body"]
    assert sent["parent_message_id"] == new, f"continued after the abandoned message {old}"
    assert (follow_up.choices[0].message.content or "").startswith("Echo: and then? | model=default")


# -- errors and the log --------------------------------------------------------------------------


def test_a_broken_stream_is_told_without_curl_text(stack: Stack, api: openai.OpenAI) -> None:
    stack.sim("POST", "/_sim/faults", json={"fault": "drop_mid_stream", "times": 0, "after": 3})
    with pytest.raises(openai.APIError) as caught:
        for _ in ask(api, "deepseek-chat", "LONGISH", stream=True):
            pass
    message = caught.value.message
    assert "the stream from DeepSeek broke" in message
    assert "curl" not in message.lower() and "https://curl.se" not in message


# The fix lives in chat/turn.py / chat/generation.py (the lead's files): remove the mark with it.
def test_an_overlong_input_goes_up_as_a_file_and_logs_no_warning(
    api: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    # chat.long_input = "file" (the default): DeepSeek's input_exceeds_limit is answered the way the
    # web app sends long inputs, never with an error or an empty answer (tests/api/test_long_input.py).
    with caplog.at_level(logging.WARNING, logger="deepseek_free_api"):
        reply = ask(api, "deepseek-chat", "x" * (INPUT_LIMIT + 1))
    assert "files=1" in (reply.choices[0].message.content or "")
    noise = [r.getMessage() for r in caplog.records if r.name.startswith("deepseek_free_api")]
    assert noise == []
