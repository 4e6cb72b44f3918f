"""A call to DeepSeek goes on the wire when it is made, not after the event loop's other ready work.

libcurl asks for its first ``socket_action`` "in 0 ms" (its timer callback) when a transfer is
added; curl_cffi schedules that with ``call_later``, which runs after every callback already
ready in that turn of the loop. In a burst of chat requests those are the other requests' own
steps up to their calls: at 50 concurrent the first call left ~20 ms after it was made, and the
upstream had nothing to work on until the last request was ready (``bench/timeline.py
--concurrency 50``). The listener here runs in a thread of its own, so it notes when the bytes
arrive while the loop is blocked.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import fields

from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.wire import Identity

PERSONA = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
ALICE = Identity(token="tok-alice", device_id="device-alice")
BODY = b'{"code":0,"msg":"","data":{"biz_code":0,"biz_msg":"","biz_data":{"chat_session":{"id":"s-1"}}}}'
BLOCKED_S = 0.6  # what the other ready work holds the loop for


class ThreadListener:
    """HTTP/1.1 on a real socket, in a thread: answers every request with a session; notes arrivals."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.arrivals: list[float] = []  # time.monotonic() when each request's head was read
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        data = b""
        with connection:
            while True:
                while b"\r\n\r\n" not in data:
                    piece = connection.recv(65536)
                    if not piece:
                        return
                    data += piece
                self.arrivals.append(time.monotonic())
                head, data = data.split(b"\r\n\r\n", 1)
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(data) < length:
                    data += connection.recv(65536)
                data = data[length:]
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
                    + BODY
                )

    def close(self) -> None:
        self._socket.close()


def test_a_call_is_on_the_wire_before_the_loop_runs_the_work_ready_beside_it() -> None:
    listener = ThreadListener()

    async def main() -> float:
        client = DeepSeekClient(listener.url, PERSONA, max_transfers=4, connect_timeout=2, request_timeout=5)
        try:
            assert await client.create_session(ALICE) == "s-1"  # a kept connection, as in a burst
            call = asyncio.ensure_future(client.create_session(ALICE))
            # Another request's work, ready in the same turn of the loop, after this call's first step.
            asyncio.get_running_loop().call_soon(time.sleep, BLOCKED_S)
            made = time.monotonic()
            assert await call == "s-1"
            return made
        finally:
            await client.aclose()

    try:
        made = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        listener.close()
    assert len(listener.arrivals) == 2, listener.arrivals
    waited = listener.arrivals[1] - made
    # Before: the request left once the blocking callback had returned (>= BLOCKED_S).
    assert waited < BLOCKED_S / 2, f"the request reached the listener {waited * 1000:.0f} ms after the call"
