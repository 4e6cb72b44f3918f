"""Benchmark: decoding one long generation-3 answer, time per MB and how it grows with size.

Builds synthetic gen-3 streams (a RESPONSE fragment grown by APPEND frames of 1-20 characters,
some of them multi-byte, a citation now and then), cuts each into network-sized chunks and feeds
them to ``StreamDecoder``. Sizes are measured interleaved, several rounds, and the script prints
the median time per MB with its spread and the ratio time(2 MB) / time(1 MB): about 2 when
decoding is linear in the answer size, about 4 when it is quadratic.

    .venv/bin/python bench/decode.py [--sizes 0.25,0.5,1,2] [--rounds 5] [--chunk 16384]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

from deepseek_free_api.upstream.decoder import StreamDecoder
from deepseek_free_api.upstream.events import TextDelta

WORDS = ["the ", "answer ", "grows ", "by ", "small ", "pieces", ", ", ". ", "\n\n", "数据 ", "Grüße ", "🌍 "]
OPEN = {
    "id": 5,
    "type": "TOOL_OPEN",
    "status": "FINISHED",
    "result": {"url": "https://a.example/", "title": "A"},
}


def frame(payload: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def stream(megabytes: float, seed: int = 7) -> tuple[bytes, int]:
    """A gen-3 stream whose answer holds about ``megabytes`` MB of UTF-8; returns it and the answer length."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    parts = [
        frame({"request_message_id": 1, "response_message_id": 2, "model_type": "default"}, "ready"),
        frame({"v": {"response": {"message_id": 2, "parent_id": 1, "status": "WIP", "fragments": [OPEN]}}}),
        frame(
            {
                "p": "response/fragments",
                "o": "APPEND",
                "v": [{"id": 6, "type": "RESPONSE", "content": "", "references": [], "stage_id": 1}],
            }
        ),
        frame({"p": "response/fragments/-1/content", "o": "APPEND", "v": "Start."}),
    ]
    size = len("Start.")
    chars = len("Start.")
    references = 0
    while size < target:
        if rng.random() < 0.002:  # a citation every ~500 frames, as a fragment-level BATCH
            sub = [
                {"p": "content", "o": "APPEND", "v": f"[reference:{references}]"},
                {
                    "p": "references",
                    "o": "SET" if references == 0 else "APPEND",
                    "v": [{"id": 5, "type": "TOOL_OPEN"}],
                },
            ]
            parts.append(frame({"p": "response/fragments/-1", "o": "BATCH", "v": sub}))
            parts.append(frame({"p": "response/fragments/-1/content", "o": "APPEND", "v": " "}))
            references += 1
            continue
        piece = "".join(rng.choice(WORDS) for _ in range(3))[: rng.randint(1, 20)]
        parts.append(frame({"v": piece}))
        size += len(piece.encode())
        chars += len(piece)
    parts.append(frame({"p": "response", "o": "BATCH", "v": [{"p": "accumulated_token_usage", "v": 9}]}))
    parts.append(frame({"p": "response/status", "o": "SET", "v": "FINISHED"}))
    return b"".join(parts), chars


def decode(data: bytes, chunk: int) -> tuple[float, int]:
    """Seconds to decode ``data`` fed in ``chunk``-byte pieces, and the answer characters seen."""
    decoder = StreamDecoder()
    seen = 0
    started = time.perf_counter()
    for start in range(0, len(data), chunk):
        for event in decoder.feed(data[start : start + chunk]):
            if isinstance(event, TextDelta):
                seen += len(event.text)
    for event in decoder.close():
        if isinstance(event, TextDelta):
            seen += len(event.text)
    return time.perf_counter() - started, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.25,0.5,1,2", help="answer sizes in MB, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=16_384, help="bytes per feed() call")
    args = parser.parse_args()
    sizes = [float(size) for size in args.sizes.split(",")]
    streams = {size: stream(size) for size in sizes}
    times: dict[float, list[float]] = {size: [] for size in sizes}
    for round_number in range(args.rounds):
        # Interleaved, and in a different order each round, so drift hits every size alike.
        order = sizes if round_number % 2 == 0 else list(reversed(sizes))
        for size in order:
            data, chars = streams[size]
            seconds, seen = decode(data, args.chunk)
            if seen < chars - 100:  # only citation markers may go missing from the text
                raise SystemExit(f"decoded {seen} of {chars} characters at {size} MB")
            times[size].append(seconds)
    print(f"chunk {args.chunk} bytes, {args.rounds} rounds, interleaved")
    print(f"{'MB':>6} {'frames':>8} {'median s':>10} {'min s':>8} {'max s':>8} {'s per MB':>9}")
    for size in sizes:
        data, _ = streams[size]
        runs = times[size]
        median = statistics.median(runs)
        print(
            f"{size:>6} {data.count(b'data: '):>8} {median:>10.3f} {min(runs):>8.3f} {max(runs):>8.3f}"
            f" {median / size:>9.3f}"
        )
    if 1.0 in times and 2.0 in times:
        ratios = [two / one for one, two in zip(times[1.0], times[2.0], strict=True)]
        print(
            f"time(2 MB)/time(1 MB): median {statistics.median(ratios):.2f}"
            f" (min {min(ratios):.2f}, max {max(ratios):.2f}; linear ~2, quadratic ~4)"
        )


if __name__ == "__main__":
    main()
