"""What a handle's libcurl callback raises fails that call, and the handle serves the next one.

The body and header callbacks are cffi callbacks of our own (``upstream.handles._callbacks``), not
curl_cffi's: an exception in the sink they call must still end the transfer as an error (kept
where curl_cffi keeps it, so the caller sees it) and must not stay on the handle for its next call.
"""

from __future__ import annotations

import asyncio

import pytest

from deepseek_free_api.errors import ServiceError
from deepseek_free_api.upstream import bodies
from deepseek_free_api.upstream.client import DeepSeekClient

from .listener import Listener
from .test_lean_requests import ALPHA, PERSONA


class SinkBroke(Exception):
    """Raised by the sink of the first call only."""


def test_an_error_in_the_body_callback_fails_its_call_and_not_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = bodies.WholeBody.body
    broken = [True]

    def breaks_once(self: bodies.WholeBody, chunk: bytes) -> int:
        if broken[0]:
            broken[0] = False
            raise SinkBroke("the sink broke")
        return body(self, chunk)

    monkeypatch.setattr(bodies.WholeBody, "body", breaks_once)

    async def calls() -> tuple[BaseException, str]:
        async with Listener() as listener:
            client = DeepSeekClient(
                listener.url, PERSONA, max_transfers=1, connect_timeout=2, request_timeout=2
            )
            try:
                with pytest.raises((SinkBroke, ServiceError)) as failed:
                    await client.create_session(ALPHA)
                return failed.value, await client.create_session(ALPHA)  # the same, only handle
            finally:
                await client.aclose()

    error, session_id = asyncio.run(asyncio.wait_for(calls(), 30))
    chain = [error, error.__cause__, error.__context__]
    assert any(isinstance(e, SinkBroke) for e in chain) or "the sink broke" in str(error), repr(error)
    assert session_id and not broken[0]
