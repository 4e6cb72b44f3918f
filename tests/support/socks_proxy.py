"""A SOCKS5 proxy for tests (no authentication, CONNECT only), noting every connection it made.

Runs on its own thread and event loop on a free loopback port; ``connections`` lists the
``host:port`` targets in order. Enough to see that an account's requests went through its proxy.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from types import TracebackType

from deepseek_free_api.background import free_port


class SocksProxy:
    """``with SocksProxy() as proxy:`` serves ``proxy.url`` until the block ends."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"socks5://127.0.0.1:{self.port}"
        self.connections: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="socks-proxy", daemon=True)
        self._stopped: asyncio.Event | None = None
        self._clients: set[asyncio.Task[None]] = set()

    def __enter__(self) -> SocksProxy:
        self._thread.start()
        assert self._ready.wait(10), "the SOCKS proxy did not start"
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stopped = self._stopped
        assert stopped is not None
        self._loop.call_soon_threadsafe(stopped.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._client, "127.0.0.1", self.port, family=socket.AF_INET)
        self._ready.set()
        async with server:
            await self._stopped.wait()
        # Connections still open (a client's pooled one) end with the proxy: left pending, their
        # tasks were destroyed with the loop and their sockets reported unclosed in a later test.
        for task in self._clients:
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        await asyncio.sleep(0.05)  # the transports they closed finish closing

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            version, methods = await reader.readexactly(2)
            await reader.readexactly(methods)
            writer.write(b"\x05\x00")  # SOCKS5, no authentication
            _, command, _, kind = await reader.readexactly(4)
            if version != 5 or command != 1:
                return
            if kind == 1:
                host = socket.inet_ntoa(await reader.readexactly(4))
            elif kind == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            else:
                return
            (port,) = struct.unpack("!H", await reader.readexactly(2))
            self.connections.append(f"{host}:{port}")
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
            writer.write(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")  # succeeded
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass  # only the proxy's own stop cancels it; ended, not cancelled: asyncio's stream
            # callback reads the task's exception() and would log a CancelledError
        finally:
            self._clients.discard(task)
            writer.close()
            if upstream_writer is not None:
                upstream_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
