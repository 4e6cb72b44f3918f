"""The HTTP floor: the least an HTTP-speaking proxy does, as the server's fair baseline.

An aiohttp server that reads each request, parses its JSON body, sends it on to the simulator on
a pooled keep-alive connection and streams the answer's bytes back as they arrive. Any server
that speaks HTTP on both sides does at least this; the TCP splice (bench/floor_proxy.py) stays
as the lower bound no HTTP proxy can reach. Runs in its own process:

    .venv/bin/python bench/http_floor.py --listen 8102 --upstream 8100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from aiohttp import ClientSession, TCPConnector, web

# Per hop (RFC 9110 §7.6.1), or recomputed by aiohttp for the new message.
SKIPPED = frozenset({"host", "connection", "content-length", "transfer-encoding", "keep-alive"})


def application(upstream: str, client: ClientSession) -> web.Application:
    """Every method and path forwarded to ``upstream`` (``http://host:port``) through ``client``."""

    async def forward(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        payload = json.loads(raw) if raw else None  # what a proxy that reads the request pays
        headers = {k: v for k, v in request.headers.items() if k.lower() not in SKIPPED}
        method, url = request.method, upstream + request.path_qs
        async with client.request(method, url, json=payload, headers=headers) as answer:
            reply = web.StreamResponse(status=answer.status)
            reply.content_type = answer.content_type
            await reply.prepare(request)
            async for chunk in answer.content.iter_any():
                await reply.write(chunk)
            await reply.write_eof()
            return reply

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", forward)
    return app


async def serve(listen: int, upstream: int, host: str = "127.0.0.1") -> None:
    """Serve on ``host:listen`` until SIGTERM/SIGINT."""
    async with ClientSession(connector=TCPConnector(limit=0), auto_decompress=False) as client:
        runner = web.AppRunner(application(f"http://{host}:{upstream}", client), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, listen, backlog=4096).start()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.listen, args.upstream))
