"""What a turn does around its first token, against the simulator over a socket.

The first token goes to the caller before the account's next session and proof of work are
prepared (their upstream calls would otherwise run ahead of the write), and the upstream stream's
iterator is closed by the turn itself on every way out, not left to the garbage collector.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.chat import turn as turn_module
from deepseek_free_api.chat.conversations import ConversationBook
from deepseek_free_api.chat.events import ChatEvent, Completed, TextDelta
from deepseek_free_api.chat.models import parse_model
from deepseek_free_api.chat.principal import ANONYMOUS
from deepseek_free_api.chat.request import ChatMessage, ChatRequest
from deepseek_free_api.chat.tokens import LazyTokenCounter
from deepseek_free_api.chat.turn import TurnPolicy, TurnRunner
from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator
from deepseek_free_api.stores import StoreOptions
from deepseek_free_api.stores.memory import MemoryConversations
from deepseek_free_api.upstream.client import COMPLETION_PATH, CompletionParams, DeepSeekClient, Identity
from deepseek_free_api.upstream.decoder import StreamDecoder
from deepseek_free_api.upstream.exchange import STREAM_END
from deepseek_free_api.upstream.first_tokens import first_token_work
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.pow import PowChallenge, encode_header, solve
from deepseek_free_api.upstream.stream import UpstreamStream

ALPHA = Identity(token="tok-alpha", device_id="device-alpha")
SLOW = {"pattern": "^slow", "answer": "{echo}", "answer_chars": 400, "pacing": {"chunks_per_second": 50}}
# Cut INCOMPLETE after 40 characters: the rest comes from chat/continue, in several chunks.
CUT = {
    "pattern": "^cut",
    "answer": "{echo}",
    "answer_chars": 300,
    "incomplete_after": 40,
    "pacing": {"chunks_per_second": 100},
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[BackgroundServer]:
    config = SimulatorConfig.from_dict(
        {"difficulty": 64, "accounts": [{"id": "alpha", "token": ALPHA.token}], "scripts": [SLOW, CUT]}
    )
    with BackgroundServer(create_simulator(config)) as server:
        yield server


class Account:
    id = "alpha"
    token = ALPHA.token
    device_id = ALPHA.device_id
    proxy = None
    locale = None
    timezone_offset = None


class Recorder:
    """The turn's warmth and sink at once: notes when events go out and when refills are asked."""

    def __init__(self, client: DeepSeekClient) -> None:
        self.client = client
        self.log: list[str] = []

    async def session(self, account_id: str, identity: Identity) -> str:
        return await self.client.create_session(identity)

    async def pow_header(self, account_id: str, identity: Identity, target_path: str) -> str:
        challenge = PowChallenge.from_json(await self.client.create_pow_challenge(identity, target_path))
        return encode_header(challenge, solve(challenge))

    def refill(self, account_id: str) -> None:
        self.log.append("refill")

    def pow_rejected(self) -> None:
        pass

    async def emit(self, events: list[ChatEvent]) -> None:
        if any(isinstance(event, TextDelta) for event in events) and "token" not in self.log:
            self.log.append("token")
        if isinstance(events[-1], Completed):
            self.log.append("completed")

    def leased(self) -> None:
        pass


def request(text: str, **extra: Any) -> ChatRequest:
    return ChatRequest(
        model=parse_model("deepseek-chat"), messages=(ChatMessage(role="user", text=text),), **extra
    )


async def run_turn(url: str, chat: ChatRequest) -> Recorder:
    client = DeepSeekClient(url, Persona.from_settings(PersonaSettings()))
    recorder = Recorder(client)
    try:
        turns = TurnRunner(client, recorder, LazyTokenCounter(), TurnPolicy())
        book = ConversationBook(lambda: [("alpha", ALPHA.device_id)], MemoryConversations(StoreOptions()))
        ids = book.ids_for(ALPHA.device_id, ANONYMOUS)
        await turns.run(chat, Account(), None, recorder, ids)
    finally:
        await client.aclose()
    return recorder


