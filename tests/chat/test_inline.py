"""Inline attachment content: sized without decoding, decoded slice by slice, in proportional memory."""

from __future__ import annotations

import base64
import os
import tracemalloc
from urllib.parse import quote_from_bytes, unquote_to_bytes

import pytest

from deepseek_free_api.chat import inline
from deepseek_free_api.chat.inline import MAX_PERCENT_ENCODED, InlineData, base64_data, percent_data
from deepseek_free_api.errors import PayloadTooLargeError, RequestError


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of a few characters, so every seam between them is crossed by the data below."""
    monkeypatch.setattr(inline, "_SLICE", 7)
    monkeypatch.setattr(inline, "_PERCENT_SLICE", 5)


@pytest.mark.usefixtures("small_slices")
@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 17, 58, 100])
def test_base64_in_any_layout_decodes_as_b64decode_does_and_is_sized_without_decoding(length: int) -> None:
    data = os.urandom(length)
    plain = base64.b64encode(data).decode()
    for text in (plain, base64.encodebytes(data).decode(), " ".join(plain), plain.replace("=", "\n=")):
        encoded = base64_data(text, "p")
        assert encoded.decode() == data
        assert encoded.size() == length <= encoded.bound


@pytest.mark.usefixtures("small_slices")
@pytest.mark.parametrize("text", ["%%%", "QQ=", "QQ===", "QQ==QQ==", "QQ=A", "Q", "QUJD\u00e9", "QQ==\nQUJD"])
def test_invalid_base64_is_refused_naming_the_part(text: str) -> None:
    with pytest.raises(RequestError, match="not valid base64") as caught:
        base64_data(text, "messages.0.content.1.image_url.url").decode()
    assert caught.value.param == "messages.0.content.1.image_url.url"


@pytest.mark.usefixtures("small_slices")
@pytest.mark.parametrize("tail", ["", "%", "%4", "%%4", "%zz", "%41%"])
def test_percent_encoding_decodes_as_urllib_does_across_slices(tail: str) -> None:
    text = quote_from_bytes(os.urandom(40)) + "caf\u00e9" + tail
    encoded = percent_data(text, "p")
    assert encoded.decode() == unquote_to_bytes(text)
    assert encoded.size() == len(unquote_to_bytes(text)) <= encoded.bound


def test_a_percent_encoded_data_url_past_the_limit_is_refused_before_any_decoding() -> None:
    percent_data("%41" * (MAX_PERCENT_ENCODED // 3), "p")
    with pytest.raises(PayloadTooLargeError, match="base64") as caught:
        percent_data("%41" * (MAX_PERCENT_ENCODED // 3 + 1), "messages.0.content.0.image_url.url")
    assert caught.value.param == "messages.0.content.0.image_url.url"


def _peak_mb(encoded: InlineData) -> tuple[bytes, float]:
    tracemalloc.start()
    try:
        data = encoded.decode()
        return data, tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_decoding_takes_memory_in_proportion_to_the_content() -> None:
    data = os.urandom(4_000_000)
    decoded, peak = _peak_mb(base64_data(base64.encodebytes(data).decode(), "p"))  # MIME: a line break per 76
    assert decoded == data and peak < 2.5 * len(data) / 1e6  # the bytes, their pieces, one slice
    escapes = "%41" * (MAX_PERCENT_ENCODED // 3)
    decoded, peak = _peak_mb(percent_data(escapes, "p"))
    assert decoded == b"A" * (MAX_PERCENT_ENCODED // 3) and peak < 2  # urllib at once: about 5 MB
