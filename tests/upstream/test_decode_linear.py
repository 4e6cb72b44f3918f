"""Decoding a long answer does work proportional to what each frame adds, not to the answer so far.

Measured without a clock: ``tracemalloc`` reports the peak memory allocated while one frame is
decoded. Copying the answer so far on each frame (``current + value`` on a string in the patch
state, ``_content += …``, joining the whole answer to read its new part) allocates the whole
answer on that frame, so late frames of a long answer show a peak near the answer's size.
"""

from __future__ import annotations

import json
import random
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from deepseek_free_api.upstream.decoder import StreamDecoder
from deepseek_free_api.upstream.events import Finish, ReasoningDelta, StreamEvent, TextDelta

ANSWER_CHARS = 150_000
# Far below the answer's size (≥ 150 KB even as ASCII), far above what one frame needs.
PER_FRAME_LIMIT = 48 * 1024
PIECES = ["word ", "Grüße ", "数据", "🌍", "\n\n", ", ", "x", "[1] ", "a[b "]


def frame(payload: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def pieces(seed: int) -> Iterator[str]:
    """1-20 character pieces adding up to ANSWER_CHARS characters."""
    rng = random.Random(seed)
    total = 0
    while total < ANSWER_CHARS:
        piece = "".join(rng.choice(PIECES) for _ in range(4))[: rng.randint(1, 20)]
        total += len(piece)
        yield piece


def gen3_frames(answer: list[str]) -> list[bytes]:
    think = {"id": 2, "type": "THINK", "content": "Thinking."}
    snapshot = {"response": {"message_id": 2, "status": "WIP", "fragments": [think]}}
    fragment = {"id": 3, "type": "RESPONSE", "content": "", "references": []}
    return [
        frame({"request_message_id": 1, "response_message_id": 2}, "ready"),
        frame({"v": snapshot}),
        frame({"p": "response/fragments", "o": "APPEND", "v": [fragment]}),
        frame({"p": "response/fragments/-1/content", "o": "APPEND", "v": answer[0]}),
        *(frame({"v": piece}) for piece in answer[1:]),
        frame({"p": "response/status", "o": "SET", "v": "FINISHED"}),
    ]


def gen2_frames(answer: list[str]) -> list[bytes]:
    snapshot = {"response": {"message_id": 2, "status": "WIP", "content": "", "thinking_content": None}}
    return [
        frame({"v": snapshot}),
        frame({"p": "response/thinking_content", "o": "APPEND", "v": "Thinking."}),
        frame({"p": "response/content", "o": "APPEND", "v": answer[0]}),
        *(frame({"v": piece}) for piece in answer[1:]),
        frame({"p": "response/status", "o": "SET", "v": "FINISHED"}),
    ]


def gen1_frames(answer: list[str]) -> list[bytes]:
    def chunk(text: str, kind: str = "text", reason: str | None = None) -> bytes:
        delta = {"index": 0, "delta": {"content": text, "type": kind}, "finish_reason": reason}
        return frame({"choices": [delta], "message_id": 2, "parent_id": 1})

    return [
        chunk("Thinking.", "thinking"),
        *map(chunk, answer),
        chunk("", reason="stop"),
        b"data: [DONE]\n\n",
    ]


@pytest.mark.parametrize("build", [gen3_frames, gen2_frames, gen1_frames], ids=["gen3", "gen2", "gen1"])
def test_no_frame_of_a_long_answer_allocates_the_answer_so_far(build: Any) -> None:
    answer = list(pieces(seed=3))
    decoder = StreamDecoder()
    events: list[StreamEvent] = []
    worst = (0, 0)  # (bytes, frame number)
    tracemalloc.start()
    try:
        for number, data in enumerate(build(answer)):
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            events += decoder.feed(data)
            _, peak = tracemalloc.get_traced_memory()
            worst = max(worst, (peak - before, number))
            if worst[0] > PER_FRAME_LIMIT:
                break  # the quadratic code gets slow from here on; one frame is proof enough
    finally:
        tracemalloc.stop()
    assert worst[0] <= PER_FRAME_LIMIT, f"frame {worst[1]} allocated {worst[0]} bytes"
    events += decoder.close()
    # And the answer is all there, once.
    assert "".join(event.text for event in events if isinstance(event, TextDelta)) == "".join(answer)
    assert "".join(event.text for event in events if isinstance(event, ReasoningDelta)) == "Thinking."
    assert events[-1] == Finish("FINISHED")