def test_the_first_token_goes_out_before_the_next_turn_is_prepared(simulator: BackgroundServer) -> None:
    recorder = asyncio.run(run_turn(simulator.url, request("slow hello")))
    # On the base code the refill came first: its session and PoW calls started ahead of the write.
    assert recorder.log == ["token", "refill", "completed"]


@pytest.mark.parametrize("cut", [{}, {"stop": ("hello",)}, {"max_tokens": 3}])
def test_the_upstream_stream_is_closed_by_the_turn_not_by_the_garbage_collector(
    simulator: BackgroundServer, cut: dict[str, Any]
) -> None:
    left_to_gc: list[str] = []

    async def main() -> None:
        hooks = sys.get_asyncgen_hooks()  # asyncio's: finalizes generators nobody closed

        def finalizer(generator: AsyncGenerator[Any, Any]) -> None:
            left_to_gc.append(getattr(generator, "__qualname__", repr(generator)))
            assert hooks.finalizer is not None
            hooks.finalizer(generator)

        sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=finalizer)
        try:
            await run_turn(simulator.url, request("slow hello there, a long answer", **cut))
            await asyncio.sleep(0.05)
        finally:
            sys.set_asyncgen_hooks(*hooks)

    asyncio.run(main())
    # On the base code _read returned inside ``async for`` and left UpstreamStream._iterate open.
    assert [name for name in left_to_gc if "UpstreamStream" in name] == []


