"""CPU of decoding DeepSeek's stream and rendering it as OpenAI chunks, per turn, old tree against new.

Captures the simulator's completion bytes for the benchmark's short answer (``bench/table.py``'s
``bench-ttft``: 22 frames) and its long one (``bench-long``: 200,000 characters), then, in child
processes that alternate between this tree and each ``--compare`` tree, runs what a streamed turn
does with them: ``StreamDecoder.feed`` per chunk, ``Reader.interpret`` and the OpenAI chunk
renderer with its JSON encoding. Two ways the bytes arrive: one SSE frame per ``feed`` (a paced
stream, the worst case) and 16 KB pieces. Prints the process CPU per turn, median (min..max)
over rounds, and the ratio to each compared tree.

    .venv/bin/python bench/frames.py [--rounds 7] [--compare base=/tmp/base/src]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import MARKER
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.upstream.pow import PowChallenge, encode_header, solve

# The two answers bench/table.py times (its SCRIPTS: CHUNK = 16 characters per frame).
SCRIPTS = [
    {"pattern": "bench-ttft", "answer": MARKER + " ", "answer_chars": 200, "pacing": {"chunk_chars": 16}},
    {"pattern": "bench-long", "answer": MARKER + " ", "answer_chars": 200_000, "pacing": {"chunk_chars": 16}},
]
# Turns per child run, per (answer, chunking): enough CPU per figure to rise above timer noise.
REPS = {"ttft": 2000, "long": 3}
HEADERS = {"User-Agent": "bench/1.0", "X-Client-Version": "2.5.0", "X-Client-Platform": "web"}

CHILD = r"""
import json, pickle, sys, time
import orjson
from deepseek_free_api.api.openai_render import ChunkRenderer
from deepseek_free_api.chat.pipeline import Pipeline
from deepseek_free_api.chat.reader import Reader
from deepseek_free_api.upstream.decoder import StreamDecoder


class Generation:
    def ended(self):
        pass


def turn(chunks):
    decoder, reader, generation = StreamDecoder(), Reader(Pipeline([])), Generation()
    renderer = ChunkRenderer(model="m", reasoning_mode="reasoning_content", include_usage=False,
                             sources_text=True)
    render = renderer.render
    size = 0
    for chunk in chunks:
        for event in reader.interpret(decoder.feed(chunk), generation):
            size += len(b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in render(event)))
    for event in reader.interpret(decoder.close(), generation):
        size += len(b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in render(event)))
    return size


cases, reps = pickle.load(open(sys.argv[1], "rb")), json.loads(sys.argv[2])
out = {}
for name, chunks in cases.items():
    count = reps[name.split("/")[0]]
    sizes = {turn(chunks)}  # warm-up, and the output size must not change between turns
    cpu = time.process_time()
    for _ in range(count):
        sizes.add(turn(chunks))
    out[name] = [(time.process_time() - cpu) / count, sizes.pop(), len(sizes)]
out["tree"] = sys.modules[StreamDecoder.__module__].__file__
print(json.dumps(out))
"""


def capture() -> dict[str, bytes]:
    """The simulator's completion bytes for each script (generation 3, as served today)."""
    from deepseek_free_api.simulator import SimulatorConfig, create_app

    config = SimulatorConfig.from_dict(
        {"difficulty": 16, "accounts": [{"id": "bench", "token": "bench"}], "scripts": SCRIPTS}
    )
    bodies: dict[str, bytes] = {}
    with BackgroundServer(create_app(config)) as server, httpx.Client(base_url=server.url) as client:
        auth = {**HEADERS, "Authorization": "Bearer bench"}
        for name in ("ttft", "long"):
            created = client.post("/api/v0/chat_session/create", json={}, headers=auth).json()
            session = created["data"]["biz_data"]["chat_session"]["id"]
            raw = client.post(
                "/api/v0/chat/create_pow_challenge",
                json={"target_path": "/api/v0/chat/completion"},
                headers=auth,
            ).json()["data"]["biz_data"]["challenge"]
            challenge = PowChallenge.from_json(raw)
            body = {"chat_session_id": session, "parent_message_id": None, "prompt": f"bench-{name}",
                    "ref_file_ids": [], "thinking_enabled": False, "search_enabled": False}  # fmt: skip
            pow_header = {"X-Ds-Pow-Response": encode_header(challenge, solve(challenge))}
            reply = client.post("/api/v0/chat/completion", json=body, headers={**auth, **pow_header})
            reply.raise_for_status()
            bodies[name] = reply.content
    return bodies


def cases_of(bodies: dict[str, bytes]) -> dict[str, list[bytes]]:
    """Each answer cut two ways: one SSE frame per chunk, and 16 KB chunks."""
    cases: dict[str, list[bytes]] = {}
    for name, body in bodies.items():
        frames = [part + b"\n\n" for part in body.split(b"\n\n") if part]
        cases[f"{name}/frame"] = frames
        cases[f"{name}/16k"] = [body[i : i + 16384] for i in range(0, len(body), 16384)]
    return cases


def child(tree: Path, cases_file: Path, reps: dict[str, int]) -> dict[str, list[float]]:
    """One child run of every case with ``tree`` first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(cases_file), json.dumps(reps)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout)
    loaded = Path(figures.pop("tree"))
    if not loaded.is_relative_to(tree):  # an installed copy of the package came first
        raise SystemExit(f"the child run for {tree} imported {loaded}")
    return dict(figures)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=SRC")
    parser.add_argument("--smoke", action="store_true", help="one round of few turns: does it run?")
    args = parser.parse_args()
    reps = {"ttft": 20, "long": 1} if args.smoke else REPS
    rounds = 1 if args.smoke else args.rounds
    trees = {"this": Path(__file__).resolve().parent.parent / "src"}
    trees.update({name: Path(path) for name, path in (item.split("=", 1) for item in args.compare)})
    bodies = capture()
    cases = cases_of(bodies)
    print(f"frames: ttft {bodies['ttft'].count(b'data: ')}, long {bodies['long'].count(b'data: ')}")
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    runs: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    sizes: dict[str, dict[str, int]] = {name: {} for name in trees}
    with tempfile.TemporaryDirectory(prefix="dsfa-frames-") as folder:
        cases_file = Path(folder) / "cases.pkl"
        cases_file.write_bytes(pickle.dumps(cases))
        for round_ in range(rounds):
            order = list(trees) if round_ % 2 == 0 else list(reversed(trees))  # drift hits both alike
            for name in order:
                for case, (cpu, size, _) in child(trees[name], cases_file, reps).items():
                    runs[name].setdefault(case, []).append(cpu)
                    sizes[name][case] = int(size)
    print(f"{rounds} rounds, interleaved; CPU per turn (decode + reader + OpenAI chunks + JSON)")
    print(f"  {'case':<11} " + "  ".join(f"{name:>28}" for name in trees))
    for case in cases:
        cells = []
        for name in trees:
            values = [v * 1000 for v in runs[name][case]]
            cells.append(f"{statistics.median(values):9.3f} ms ({min(values):.3f}..{max(values):.3f})")
        print(f"  {case:<11} " + "  ".join(f"{cell:>28}" for cell in cells))
    for name in list(trees)[1:]:
        for case in cases:
            ratio = statistics.median(runs["this"][case]) / statistics.median(runs[name][case])
            same = "same output bytes" if sizes["this"][case] == sizes[name][case] else "OUTPUT DIFFERS"
            print(f"  this / {name} {case:<11} {ratio:.2f}x  ({same})")
    print(f"finished {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    main()
