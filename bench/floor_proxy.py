"""The floor for the end-to-end benchmarks: the cheapest pass-through in front of the simulator.

A TCP splice on asyncio protocols: every accepted connection gets its own upstream connection
and bytes are copied both ways as they arrive, with no HTTP parsing and no buffering beyond
the socket's (reading pauses when the other side's write buffer is full). Anything a real
server adds on top of this is the server's own cost. Runs in its own process:

    .venv/bin/python bench/floor_proxy.py --listen 8101 --upstream 8100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal


class _Side(asyncio.Protocol):
    """One socket of a spliced pair; what it reads goes to ``peer``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.pending: list[bytes] = []  # read before the peer was connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)
        else:
            self.pending.append(data)

    def eof_received(self) -> bool:
        if self.peer is not None and self.peer.transport is not None and self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()
            return True  # keep our write side open: the peer may still answer
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # Flow control: our socket's send buffer is full -> stop reading from the peer.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def join(self, peer: _Side) -> None:
        """Link the pair and flush what arrived before the link existed."""
        self.peer, peer.peer = peer, self
        for side in (self, peer):
            if side.pending and side.peer is not None and side.peer.transport is not None:
                for data in side.pending:
                    side.peer.transport.write(data)
                side.pending.clear()


class _Downstream(_Side):
    """An accepted client connection: dials the upstream at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> None:
        super().__init__()
        self._loop = loop
        self._address = (host, port)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._loop.create_task(self._dial())

    async def _dial(self) -> None:
        try:
            _, upstream = await self._loop.create_connection(_Side, *self._address)
        except OSError:
            if self.transport is not None:
                self.transport.close()
            return
        if self.transport is None or self.transport.is_closing():
            if upstream.transport is not None:
                upstream.transport.close()
            return
        self.join(upstream)


async def serve(listen: int, upstream: int, host: str = "127.0.0.1") -> None:
    """Splice every connection on ``host:listen`` to ``host:upstream`` until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Downstream(loop, host, upstream), host, listen, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.listen, args.upstream))


if __name__ == "__main__":
    main()
