"""Generations 2 (``response/content`` patches, 2025-05 → late 2025) and 1 (``choices`` chunks).

Generation 2: SRC-47778185750 captures (2025-05), D2A (2025-07), XY (still served to
``1.0.0-always`` in 2026-02). Generation 1: DFA (2024-11 → 2025-04), D4F, D2A ≤ 2025-07.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .config import SearchHit
from .patch import Frame, frame
from .replies import REFERENCE
from .stream_items import (
    GENERATION_ERR,
    TEMPLATE_REFUSAL,
    BodyFrame,
    Item,
    Named,
    ShapeInput,
    chunks,
    filtered_end,
    finished_end,
    incomplete_end,
    now_seconds,
)


def _citations(answer: str) -> str:
    # Generations 1/2 cite with [citation:N], N = 1-based cite_index (PROTOCOL.md §5.4).
    return REFERENCE.sub(lambda m: f"[citation:{int(m.group(1)) + 1}]", answer)


def _usage(usage: int) -> Frame:
    return frame("response/accumulated_token_usage", "SET", usage)


def _hit(hit: SearchHit, index: int) -> dict[str, Any]:
    return {
        "url": hit.url,
        "title": hit.title,
        "snippet": hit.snippet,
        "cite_index": index + 1,
        "published_at": hit.published_at,
        "site_icon": "",
        "site_name": hit.site_name,
    }


@dataclass
class Gen2Shape:
    """Builds a generation-2 stream for one reply."""

    data: ShapeInput
    generation: int = 2
    _body: list[BodyFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        plan, size = self.data.plan, self.data.plan.pacing.chunk_chars
        if plan.searched:
            self._add("response/search_status", "SET", "SEARCHING")
            self._add("response/search_results", "SET", [_hit(h, i) for i, h in enumerate(plan.results)])
            self._add("response/search_status", "SET", "FINISHED")
        if plan.thinking:
            for n, piece in enumerate(chunks(plan.thinking, size)):
                self._add("response/thinking_content", "SET" if n == 0 else "APPEND", piece, len(piece))
            self._add("response/thinking_elapsed_secs", "SET", 1)
        for piece in chunks(_citations(plan.answer), size):
            self._add("response/content", "APPEND", piece, len(piece))

    def _add(self, path: str, op: str, value: Any, chars: int = 0) -> None:
        self._body.append(BodyFrame(frame(path, op, value), chars=chars))

    def head(self) -> list[Named]:
        ids = self.data.ids
        ready = {"request_message_id": ids.request, "response_message_id": ids.response}
        return [Named("ready", ready), Named("update_session", {"updated_at": now_seconds()})]

    def snapshot(self) -> dict[str, Any]:
        facts = self.data.facts
        return {
            "message_id": self.data.ids.response,
            "parent_id": self.data.ids.request,
            "model": "",
            "role": "ASSISTANT",
            "content": "",
            "thinking_enabled": facts.thinking,
            "thinking_content": None,
            "thinking_elapsed_secs": None,
            "ban_edit": False,
            "ban_regenerate": False,
            "status": "WIP",
            "accumulated_token_usage": 0,
            "files": [],
            "tips": [],
            "inserted_at": now_seconds(),
            "search_enabled": facts.search,
            "search_status": None,
            "search_results": None,
        }

    def body(self) -> list[BodyFrame]:
        return list(self._body)

    def finished(self, usage: int) -> list[Item]:
        return finished_end(self.data, _usage(usage))

    def incomplete(self, usage: int) -> list[Item]:
        return incomplete_end(_usage(usage))

    def filtered(self, usage: int) -> list[Item]:
        return filtered_end(
            self.data,
            [
                _usage(usage),
                frame("response/ban_regenerate", "SET", True),
                frame("response/content", "SET", TEMPLATE_REFUSAL),
                frame("response/status", "SET", "CONTENT_FILTER"),
            ],
        )


@dataclass
class Gen1Shape:
    """Builds a generation-1 (OpenAI-like ``choices``) stream; patches here are never sent."""

    data: ShapeInput
    generation: int = 1
    _body: list[BodyFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        plan, size = self.data.plan, self.data.plan.pacing.chunk_chars
        if plan.searched:
            hits = [_hit(h, i) for i, h in enumerate(plan.results)]
            self._body.append(BodyFrame(raw=self._chunk({"type": "search_result", "search_results": hits})))
            indexes = [{"cite_index": h["cite_index"], "url": h["url"]} for h in hits]
            self._body.append(BodyFrame(raw=self._chunk({"type": "search_index", "search_indexes": indexes})))
        if plan.thinking:
            for n, piece in enumerate(chunks(plan.thinking, size)):
                patch = frame("response/thinking_content", "SET" if n == 0 else "APPEND", piece)
                raw = self._chunk({"content": piece, "type": "thinking"})
                self._body.append(BodyFrame(patch, raw, len(piece)))
        for piece in chunks(_citations(plan.answer), size):
            raw = self._chunk({"content": piece, "type": "text"})
            self._body.append(BodyFrame(frame("response/content", "APPEND", piece), raw, len(piece)))

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta}
        if finish:
            choice["finish_reason"] = finish
        ids = self.data.ids
        return {
            "choices": [choice],
            "model": "",
            "prompt_token_usage": len(self.data.facts.prompt) // 4,
            "chunk_token_usage": 1,
            "created": int(time.time()),
            "message_id": ids.response,
            "parent_id": ids.request,
        }

    def head(self) -> list[Named]:
        return []

    def snapshot(self) -> dict[str, Any]:
        return Gen2Shape(self.data).snapshot()

    def body(self) -> list[BodyFrame]:
        return list(self._body)

    def _end(self, reason: str, status: str, usage: int) -> list[Item]:
        return [
            BodyFrame(_usage(usage)),
            BodyFrame(
                frame("response/status", "SET", status), self._chunk({"content": "", "type": "text"}, reason)
            ),
            BodyFrame(raw="[DONE]"),
        ]

    def finished(self, usage: int) -> list[Item]:
        return self._end("stop", "FINISHED", usage)

    def incomplete(self, usage: int) -> list[Item]:
        return [BodyFrame(frame("response/status", "SET", "INCOMPLETE"), dict(GENERATION_ERR))]

    def filtered(self, usage: int) -> list[Item]:
        return self._end("content_filter", "CONTENT_FILTER", usage)
