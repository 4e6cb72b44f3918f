"""Attachments last: a request that cannot be delivered uploads nothing, and nothing is decoded for
a caller DeepSeek has not accepted.

On the base code a message holding only an image (nothing to say to the model) was uploaded to
DeepSeek first and refused after ("messages contain no text to send"), and inline base64 was
decoded when the request was parsed, before the caller's token had been tried.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.hostile.input_server import Served, served

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
PNG_URL = "data:image/png;base64," + PNG


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with served() as running:
        yield running


def _user(model: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": list(parts)}]}


IMAGE_ONLY: dict[str, tuple[str, dict[str, Any]]] = {
    "openai image, vision model": (
        "/v1/chat/completions",
        _user("deepseek-v4-vision", {"type": "image_url", "image_url": {"url": PNG_URL}}),
    ),
    "openai image as a file, chat model": (
        "/v1/chat/completions",
        _user("deepseek-chat", {"type": "file", "file": {"filename": "cat.png", "file_data": PNG_URL}}),
    ),
    "anthropic image": (
        "/v1/messages",
        {
            "model": "deepseek-v4-vision",
            "max_tokens": 64,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        }
                    ],
                }
            ],
        },
    ),
    "responses image": (
        "/v1/responses",
        {
            "model": "deepseek-v4-vision",
            "input": [{"role": "user", "content": [{"type": "input_image", "image_url": PNG_URL}]}],
        },
    ),
}


@pytest.mark.parametrize("case", list(IMAGE_ONLY))
def test_an_image_only_message_is_refused_before_anything_is_uploaded(server: Served, case: str) -> None:
    path, body = IMAGE_ONLY[case]
    uploads = len(server.upstream("/upload_file"))
    response = server.post(path, body)
    assert response.status_code == 400, response.text
    assert "no text to send" in response.text
    assert len(server.upstream("/upload_file")) == uploads, "an attachment went to DeepSeek before the 400"


def test_nothing_is_decoded_before_deepseek_accepts_the_callers_token(server: Served) -> None:
    # Broken base64 from a caller whose token DeepSeek refuses: the answer is about the token,
    # because the attachment is not even looked into before the token has been tried.
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,not*base64*at*all"}}
    body = _user("deepseek-v4-vision", {"type": "text", "text": "What is this?"}, part)
    response = server.post("/v1/chat/completions", body, token="made-up-token-0123456789")
    assert response.status_code == 401, response.text
    # The same attachment from an accepted caller: refused, naming the part, and nothing uploaded.
    response = server.post("/v1/chat/completions", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "messages.0.content.1.image_url.url"
    assert server.upstream("/upload_file") == []
