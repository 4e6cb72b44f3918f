"""Images and files through the real server: uploaded to the simulator, then sent as ``ref_file_ids``."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.api.conftest import API_KEY, TOKENS, Stack, sdk_client, simulator_config, start_stack

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
NOTES = b"meeting notes: the launch moves to Tuesday\n"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(file_parse_seconds=0.3), min_interval_s=0.0)


def client(stack: Stack) -> openai.OpenAI:
    return sdk_client(openai.OpenAI, stack.base_url, API_KEY)


def post(stack: Stack, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.post(stack.base_url + "/chat/completions", json=body, headers=headers, timeout=30)


def uploads(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.upstream_requests("/file/upload_file") if r["status"] == 200]


def files_by_id(stack: Stack) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in stack.sim("GET", "/_sim/state")["files"]}


def test_an_image_data_url_is_uploaded_for_vision_and_referenced_by_the_completion(stack: Stack) -> None:
    before = len(uploads(stack))
    reply = client(stack).chat.completions.create(
        model="deepseek-v4-vision",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "auto"}},
                ],
            }
        ],
    )
    assert reply.choices[0].message.content
    [upload] = uploads(stack)[before:]
    assert upload["body"]["content_type"] == "image/png" and upload["body"]["file_size"] == len(PNG)
    assert upload["headers"]["x-model-type"] == "vision"
    completion = stack.upstream_requests("/chat/completion")[-1]
    [file_id] = completion["body"]["ref_file_ids"]
    assert completion["body"]["model_type"] == "vision"
    record = files_by_id(stack)[file_id]
    assert record["is_image"] and record["model_kind"] == "VISION" and record["status"] == "SUCCESS"
    assert "What is in this picture?" in completion["prompt"]


def test_a_file_part_is_uploaded_with_its_name_and_referenced(stack: Stack) -> None:
    before = len(uploads(stack))
    notes = base64.b64encode(NOTES).decode()
    part: Any = {"type": "file", "file": {"filename": "notes.txt", "file_data": notes}}
    stream: Any = client(stack).chat.completions.create(
        model="deepseek-chat",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Summarise the notes"}, part]}],
        stream=True,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    [upload] = uploads(stack)[before:]
    assert upload["body"] == {"file_name": "notes.txt", "file_size": len(NOTES), "content_type": "text/plain"}
    [file_id] = stack.upstream_requests("/chat/completion")[-1]["body"]["ref_file_ids"]
    assert files_by_id(stack)[file_id]["file_name"] == "notes.txt"


def test_a_file_deepseek_refuses_is_a_400_naming_the_part_and_no_completion_runs(stack: Stack) -> None:
    completions = len(stack.upstream_requests("/chat/completion"))
    part = {
        "type": "file",
        "file": {"filename": "tool.exe", "file_data": base64.b64encode(b"MZ\x90").decode()},
    }
    response = post(
        stack,
        {"model": "deepseek-chat", "messages": [{"role": "user", "content": ["Run this", part]}]},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("file_rejected", "messages.0.content.1.file.file_data")
    assert "tool.exe" in error["message"] and "UNSUPPORTED_FILE_TYPE" in error["message"]
    assert len(stack.upstream_requests("/chat/completion")) == completions  # never answered without it


def test_an_image_for_a_model_without_vision_names_the_model_to_use(stack: Stack) -> None:
    before = len(stack.upstream_requests())
    body = {
        "model": "deepseek-chat-search",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG_URL}}]}],
    }
    response = post(stack, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_content", "messages.0.content.0.image_url.url")
    assert "deepseek-v4-vision-nothinking-search" in error["message"]
    assert len(stack.upstream_requests()) == before  # refused before any upstream call


def test_an_http_image_url_is_refused_while_remote_urls_are_off(stack: Stack) -> None:
    body = {
        "model": "deepseek-v4-vision",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:1/cat.png"}}],
            }
        ],
    }
    response = post(stack, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "messages.0.content.0.image_url.url"
    assert "files.remote_urls" in error["message"]


def test_audio_is_still_refused_by_name(stack: Stack) -> None:
    part = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    response = post(stack, {"model": "deepseek-chat", "messages": [{"role": "user", "content": [part]}]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_content", "messages.0.content.0")
    assert "audio" in error["message"]


def test_with_remote_urls_on_a_loopback_url_is_refused_and_never_connected() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        for running in start_stack(simulator_config(), remote_urls=True, min_interval_s=0.0):
            for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
                part = {"type": "image_url", "image_url": {"url": f"http://{host}:{port}/cat.png"}}
                content = [{"type": "text", "text": "What is this?"}, part]
                body = {"model": "deepseek-v4-vision", "messages": [{"role": "user", "content": content}]}
                response = post(running, body)
                assert response.status_code == 400, host
                assert response.json()["error"]["code"] == "url_refused"
            assert running.upstream_requests("/file/upload_file") == []
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked


def test_a_previous_response_id_follow_up_uploads_only_its_own_new_images(stack: Stack) -> None:
    # On the base code the follow-up re-uploaded the 6 earlier images too: 11 > files.max_count (10),
    # a 400 naming a part of the earlier request. A follow-up goes on in the session that holds the
    # earlier images; once that session is gone, the replay refers to all of them by their ids.
    def ask(text: str, images: int, previous: str | None = None) -> httpx.Response:
        content = [
            {"type": "input_text", "text": text},
            *[{"type": "input_image", "image_url": PNG_URL}] * images,
        ]
        body: dict[str, Any] = {
            "model": "deepseek-v4-vision",
            "input": [{"role": "user", "content": content}],
        }
        if previous:
            body["previous_response_id"] = previous
        headers = {"Authorization": f"Bearer {API_KEY}"}
        return httpx.post(stack.base_url + "/responses", json=body, headers=headers, timeout=30)

    before = len(uploads(stack))
    first = ask("six pictures", 6)
    assert first.status_code == 200, first.text
    started = stack.upstream_requests("/chat/completion")[-1]["body"]
    earlier = started["ref_file_ids"]
    second = ask("five more", 5, previous=first.json()["id"])
    assert second.status_code == 200, second.text
    assert len(uploads(stack)) - before == 11  # each image uploaded once
    completion = stack.upstream_requests("/chat/completion")[-1]["body"]
    assert completion["chat_session_id"] == started["chat_session_id"]  # the earlier six are in it
    assert len(completion["ref_file_ids"]) == 5 and not set(completion["ref_file_ids"]) & set(earlier)
    third = ask("and what was in all of them?", 0, previous=second.json()["id"])
    assert third.status_code == 200, third.text
    assert len(uploads(stack)) - before == 11
    assert stack.upstream_requests("/chat/completion")[-1]["body"]["ref_file_ids"] == []
    for token in TOKENS:  # the sessions are gone upstream (deleted in the web app, say)
        gone = httpx.post(
            stack.simulator.url + "/api/v0/chat_session/delete_all",
            json={},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert gone.status_code == 200, gone.text
    fourth = ask("once more", 0, previous=third.json()["id"])
    assert fourth.status_code == 200, fourth.text
    sent = stack.upstream_requests("/chat/completion")[-1]
    assert "six pictures" in sent["prompt"] and "five more" in sent["prompt"]  # the history, replayed
    replayed = sent["body"]
    assert replayed["parent_message_id"] is None and replayed["chat_session_id"] != started["chat_session_id"]
    assert replayed["ref_file_ids"] == earlier + completion["ref_file_ids"]
    assert len(uploads(stack)) - before == 11
