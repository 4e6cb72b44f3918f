"""CPU of setting up one call to DeepSeek on a curl handle: its header lines and options, no network.

What ``DeepSeekClient`` does before a transfer starts (``Caller._request`` then
``exchange._prepare``), for the kinds of call of a turn: ``chat_session/create`` (no headers of
its own) and ``chat/completion`` (its proof of work and chat page). ``bench/upstream_calls.py``
measures whole turns, where a few microseconds per call are lost in the noise; this isolates the
set-up. To compare two versions, run it with each on ``PYTHONPATH`` in turn (interleaved).

    .venv/bin/python bench/call_setup.py [--calls 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import fields

from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.upstream import exchange
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.wire import Identity

IDENTITY = Identity(token="bench-token-" + "x" * 40, device_id="bench-device")
URL = "http://127.0.0.1:9"  # never connected to


def per_call_us(setup: Callable[[], None], calls: int) -> float:
    """Process CPU microseconds per call of ``setup``."""
    began = time.process_time()
    for _ in range(calls):
        setup()
    return (time.process_time() - began) / calls * 1e6


async def main_async(args: argparse.Namespace) -> None:
    persona = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
    client = DeepSeekClient(URL, persona)
    pool = client._handles
    handle = await pool.take()
    # The sink type of whichever version is on the path: a whole answer's.
    sink = exchange.WholeBody(1 << 20) if hasattr(exchange, "WholeBody") else exchange._Sink(False)  # type: ignore[attr-defined]
    page = {"X-Ds-Pow-Response": "p" * 180, "Referer": f"{URL}/a/chat/s/0123-4567"}

    def session() -> None:
        call = client._request("POST", "/api/v0/chat_session/create", IDENTITY, json={})
        exchange._prepare(handle, pool, call, sink, (10.0, 30.0), stream=False)

    def completion() -> None:
        call = client._request(
            "POST", "/api/v0/chat/completion", IDENTITY, json={"prompt": "hi"}, headers=page
        )
        exchange._prepare(handle, pool, call, sink, (10.0, 30.0), stream=False)

    try:
        for name, setup in (("session", session), ("completion", completion)):
            per_call_us(setup, args.calls // 10)  # warm
            values = [per_call_us(setup, args.calls) for _ in range(args.rounds)]
            print(
                f"  {name:<10} {statistics.median(values):6.2f} us CPU per call"
                f" ({min(values):.2f}..{max(values):.2f}, {args.rounds} rounds of {args.calls})"
            )
    finally:
        pool.give_back(handle)
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
