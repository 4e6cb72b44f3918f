"""CPU of a turn's three calls to DeepSeek: curl handles set up once, against curl_cffi's session.

A streamed turn makes three upstream calls: ``chat_session/create``, ``chat/create_pow_challenge``
and ``chat/completion`` (its event stream read to the end). This runs them against the simulator
(its own process), ``--concurrency`` turns at a time over as many accounts, with the two ways the
client can send them, in interleaved rounds (the other path first every other round):

- ``handles``: ``DeepSeekClient`` as the server runs it, on pre-configured handles
  (``upstream.handles``, ``upstream.exchange``);
- ``session``: the same client sending through curl_cffi's ``AsyncSession.request`` with the
  arguments of f179a6a (tests/support/session_client.py), the way before 2026-12-05.

It prints the bench process's CPU per turn (solving the PoW and encoding its header left out: both
paths do the same) and the wall time per turn, medians and (min..max) over rounds.

    .venv/bin/python bench/upstream_calls.py [--turns 400] [--rounds 5] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import fields
from pathlib import Path

from common import Processes, cpu_and_wall, machine_load, wait_ready
from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.upstream.client import COMPLETION_PATH, DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.pow import PowChallenge, encode_header, solve
from deepseek_free_api.upstream.wire import CompletionParams, Identity

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: the old path
from tests.support.session_client import SessionClient  # noqa: E402

PATHS: dict[str, type[DeepSeekClient]] = {"handles": DeepSeekClient, "session": SessionClient}
ANSWER = "Qx7 " + "word " * 60  # a short reply in a few frames, as the TTFT benchmark's


class Turns:
    """Turns run by one client; ``solving`` is the CPU its PoW solving took (not measured)."""

    def __init__(self, client: DeepSeekClient) -> None:
        self.client = client
        self.solving = 0.0

    async def turn(self, identity: Identity, number: int) -> None:
        client = self.client
        session_id = await client.create_session(identity)
        challenge = PowChallenge.from_json(await client.create_pow_challenge(identity, COMPLETION_PATH))
        began = time.process_time()  # solving and encoding: the same for both paths, left out
        header = encode_header(challenge, solve(challenge))
        self.solving += time.process_time() - began
        params = CompletionParams(session_id, f"bench-calls {number}")
        stream = await client.open_completion(identity, params, header)
        try:
            size = sum([len(chunk) async for chunk in stream])
        finally:
            await stream.aclose()
        assert size > len(ANSWER), size

    async def run(self, accounts: list[Identity], turns: int) -> None:
        """``turns`` turns, one account per worker, each worker's turns one after the other."""

        async def worker(index: int) -> None:
            for number in range(index, turns, len(accounts)):
                await self.turn(accounts[index], number)

        await asyncio.gather(*(worker(i) for i in range(len(accounts))))


async def measure(url: str, path: str, accounts: list[Identity], turns: int) -> tuple[float, float]:
    """CPU and wall seconds per turn of ``turns`` turns with a new client (after a warm-up turn each)."""
    persona = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
    client = PATHS[path](url, persona)
    try:
        runner = Turns(client)
        await runner.run(accounts, len(accounts))  # connections made, handles set up
        runner.solving = 0.0
        cpu, wall = time.process_time(), time.perf_counter()
        await runner.run(accounts, turns)
        return (time.process_time() - cpu - runner.solving) / turns, (time.perf_counter() - wall) / turns
    finally:
        await client.aclose()


async def main_async(args: argparse.Namespace) -> None:
    tokens = [f"calls-{i}" for i in range(args.concurrency)]
    config = {
        "difficulty": args.difficulty,
        "accounts": [{"id": token, "token": token} for token in tokens],
        "scripts": [{"pattern": "bench-calls", "answer": ANSWER, "pacing": {"chunk_chars": 16}}],
    }
    accounts = [Identity(token=token, device_id=f"device-{token}") for token in tokens]
    figures: dict[str, list[tuple[float, float]]] = {path: [] for path in PATHS}
    with Processes() as procs:
        sim, port = procs.simulator(config)
        await wait_ready(sim, port, "/_sim/state")
        url = f"http://127.0.0.1:{port}"
        for round_ in range(args.rounds):
            for path in PATHS if round_ % 2 == 0 else reversed(PATHS):
                figures[path].append(await measure(url, path, accounts, args.turns))
    print(f"{args.turns} turns x {args.rounds} rounds, {args.concurrency} concurrent; {machine_load()}")
    print("per turn (3 upstream calls), median (min..max) over rounds")
    for path, values in figures.items():
        print(cpu_and_wall(path, values))
    ratios = [new[0] / old[0] for new, old in zip(figures["handles"], figures["session"], strict=True)]
    print(
        f"  handles / session CPU: {statistics.median(ratios):.2f} per round-pair median"
        f" ({min(ratios):.2f}..{max(ratios):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--difficulty", type=int, default=16, help="simulator PoW difficulty")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
