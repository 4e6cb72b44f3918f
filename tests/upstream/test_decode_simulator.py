"""The decoder on streams the simulator sends over a real socket: citations and reasoning as shown.

Search without thinking writes one marker per search hit used, each naming the same TOOL_SEARCH
fragment (PROTOCOL.md §5.5 c); thinking with search has a second THINK fragment after the search
(§5.5 d). What a reader sees must cite each source once where markers stand together, and keep
the THINK blocks apart.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from deepseek_free_api.upstream.decoder import StreamDecoder
from deepseek_free_api.upstream.events import Citation, ReasoningDelta, StreamEvent, TextDelta
from tests.simulator.client import Sim
from tests.simulator.conftest import running, test_config


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running(test_config()) as client:
        yield Sim(client, "demo-token-1")


def decoded(response: httpx.Response) -> list[StreamEvent]:
    assert response.status_code == 200, response.text
    decoder = StreamDecoder()
    events: list[StreamEvent] = []
    body = response.content
    for start in range(0, len(body), 64):  # network-sized pieces, markers split across them
        events += decoder.feed(body[start : start + 64])
    return events + decoder.close()


def shown(events: list[StreamEvent]) -> str:
    return "".join(
        event.text if isinstance(event, TextDelta) else f"[{event.number}]"
        for event in events
        if isinstance(event, TextDelta | Citation)
    )


def test_search_without_thinking_cites_each_source_once(sim: Sim) -> None:
    events = decoded(sim.complete(sim.session(), "paris weather", search_enabled=True))
    citations = [event for event in events if isinstance(event, Citation)]
    assert [citation.number for citation in citations] == [1, 2]
    assert len({citation.url for citation in citations}) == 2
    assert shown(events).endswith(" [1][2]")


def test_thinking_fragments_are_separated_by_a_blank_line(sim: Sim) -> None:
    events = decoded(sim.complete(sim.session(), "paris weather", search_enabled=True, thinking_enabled=True))
    reasoning = "".join(event.text for event in events if isinstance(event, ReasoningDelta))
    assert reasoning.startswith("The user said: paris weather.")
    # Two THINK fragments (before and after the search), as two paragraphs.
    assert reasoning.endswith("request facts.\n\nReading the search results.")
    assert [event.number for event in events if isinstance(event, Citation)] == [1, 2]
