"""Generation 3 streams: typed fragments under ``response/fragments`` (≈ 2025-11 → now).

Shapes follow PROTOCOL.md §5.5 (a)–(e): TERM capture 2025-11-18, DS2-go raw samples 2026-04,
NIY reference 2026-05.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import SearchHit
from .patch import Frame, frame
from .replies import REFERENCE
from .stream_items import (
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

_FRAGS = "response/fragments"
_LAST = "response/fragments/-1"


def _hit(hit: SearchHit) -> dict[str, Any]:
    # cite_index is null in 2026 gen-3 results (PROTOCOL.md §5.4).
    return {
        "url": hit.url,
        "title": hit.title,
        "snippet": hit.snippet,
        "cite_index": None,
        "published_at": hit.published_at,
        "site_icon": "",
        "site_name": hit.site_name,
        "query_indexes": [0],
    }


@dataclass
class Gen3Shape:
    """Builds a generation-3 stream for one reply."""

    data: ShapeInput
    generation: int = 3
    _next_id: int = 1
    _snapshot_fragments: list[dict[str, Any]] = field(default_factory=list)
    _body: list[BodyFrame] = field(default_factory=list)
    _ref_targets: dict[int, tuple[int, str]] = field(default_factory=dict)
    _search_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._build()

    def head(self) -> list[Named]:
        ids = self.data.ids
        ready = {
            "request_message_id": ids.request,
            "response_message_id": ids.response,
            "model_type": self.data.facts.model_type,
        }
        return [Named("ready", ready), Named("update_session", {"updated_at": now_seconds()})]

    def snapshot(self) -> dict[str, Any]:
        plan, facts = self.data.plan, self.data.facts
        deep = bool(plan.thinking) and plan.searched
        return {
            "message_id": self.data.ids.response,
            "parent_id": self.data.ids.request,
            "model": "",
            "role": "ASSISTANT",
            "thinking_enabled": facts.thinking,
            "ban_edit": False,
            "ban_regenerate": False,
            "status": "WIP",
            "incomplete_message": None,
            "accumulated_token_usage": 0,
            "files": [],
            "feedback": None,
            "inserted_at": now_seconds(),
            "search_enabled": facts.search,
            "fragments": [dict(f) for f in self._snapshot_fragments],
            "has_pending_fragment": not self._snapshot_fragments,
            "auto_continue": False,
            "conversation_mode": "DEEP_SEARCH" if deep else "DEFAULT",
            "search_triggered": plan.searched,
        }

    def body(self) -> list[BodyFrame]:
        return list(self._body)

    def finished(self, usage: int) -> list[Item]:
        return finished_end(self.data, _usage(usage, "FINISHED"))

    def incomplete(self, usage: int) -> list[Item]:
        return incomplete_end(_usage(usage, "INCOMPLETE"))

    def filtered(self, usage: int) -> list[Item]:
        template = {"id": self._take_id(), "type": "TEMPLATE_RESPONSE", "content": TEMPLATE_REFUSAL}
        # The second BATCH is sent bare in the 2026-04 capture: it inherits p "response", o BATCH.
        replacement = [
            {"p": "ban_regenerate", "v": True},
            {"p": "status", "v": "CONTENT_FILTER"},
            {"p": "fragments", "v": [template]},
            {"p": "quasi_status", "v": "CONTENT_FILTER"},
        ]
        return filtered_end(self.data, [_usage(usage, "FINISHED"), frame("response", "BATCH", replacement)])

    # -- building -----------------------------------------------------------------------------

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _add(self, path: str, op: str, value: Any, chars: int = 0) -> None:
        self._body.append(BodyFrame(frame(path, op, value), chars=chars))

    def _build(self) -> None:
        plan = self.data.plan
        size = plan.pacing.chunk_chars
        if plan.thinking:
            self._think(plan.thinking, size, stage=1, in_snapshot=True)
        if plan.searched and plan.thinking:
            self._deep_search(plan.queries, plan.results)
            self._think("Reading the search results.", size, stage=2, in_snapshot=False)
            self._open_pages(plan.results)
        elif plan.searched:
            self._search(plan.queries, plan.results)
        self._response(plan.answer, size)
        if plan.tip:
            tip = {"id": self._take_id(), "type": "TIP", "content": plan.tip, "style": "WARNING"}
            tip["hide_on_wip"] = True
            self._add(_FRAGS, "APPEND", [tip])

    def _think(self, text: str, size: int, *, stage: int, in_snapshot: bool) -> None:
        pieces = chunks(text, size)
        fragment: dict[str, Any] = {"id": self._take_id(), "type": "THINK", "content": pieces[0]}
        fragment["elapsed_secs"] = None
        fragment.update({"references": [], "stage_id": stage})
        if in_snapshot:
            self._snapshot_fragments.append(fragment)
        else:
            batch = [
                {"p": "fragments", "o": "APPEND", "v": [fragment]},
                {"p": "has_pending_fragment", "o": "SET", "v": False},
            ]
            self._body.append(BodyFrame(frame("response", "BATCH", batch), chars=len(pieces[0])))
        for piece in pieces[1:]:
            self._add(f"{_LAST}/content", "APPEND", piece, len(piece))
        self._add(f"{_LAST}/elapsed_secs", "SET", round(0.1 * len(pieces), 1))

    def _search(self, queries: tuple[str, ...], results: tuple[SearchHit, ...]) -> None:
        fid = self._take_id()
        fragment = {"id": fid, "type": "TOOL_SEARCH", "status": "WIP", "content": None}
        fragment.update({"queries": [{"query": q} for q in queries], "results": [], "stage_id": 1})
        self._add("response", "BATCH", [{"p": "fragments", "o": "APPEND", "v": [fragment]}])
        self._add(f"{_LAST}/results", "SET", [_hit(h) for h in results])
        self._add(f"{_LAST}/status", "SET", "FINISHED")
        for index in range(len(results)):
            self._ref_targets[index] = (fid, "TOOL_SEARCH")

    def _deep_search(self, queries: tuple[str, ...], results: tuple[SearchHit, ...]) -> None:
        self._add("response/has_pending_fragment", "SET", True)
        fragments: list[dict[str, Any]] = []
        for query in queries:
            fragment: dict[str, Any] = {
                "id": self._take_id(),
                "type": "TOOL_SEARCH",
                "status": "WIP",
                "content": None,
            }
            fragment.update({"queries": [{"query": query}], "results": [], "stage_id": 1})
            fragments.append(fragment)
        self._add("response", "BATCH", [{"p": "fragments", "o": "APPEND", "v": fragments}])
        for k in range(len(fragments)):
            mine = [_hit(h) for i, h in enumerate(results) if i % len(fragments) == k]
            offset = len(fragments) - k
            self._add(f"{_FRAGS}/-{offset}/results", "SET", mine)
            self._add(f"{_FRAGS}/-{offset}/status", "SET", "FINISHED")
        self._search_ids = [f["id"] for f in fragments]

    def _open_pages(self, results: tuple[SearchHit, ...]) -> None:
        pages: list[dict[str, Any]] = []
        for index, hit in enumerate(results):
            source = self._search_ids[index % len(self._search_ids)]
            page: dict[str, Any] = {
                "id": self._take_id(),
                "type": "TOOL_OPEN",
                "status": "WIP",
                "result": _hit(hit),
            }
            page.update({"reference": {"id": source, "type": "TOOL_SEARCH"}, "stage_id": 2})
            pages.append(page)
            self._ref_targets[index] = (page["id"], "TOOL_OPEN")
        self._add("response", "BATCH", [{"p": "fragments", "o": "APPEND", "v": pages}])
        for offset in range(len(pages), 0, -1):
            self._add(f"{_FRAGS}/-{offset}/status", "SET", "FINISHED")

    def _response(self, answer: str, size: int) -> None:
        parts = REFERENCE.split(answer)  # text, index, text, index, …, text
        first_text, rest = parts[0], parts[1:]
        pieces = chunks(first_text, size)
        stage = 2 if (self.data.plan.thinking and self.data.plan.searched) else 1
        fragment = {"id": self._take_id(), "type": "RESPONSE", "content": pieces[0], "references": []}
        fragment["stage_id"] = stage
        if not self._body and not self._snapshot_fragments:
            batch = [
                {"p": "has_pending_fragment", "v": False},
                {"p": "fragments", "o": "APPEND", "v": [fragment]},
            ]
            self._body.append(BodyFrame(frame("response", "BATCH", batch), chars=len(pieces[0])))
        else:
            self._add(_FRAGS, "APPEND", [fragment], len(pieces[0]))
        for piece in pieces[1:]:
            self._add(f"{_LAST}/content", "APPEND", piece, len(piece))
        emitted = 0
        for i in range(0, len(rest), 2):
            target = self._ref_targets.get(int(rest[i]))
            if target is not None:
                marker = f"[reference:{emitted}]"
                entry = [{"id": target[0], "type": target[1]}]
                sub: list[dict[str, Any]] = [{"p": "content", "o": "APPEND", "v": marker}]
                sub.append(
                    {"p": "references", "o": "SET", "v": entry}
                    if emitted == 0
                    else {"p": "references", "v": entry}
                )
                self._add(_LAST, "BATCH", sub, len(marker))
                emitted += 1
            if rest[i + 1]:
                for piece in chunks(rest[i + 1], size):
                    self._add(f"{_LAST}/content", "APPEND", piece, len(piece))


def _usage(usage: int, quasi: str) -> Frame:
    batch = [{"p": "accumulated_token_usage", "v": usage}, {"p": "quasi_status", "v": quasi}]
    return frame("response", "BATCH", batch)