class Ready:
    """A stream's queue whose next chunk is always there when asked for, one at a time: as when
    the network delivers the next chunk while the turn is busy with the last one."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._items: deque[object] = deque([*chunks, STREAM_END])

    async def get(self) -> object:
        return self._items.popleft()

    def empty(self) -> bool:
        return True  # taken one by one, never joined

    def get_nowait(self) -> object:
        raise asyncio.QueueEmpty


class Replayed:
    """A streaming answer whose chunks never make the turn wait."""

    status_code = 200
    headers = {"content-type": "text/event-stream; charset=utf-8"}

    def __init__(self, chunks: list[bytes]) -> None:
        self.queue = Ready(chunks)

    def taken(self, size: int) -> None:
        pass  # nothing to pace: every chunk is there already

    def let_go(self) -> None:
        pass  # not in the register of first-token work

    def calm(self) -> None:
        pass

    def hold(self, until: float) -> None:
        pass  # nothing is read from a socket

    async def aclose(self) -> None:
        pass


class ReplayingClient(DeepSeekClient):
    """The simulator for sessions and PoW; completions replay ``frames``, one chunk per frame."""

    frames: list[bytes] = []

    def completion(self, identity: Identity, params: Any, pow_header: str) -> UpstreamStream:
        async def send() -> Replayed:
            return Replayed(self.frames)

        return UpstreamStream(send, "/api/v0/chat/completion")


class TokenThenMore(Recorder):
    """Logs "token" at the first text it is given (then calls ``at_first``), "more" at the next."""

    def __init__(self, client: DeepSeekClient, marks: list[str], at_first: Callable[[], object]) -> None:
        super().__init__(client)
        self.marks, self._at_first = marks, at_first

    async def emit(self, events: list[ChatEvent]) -> None:
        if any(isinstance(event, TextDelta) for event in events):
            if "token" not in self.marks:
                self.marks.append("token")
                self._at_first()
            elif "more" not in self.marks:
                self.marks.append("more")


def test_the_first_token_is_written_before_the_chunks_behind_it_are_read(simulator: BackgroundServer) -> None:
    """When more chunks are already buffered behind the first token's, the writer must get the
    first token onto the wire before the turn decodes the rest (at 1 concurrent that took 0.3-0.5 ms
    off the time to first token)."""

    async def main() -> list[str]:
        async with replaying(simulator.url, "slow hello") as (client, _):
            assert len(ReplayingClient.frames) > 10
            loop = asyncio.get_running_loop()
            log: list[str] = []

            # "written" as the channel wakes the writer: in the loop's next turn.
            writer = TokenThenMore(client, log, lambda: loop.call_soon(log.append, "written"))
            await _run(TurnRunner(client, writer, LazyTokenCounter(), TurnPolicy()), writer, "slow hello")
            return log

    log = asyncio.run(main())
    # On f179a6a: ["token", "more", "written"]: the turn decoded and sent on before the writer ran.
    assert log.index("written") < log.index("more"), log


async def _run(turns: TurnRunner, writer: Recorder, prompt: str) -> None:
    """One turn on the account alpha, its events to ``writer``."""
    book = ConversationBook(lambda: [("alpha", ALPHA.device_id)], MemoryConversations(StoreOptions()))
    await turns.run(request(prompt), Account(), None, writer, book.ids_for(ALPHA.device_id, ANONYMOUS))


@asynccontextmanager
async def replaying(url: str, prompt: str) -> AsyncIterator[tuple[ReplayingClient, list[bytes]]]:
    """A client whose completions replay the simulator's own frames for ``prompt`` (set a change of
    them in ``ReplayingClient.frames``), closed on the way out."""
    client = ReplayingClient(url, Persona.from_settings(PersonaSettings()))
    try:
        frames = await _recorded_frames(client, Recorder(client), prompt)
        ReplayingClient.frames = frames
        yield client, frames
    finally:
        await client.aclose()


async def _recorded_frames(client: DeepSeekClient, recorder: Recorder, prompt: str) -> list[bytes]:
    """The simulator's own frames for ``prompt``'s answer, one per item, as it sent them."""
    session = await client.create_session(ALPHA)
    header = await recorder.pow_header("alpha", ALPHA, COMPLETION_PATH)
    real = DeepSeekClient.completion(client, ALPHA, CompletionParams(session, prompt), header)
    await real.open()
    try:
        raw = b"".join([chunk async for chunk in real])
    finally:
        await real.aclose()
    return [frame + b"\n\n" for frame in raw.split(b"\n\n") if frame]


def test_the_rest_of_an_answer_waits_while_another_answers_first_token_is_ready(
    simulator: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a burst, an answer's first token goes before the rest of answers already flowing
    (upstream.first_tokens): a turn whose first token is out takes its next chunk only once no
    other answer's first-token work is ready (or after ``REST_WAIT_S``)."""
    monkeypatch.setattr(turn_module, "REST_WAIT_S", 5.0)  # only the other answer lets it go here

    async def main() -> list[str]:
        async with replaying(simulator.url, "slow hello") as (client, _):
            loop = asyncio.get_running_loop()
            work = first_token_work()
            other = object()  # another turn's answer, its bytes in
            log: list[str] = []

            def other_token_out() -> None:
                log.append("other")
                work.done(other)

            def other_bytes_in() -> None:
                work.ready(other)
                loop.call_later(0.05, other_token_out)

            writer = TokenThenMore(client, log, other_bytes_in)
            await _run(TurnRunner(client, writer, LazyTokenCounter(), TurnPolicy()), writer, "slow hello")
            return log

    log = asyncio.run(main())
    # On 1235a04: ["token", "more", "other"]: the rest went on while the other first token waited.
    assert log == ["token", "other", "more"], log


@pytest.mark.parametrize("others", [0, 1])
def test_with_other_turns_waiting_the_first_token_goes_before_the_rest_of_its_chunk_is_decoded(
    simulator: BackgroundServer, others: int
) -> None:
    """An answer that came whole in one chunk (a burst: the server read it late): while other turns
    wait for their first token, this turn's first token goes out alone, and the rest is decoded after
    it; with none waiting, the chunk is decoded at once, as before."""

    async def main() -> tuple[list[str], str]:
        async with replaying(simulator.url, "slow hello there, a longer answer") as (client, frames):
            ReplayingClient.frames = [b"".join(frames)]  # the whole answer in one chunk
            texts: list[str] = []

            class Writer(Recorder):
                async def emit(self, events: list[ChatEvent]) -> None:
                    text = "".join(event.text for event in events if isinstance(event, TextDelta))
                    if text:
                        texts.append(text)

            writer = Writer(client)
            turns = TurnRunner(client, writer, LazyTokenCounter(), TurnPolicy())
            for _ in range(others):
                turns._refills.expect()  # another turn waits for its first token
            await _run(turns, writer, "slow hello there, a longer answer")
            return texts, "".join(texts)

    texts, whole = asyncio.run(main())
    assert len(whole) > 32
    if others:
        # On 1235a04 the first batch held the whole answer: every frame decoded before any went out.
        assert len(texts) >= 2 and len(texts[0]) <= 16, texts
    else:
        assert texts == [whole]


