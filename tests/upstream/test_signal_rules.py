"""The 2026 signals (PROTOCOL.md §2.7) in each place they arrive, classified into the error tree."""

from __future__ import annotations

from typing import Any

import pytest

from deepseek_free_api.errors import (
    AccountBannedError,
    AccountDisabledError,
    ClientVersionError,
    EdgeBlockedError,
    MissingHeaderError,
    ModelDisabledError,
    MutedError,
    ServiceError,
    ThrottledError,
)
from deepseek_free_api.upstream.classifier import classify_envelope, classify_stream_error
from deepseek_free_api.upstream.decoder import StreamDecoder
from deepseek_free_api.upstream.events import StreamErrorFrame


@pytest.mark.parametrize(
    ("envelope", "login", "kind"),
    [
        ({"code": 40012, "msg": "USER_IS_BANNED", "data": None}, False, AccountBannedError),
        (
            {"code": 0, "msg": "", "data": {"biz_code": 10, "biz_msg": "USER_IS_BANNED"}},
            True,
            AccountBannedError,
        ),
        ({"code": 0, "msg": "", "data": {"biz_code": 90008, "biz_msg": ""}}, False, AccountDisabledError),
        ({"code": 90008, "msg": "", "data": None}, False, AccountDisabledError),
        ({"code": 50006, "msg": "MUTED", "data": {"mute_until": 1789173841}}, False, MutedError),
        ({"code": 40005, "msg": "CLIENT_VERSION_TOO_LOW", "data": None}, False, ClientVersionError),
        ({"code": 40300, "msg": "Missing Header", "data": {"biz_code": 0}}, False, MissingHeaderError),
        ({"code": 0, "data": {"biz_code": 11, "biz_msg": "RISK_DEVICE_DETECTED"}}, True, EdgeBlockedError),
        ({"code": 0, "data": {"biz_code": 1, "biz_msg": "INVALID_MODEL_TYPE"}}, False, ModelDisabledError),
    ],
)
def test_envelopes(envelope: dict[str, Any], login: bool, kind: type[ServiceError]) -> None:
    error = classify_envelope(envelope, login=login)
    assert type(error) is kind


def test_biz_code_10_means_banned_only_in_a_login_answer() -> None:
    assert not isinstance(classify_envelope({"code": 0, "data": {"biz_code": 10}}), AccountBannedError)


def test_50006_keeps_its_mute_until() -> None:
    error = classify_envelope({"code": 50006, "msg": "MUTED", "data": {"mute_until": 1789173841.5}})
    assert isinstance(error, MutedError) and error.mute_until == 1789173841.5
    assert "2026-09-12" in error.message


@pytest.mark.parametrize(
    ("frame", "kind", "mute_until"),
    [
        (b'data: {"code":50006,"data":{"mute_until":1789173841}}\n\n', MutedError, 1789173841.0),
        (b'data: {"code":50006,"msg":"MUTED","data":null}\n\n', MutedError, None),
        (b'data: {"code":40012,"msg":"USER_IS_BANNED","data":null}\n\n', AccountBannedError, None),
        (b'data: {"code":0,"data":{"biz_code":90008,"biz_msg":""}}\n\n', AccountDisabledError, None),
    ],
)
def test_envelopes_inside_a_200_stream(
    frame: bytes, kind: type[ServiceError], mute_until: float | None
) -> None:
    decoder = StreamDecoder()
    [event] = [
        *decoder.feed(b'event: ready\ndata: {"request_message_id":1,"response_message_id":2}\n\n' + frame)
    ][1:]
    assert isinstance(event, StreamErrorFrame)
    error = classify_stream_error(event)
    assert type(error) is kind
    if isinstance(error, MutedError):
        assert error.mute_until == mute_until


def test_a_successful_envelope_inside_a_stream_is_no_error() -> None:
    decoder = StreamDecoder()
    assert decoder.feed(b'data: {"code":0,"msg":"","data":{"biz_code":0}}\n\n') == []


def test_messages_too_frequent_is_a_throttle() -> None:
    frame = StreamErrorFrame("Messages too frequent. Try again later.", "rate_limit_reached", "hint")
    assert isinstance(classify_stream_error(frame), ThrottledError)
