"""An open DeepSeek event stream over curl_cffi, and network failures told in the project's words."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from curl_cffi.const import CurlECode
from curl_cffi.requests.exceptions import RequestException, Timeout

from deepseek_free_api.errors import UpstreamServerError, UpstreamTimeoutError

log = logging.getLogger("deepseek_free_api.upstream.client")


class UpstreamStream:
    """An open ``text/event-stream`` response: iterate its byte chunks, then ``aclose()``.

    Iterating yields what has arrived, joined: when several network reads are already queued they
    come out as one chunk, so the decoder and the renderer work in batches under load. The idle
    timeout is curl's own (no byte for ``stream_idle_timeout_s`` ends the transfer), so reading
    costs no timer per chunk.
    """

    def __init__(self, response: Any) -> None:
        self._response = response

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Any] | None = getattr(self._response, "queue", None)
        if queue is None:  # not curl_cffi's streaming response (tests): plain iteration
            async for chunk in self._response.aiter_content():
                if chunk:
                    yield chunk
            return
        # curl_cffi 0.17 streams through an asyncio.Queue of bytes, ending with STREAM_END or
        # an exception (models.Response.aiter_content); we read it directly to take all that is ready.
        while True:
            item = await queue.get()
            pieces: list[bytes] = []
            while isinstance(item, bytes):
                if item:
                    pieces.append(item)
                if queue.empty():
                    item = None
                    break
                item = queue.get_nowait()
            if pieces:
                yield pieces[0] if len(pieces) == 1 else b"".join(pieces)
            if item is None:
                continue
            if isinstance(item, Timeout):
                raise UpstreamTimeoutError(
                    "DeepSeek sent nothing for too long in the middle of a stream"
                ) from item
            if isinstance(item, RequestException):
                raise UpstreamServerError(
                    f"the stream from DeepSeek broke: {network_reason(item, 'a stream')}"
                ) from item
            return  # STREAM_END

    async def aclose(self) -> None:
        """Abort the transfer now (idempotent).

        curl_cffi's own ``aclose`` waits for the whole body; setting ``quit_now`` makes its write
        callback abort the transfer, and a stalled transfer is cancelled after a short grace.
        """
        quit_now = getattr(self._response, "quit_now", None)
        if quit_now is not None:
            quit_now.set()
        task: asyncio.Task[None] | None = getattr(self._response, "astream_task", None)
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), 1.0)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        except Exception:  # noqa: BLE001 - closing a broken stream must not mask the real error
            log.debug("closing upstream stream failed", exc_info=True)


# What went wrong on the way to DeepSeek, in our words, by libcurl error code
# (https://curl.se/libcurl/c/libcurl-errors.html): curl's own text, with its "curl: (18)" prefix and
# its link to the libcurl manual, means nothing to an API caller and goes to the DEBUG log only.
_CURL_WORDS: dict[int, str] = {
    CurlECode.COULDNT_RESOLVE_HOST: "its host name could not be resolved (DNS)",
    CurlECode.COULDNT_RESOLVE_PROXY: "the proxy's host name could not be resolved (DNS)",
    CurlECode.COULDNT_CONNECT: "the connection was refused or could not be made",
    CurlECode.PROXY: "the proxy refused or failed the connection",
    CurlECode.OPERATION_TIMEDOUT: "the connection timed out",
    CurlECode.SSL_CONNECT_ERROR: "the TLS handshake failed",
    CurlECode.PEER_FAILED_VERIFICATION: "its TLS certificate could not be verified",
    CurlECode.SSL_CACERT_BADFILE: "the trusted TLS certificates could not be read",
    CurlECode.SSL_CERTPROBLEM: "the TLS client certificate was refused",
    CurlECode.SEND_ERROR: "the connection was reset while sending",
    CurlECode.RECV_ERROR: "the connection was reset while receiving",
    CurlECode.PARTIAL_FILE: "the connection closed before the whole answer arrived",
    CurlECode.GOT_NOTHING: "the connection closed without any answer",
    CurlECode.WEIRD_SERVER_REPLY: "the answer was not valid HTTP",
    CurlECode.HTTP2: "the HTTP/2 connection failed",
    CurlECode.HTTP2_STREAM: "the HTTP/2 stream was reset",
    CurlECode.TOO_MANY_REDIRECTS: "it redirected too many times",
    CurlECode.WRITE_ERROR: "the transfer was aborted",
    CurlECode.ABORTED_BY_CALLBACK: "the transfer was aborted",
}


def network_reason(exc: RequestException, where: str) -> str:
    """What happened, in the project's words; curl's own text goes to the DEBUG log only."""
    code = int(getattr(exc, "code", 0) or 0)
    log.debug("transfer error on %s (%s, curl code %d): %s", where, type(exc).__name__, code, exc)
    words = _CURL_WORDS.get(code)
    if words is not None:
        return words
    if code:
        return f"the transfer failed (network error {code})"
    return f"the transfer failed ({type(exc).__name__})"