def test_a_chunk_without_a_blank_line_is_decoded_whole_while_other_turns_wait(
    simulator: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events separated by CRLF (which SSE allows), or a chunk holding the middle of one long
    event, have no "\\n\\n" to split at: the chunk goes to the decoder at once, not byte by byte."""
    fed: list[int] = []
    feed = StreamDecoder.feed

    def counted(self: StreamDecoder, chunk: bytes) -> list[Any]:
        fed.append(len(chunk))
        return feed(self, chunk)

    monkeypatch.setattr(StreamDecoder, "feed", counted)

    async def main() -> str:
        async with replaying(simulator.url, "slow hello there, a longer answer") as (client, frames):
            whole = b"".join(frames).replace(b"\n", b"\r\n")
            ReplayingClient.frames = [whole]
            texts: list[str] = []

            class Writer(Recorder):
                async def emit(self, events: list[ChatEvent]) -> None:
                    texts.extend(event.text for event in events if isinstance(event, TextDelta))

            writer = Writer(client)
            turns = TurnRunner(client, writer, LazyTokenCounter(), TurnPolicy())
            turns._refills.expect()  # another turn waits for its first token
            fed.clear()
            await _run(turns, writer, "slow hello there, a longer answer")
            return "".join(texts)

    text = asyncio.run(main())
    assert "slow hello there" in text  # the answer came through, decoded from CRLF events
    # On 4e26529: one feed per byte (find returned -1, and -1 + 2 passed for a place to cut).
    assert len(fed) <= 3, f"{len(fed)} feeds for one chunk"


def test_a_continued_answer_does_not_wait_for_its_own_stream(
    simulator: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chat/continue stream of an answer whose first token is out holds nothing back: its
    bytes are not first-token work, so its own chunks never wait for themselves."""
    monkeypatch.setattr(turn_module, "REST_WAIT_S", 5.0)  # a wait would be seen: 5 s a chunk

    async def main() -> tuple[Recorder, float]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        recorder = await asyncio.wait_for(run_turn(simulator.url, request("cut here, then go on")), 30)
        return recorder, loop.time() - began

    recorder, took = asyncio.run(main())
    assert recorder.log[-1] == "completed"
    # On c35caf0 every chunk of the continuation waited its REST_WAIT_S behind its own bytes.
    assert took < 4.0, f"the continued turn took {took:.1f} s"


def test_a_client_leaving_while_the_rest_waits_ends_the_turn_at_once(
    simulator: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait for other answers' first tokens is one more await of the turn: a client leaving
    there cancels it at once, and it leaves no waiter behind in the register."""
    monkeypatch.setattr(turn_module, "REST_WAIT_S", 5.0)

    async def main() -> tuple[list[str], float, bool]:
        async with replaying(simulator.url, "slow hello") as (client, _):
            loop = asyncio.get_running_loop()
            work = first_token_work()
            other = object()  # another answer whose first token never comes out
            log: list[str] = []
            turn: asyncio.Task[None] | None = None

            def leave() -> None:
                assert turn is not None
                turn.cancel()  # the client hangs up while the rest of this answer waits

            def other_bytes_in() -> None:
                work.ready(other)
                loop.call_later(0.05, leave)

            writer = TokenThenMore(client, log, other_bytes_in)
            turns = TurnRunner(client, writer, LazyTokenCounter(), TurnPolicy())
            turn = asyncio.ensure_future(_run(turns, writer, "slow hello"))
            began = loop.time()
            with pytest.raises(asyncio.CancelledError):
                await turn
            took = loop.time() - began
            left = bool(work._waiters)
            work.done(other)
            return log, took, left

    log, took, left = asyncio.run(main())
    assert log == ["token"]  # the rest never went out
    assert took < 3.0, f"the turn ended {took:.1f} s after it began"
    assert not left


@pytest.mark.parametrize("others", [0, 1])
def test_alone_a_turn_leaves_the_cpu_to_its_first_tokens_reader_before_the_rest(
    simulator: BackgroundServer, monkeypatch: pytest.MonkeyPatch, others: int
) -> None:
    """With no other turn waiting for its first token, the rest of the answer and the account's
    refill wait ``HANDOVER_S`` after the first token is written, so that a client on the same
    machine reads it without waiting for a core; with others waiting, no such pause: their
    first tokens are the better use of the CPU."""
    monkeypatch.setattr(turn_module, "HANDOVER_S", 0.3)  # long enough to be told from the rest

    async def main() -> dict[str, float]:
        async with replaying(simulator.url, "slow hello") as (client, _):
            loop = asyncio.get_running_loop()
            times: dict[str, float] = {}

            class Timed(TokenThenMore):
                """When the first token, the refill and the rest came."""

                def refill(self, account_id: str) -> None:
                    times.setdefault("refill", loop.time())

                async def emit(self, events: list[ChatEvent]) -> None:
                    await super().emit(events)
                    if "more" in self.marks:
                        times.setdefault("more", loop.time())

            writer = Timed(client, [], lambda: times.setdefault("token", loop.time()))
            turns = TurnRunner(client, writer, LazyTokenCounter(), TurnPolicy())
            for _ in range(others):
                turns._refills.expect()  # another turn waits for its first token
            await _run(turns, writer, "slow hello")
            return {name: at - times["token"] for name, at in times.items()}

    after = asyncio.run(main())
    if others:
        assert after["more"] < 0.2, after  # no pause; the refill is held for the waiting turn
    else:
        # On a12a27b the refill was asked and the rest decoded right after the write (~0 s).
        assert after["more"] >= 0.29 and after["refill"] >= 0.29, after


def test_a_client_leaving_during_the_handover_stops_the_generation_at_once(
    simulator: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pause after the first token is one more await of the turn: a client leaving there ends
    the turn at once, DeepSeek's generation is stopped, and the account's refill is still asked."""
    monkeypatch.setattr(turn_module, "HANDOVER_S", 5.0)

    async def main() -> tuple[list[str], float]:
        client = DeepSeekClient(simulator.url, Persona.from_settings(PersonaSettings()))
        loop = asyncio.get_running_loop()
        turn: asyncio.Task[None] | None = None
        log: list[str] = []

        def leave() -> None:
            assert turn is not None
            loop.call_later(0.05, turn.cancel)  # the client hangs up while the turn hands over

        writer = TokenThenMore(client, log, leave)
        writer.log = log  # refills noted in the same log
        try:
            turns = TurnRunner(client, writer, LazyTokenCounter(), TurnPolicy())
            turn = asyncio.ensure_future(_run(turns, writer, "slow hello, stopped early"))
            began = loop.time()
            with pytest.raises(asyncio.CancelledError):
                await turn
            return log, loop.time() - began
        finally:
            await client.aclose()

    before = len(_sim_requests(simulator))
    log, took = asyncio.run(main())
    assert log == ["token", "refill"], log  # the rest never went out; the refill was asked
    assert took < 3.0, f"the turn ended {took:.1f} s after it began"
    paths = [r["path"].rsplit("/", 1)[1] for r in _sim_requests(simulator)[before:]]
    assert "stop_stream" in paths[paths.index("completion") :], paths


def _sim_requests(simulator: BackgroundServer) -> list[dict[str, Any]]:
    return list(httpx.get(simulator.url + "/_sim/requests", timeout=10).json()["requests"])
