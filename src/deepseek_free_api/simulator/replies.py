"""What the simulated model answers: a scripted reply or the deterministic echo.

The echo reply states what the simulator received, so tests can assert what "upstream" saw:
``Echo: <last prompt line> | model=default thinking=false search=false files=0 parent=none``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from .config import Pacing, ScriptedReply, SearchHit, SimulatorConfig
from .reading import last_turn
from .scripted import Applied, match_script

_FILLER = "The quick brown fox jumps over the lazy dog. "
REFERENCE = re.compile(r"\[reference:(\d+)\]")


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """What a generating request asked for."""

    prompt: str
    model_type: str
    thinking: bool
    search: bool
    files: int
    parent: int | None
    context: str = ""  # the session's branch before this prompt, as the model sees it (scope "session")


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """A reply to deliver; ``answer`` may carry ``[reference:N]`` (N = index into ``results``)."""

    thinking: str | None
    answer: str
    queries: tuple[str, ...]
    results: tuple[SearchHit, ...]
    tip: str | None
    title: str
    incomplete_after: int
    content_filter: bool
    pacing: Pacing

    @property
    def searched(self) -> bool:
        """Whether the reply carries a search phase."""
        return bool(self.results)


def last_line(prompt: str) -> str:
    """The last non-empty line of the last user turn of a (possibly folded) prompt."""
    lines = [line.strip() for line in last_turn(prompt).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def filler(length: int) -> str:
    """Deterministic padding text of exactly ``length`` characters."""
    if length <= 0:
        return ""
    return (_FILLER * (length // len(_FILLER) + 1))[:length]


def echo_text(facts: TurnFacts) -> str:
    """The default answer: the facts the simulator received."""
    parent = "none" if facts.parent is None else str(facts.parent)
    return (
        f"Echo: {last_line(facts.prompt)} | model={facts.model_type} "
        f"thinking={str(facts.thinking).lower()} search={str(facts.search).lower()} "
        f"files={facts.files} parent={parent}"
    )


def plan_reply(facts: TurnFacts, config: SimulatorConfig) -> ReplyPlan:
    """The first scripted reply that applies to the prompt (see ``scripted``), else the echo reply."""
    line = last_line(facts.prompt)
    filtered = any(word and word in facts.prompt for word in config.content_filter_words)
    echo = echo_text(facts)
    for script in config.scripts:
        applied = match_script(script, facts.prompt, echo, line, facts.context)
        if applied is not None:
            return _scripted(script, facts, config, line, filtered, applied)
    results: tuple[SearchHit, ...] = ()
    answer = echo
    if facts.search:
        results = tuple(
            SearchHit(
                url=f"https://search.example/{i}?q={quote(line)}",
                title=f"Result {i} for {line}",
                snippet=f"Snippet {i} about {line}.",
                site_name="Search Example",
            )
            for i in (1, 2)
        )
        answer += " [reference:0][reference:1]"
    return ReplyPlan(
        thinking=f"The user said: {line}. I will echo it with the request facts." if facts.thinking else None,
        answer=answer,
        queries=(line,) if facts.search else (),
        results=results,
        tip=None,
        title=_title(line),
        incomplete_after=0,
        content_filter=filtered,
        pacing=config.pacing,
    )


def _scripted(
    script: ScriptedReply,
    facts: TurnFacts,
    config: SimulatorConfig,
    line: str,
    filtered: bool,
    applied: Applied,
) -> ReplyPlan:
    answer, call = applied.answer, applied.call
    if script.answer_chars > len(answer):
        answer += filler(script.answer_chars - len(answer))
    results = script.search_results if facts.search else ()
    if not results:
        answer = REFERENCE.sub("", answer)
    if call:  # the call ends the reply, as the tool instructions ask
        answer = f"{answer}\n\n{call}" if answer else call
    return ReplyPlan(
        thinking=applied.thinking if facts.thinking else None,
        answer=answer,
        queries=(script.search_queries or (line,)) if results else (),
        results=results,
        tip=script.tip,
        title=script.title or _title(line),
        incomplete_after=script.incomplete_after,
        content_filter=filtered or script.content_filter,
        pacing=config.pacing.merged(script.pacing),
    )


def _title(line: str) -> str:
    return line[:24] or "New chat"
