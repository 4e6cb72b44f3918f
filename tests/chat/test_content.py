"""Content of any dialect reduced to text: text kept, any other part refused by name, nothing lost."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from deepseek_free_api.chat.content import content_to_text
from deepseek_free_api.errors import RequestError, UnsupportedContentError


def test_strings_and_none() -> None:
    assert content_to_text("Hello") == "Hello"
    assert content_to_text(None) == ""
    assert content_to_text([]) == ""


def test_text_parts_are_joined_with_newlines() -> None:
    parts: list[Mapping[str, Any]] = [
        {"type": "text", "text": "first"},
        {"type": "text", "text": "second", "cache_control": {}},
    ]
    assert content_to_text(parts) == "first\nsecond"


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "file", "file": {"filename": "report.pdf", "file_data": "..."}},
        {"type": "input_audio", "input_audio": {"data": "...", "format": "wav"}},
        {"type": "input_image", "image_url": "https://example.com/cat.png"},
        {"type": "image", "source": {"type": "base64", "data": "..."}},
        {"type": "document", "title": "Spec", "source": {}},
        {"type": "video_url", "video_url": {"url": "x"}},
    ],
)
def test_attachments_are_refused_by_name(part: Mapping[str, Any]) -> None:
    with pytest.raises(UnsupportedContentError) as caught:
        content_to_text([{"type": "text", "text": "What is this?"}, part], param="messages.2.content")
    assert caught.value.param == "messages.2.content.1"
    assert str(part["type"]) in caught.value.message


def test_responses_and_anthropic_text_shapes() -> None:
    parts: list[Mapping[str, Any]] = [
        {"type": "input_text", "text": "hi"},
        {"type": "output_text", "text": "hello", "annotations": []},
        {"type": "thinking", "thinking": "hmm", "signature": "x"},
    ]
    assert content_to_text(parts) == "hi\nhello"


def test_refusals_untyped_text_and_bare_strings() -> None:
    parts: list[Any] = [{"type": "refusal", "refusal": "I can't"}, {"text": "untyped text"}, "bare string"]
    assert content_to_text(parts) == "I can't\nuntyped text\nbare string"


@pytest.mark.parametrize("part", [{"no": "type"}, 42, {"type": "text"}])
def test_malformed_parts_are_a_400_not_dropped(part: Any) -> None:
    with pytest.raises(RequestError) as caught:
        content_to_text(["ok", part])
    assert caught.value.param == "content.1"
