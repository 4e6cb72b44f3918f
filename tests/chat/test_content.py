"""Content of any dialect reduced to text: text kept, attachments described, nothing silently lost."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepseek_free_api.chat.content import content_to_text


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


def test_attachments_leave_placeholders() -> None:
    parts: list[Mapping[str, Any]] = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "file", "file": {"filename": "report.pdf", "file_data": "..."}},
        {"type": "input_audio", "input_audio": {"data": "...", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
    ]
    assert content_to_text(parts) == "What is this?\n[image]\n[file: report.pdf]\n[audio]\n[file]"


def test_responses_and_anthropic_shapes() -> None:
    parts: list[Mapping[str, Any]] = [
        {"type": "input_text", "text": "hi"},
        {"type": "output_text", "text": "hello", "annotations": []},
        {"type": "input_image", "image_url": "https://example.com/cat.png"},
        {"type": "image", "source": {"type": "base64", "data": "..."}},
        {"type": "document", "title": "Spec", "source": {}},
        {"type": "thinking", "thinking": "hmm", "signature": "x"},
    ]
    assert content_to_text(parts) == "hi\nhello\n[image]\n[image]\n[file: Spec]"


def test_refusals_unknown_types_and_odd_items() -> None:
    parts: list[Any] = [
        {"type": "refusal", "refusal": "I can't"},
        {"type": "video_url", "video_url": {"url": "x"}},
        {"text": "untyped text"},
        "bare string",
        {"no": "type"},
    ]
    assert content_to_text(parts) == "I can't\n[video_url]\nuntyped text\nbare string"
