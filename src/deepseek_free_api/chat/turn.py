"""One turn: one generation on one leased account, from session to the last event.

The turn creates (or takes a pre-created) session, builds the prompt, takes a proof-of-work
answer, opens ``chat/completion``, decodes the stream, runs ``chat/continue`` while DeepSeek says
INCOMPLETE, passes the events through the pipeline (stop sequences, token budget, tool calls) and
hands batches to the sink; a tool call the model wrote wrong takes one repair generation in the
same session (``chat.tools.repair``). ``Generation`` owns the upstream stream from before its
request is sent: on every exit it first tells DeepSeek to stop a generation that may not have
reached its end, then closes the stream; under ``chat.session_delete = "delete"`` the session is
deleted next, whatever the exit. The lease is released by the failover loop only after that (or
parked, when DeepSeek did not confirm the stop), so the account is never handed on while DeepSeek
may still generate on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass

import anyio

from deepseek_free_api.chat.conversations import Native
from deepseek_free_api.chat.events import ChatEvent, Started, TokenUsage
from deepseek_free_api.chat.files import AttachmentUploader, turn_attachments
from deepseek_free_api.chat.generation import (
    STOP_TIMEOUT_S,
    Generation,
    UnconfirmedStop,
    Upstream,
    answer_id,
)
from deepseek_free_api.chat.long_input import LongInput, PromptFitter, SendAsFile
from deepseek_free_api.chat.modes import ModeBook
from deepseek_free_api.chat.mutes import with_mute_until
from deepseek_free_api.chat.pipeline import Pipeline
from deepseek_free_api.chat.ports import EventSink, GenerationNotes, ReplyIds, Tokens, TurnAccount, Warmth
from deepseek_free_api.chat.prompt import fold_messages, new_turn_prompt
from deepseek_free_api.chat.reader import Reader, prompt_options
from deepseek_free_api.chat.refills import HeldRefills
from deepseek_free_api.chat.request import ChatMessage, ChatRequest
from deepseek_free_api.chat.structured import answer_in_format
from deepseek_free_api.chat.tools.parser import MalformedCalls
from deepseek_free_api.chat.tools.repair import Unanswered, answer_with_tools
from deepseek_free_api.errors import (
    InputTooLongError,
    InvalidPowError,
    MutedError,
    SessionFullError,
    UnsupportedContentError,
    UpstreamServerError,
)
from deepseek_free_api.upstream.client import COMPLETION_PATH, CompletionParams, Identity
from deepseek_free_api.upstream.first_tokens import first_token_work

log = logging.getLogger(__name__)

# Above this many characters, counting tokens moves off the event loop.
COUNT_INLINE_MAX = 20_000
# The most the rest of an answer whose first token is out waits while other answers' first-token
# work is ready (upstream.first_tokens): a few of those take a millisecond, a burst's tens of them.
REST_WAIT_S = 0.05
# How long a turn whose first token was just written, with no other turn waiting for its own,
# leaves the CPU to whoever reads that token before it goes on with the rest of its answer and its
# account's refill. A client on the same machine (a chat app, an agent, the bench) otherwise waits
# for a core while this process decodes the rest and the refill's calls keep DeepSeek's side busy:
# with the head written together with the first event (net.connection.HeadWithBody), the added
# time to the first token at 1 concurrent went from +3.1..3.5 to +2.4..2.8 ms (BENCHMARKS.md, s. 12).
HANDOVER_S = 0.001


@dataclass(frozen=True, slots=True)
class TurnPolicy:
    """The knobs of a turn."""

    continue_max_rounds: int = 8
    delete_sessions: bool = False  # chat.session_delete = "delete": no history left upstream
    long_input: LongInput = "file"  # chat.long_input: a prompt over the mode's limit goes up as a file


class TurnRunner:
    """Runs one turn on a leased account; raises ServiceError (before or after events went out)."""

    def __init__(
        self,
        client: Upstream,
        warmth: Warmth,
        tokens: Tokens,
        policy: TurnPolicy,
        files: AttachmentUploader | None = None,
        modes: ModeBook | None = None,
    ) -> None:
        self._client = client
        self._warmth = warmth
        self._refills = HeldRefills(warmth.refill)
        self._tokens = tokens
        self._policy = policy
        self._files = files
        self._fitter = PromptFitter(modes, files, policy.long_input)

    async def run(
        self,
        request: ChatRequest,
        account: TurnAccount,
        native: Native | None,
        sink: EventSink,
        ids: ReplyIds,
        unstopped: list[UnconfirmedStop] | None = None,
        notes: GenerationNotes | None = None,
    ) -> None:
        """Run the turn, sending event batches to ``sink``; the last one holds ``Completed``.

        A structured answer (``response_format``) is checked first and may take a repair generation,
        as may a malformed tool call. Generations whose stop DeepSeek did not confirm are added to
        ``unstopped``, whatever the exit. Each generation is noted in ``notes`` (the lease) before it
        is requested.
        """
        left = [] if unstopped is None else unstopped
        repair_natively = not self._policy.delete_sessions  # a deleted session cannot go on

        async def tool_round(
            request: ChatRequest,
            account: TurnAccount,
            native: Native | None,
            sink: EventSink,
            ids: ReplyIds,
            malformed: MalformedCalls,
        ) -> Unanswered | None:
            try:
                return await self._generate(request, account, native, sink, ids, left, notes, malformed)
            except SendAsFile:  # DeepSeek found the prompt too long: once more, the way the web app does
                return await self._generate(
                    request, account, native, sink, ids, left, notes, malformed, as_file=True
                )

        async def generate(
            request: ChatRequest, account: TurnAccount, native: Native | None, sink: EventSink, ids: ReplyIds
        ) -> None:
            await answer_with_tools(
                tool_round, request, account, native, sink, ids, native_repair=repair_natively
            )

        if request.response_format is not None:
            await answer_in_format(
                generate, request, account, native, sink, ids, native_repair=repair_natively
            )
            return
        await generate(request, account, native, sink, ids)

    async def _generate(
        self,
        request: ChatRequest,
        account: TurnAccount,
        native: Native | None,
        sink: EventSink,
        ids: ReplyIds,
        unstopped: list[UnconfirmedStop],
        notes: GenerationNotes | None,
        malformed: MalformedCalls = "text",
        *,
        as_file: bool = False,
    ) -> Unanswered | None:
        """One generation: session, prompt (fitted to the mode's limit), PoW, the upstream stream.

        An answer that ended at a tool call it cannot use (``malformed="repair"``) is not completed:
        what the repair round needs comes back instead.
        """
        identity = Identity.of(account)
        self._tokens.prefetch()  # usage is counted at the end (and recorded): have the tokenizer by then
        if request.max_tokens is not None:
            await self._tokens.ready()  # the budget counts every piece as it passes
        options = prompt_options(request)
        # The prompt first (a request with nothing to say is refused before anything is uploaded),
        # then uploads: a refused file leaves the prepared session and PoW for the next turn.
        if native is not None:
            prompt = new_turn_prompt(request.messages, **options)
        else:
            prompt = fold_messages(request.messages, **options)
        messages = request.messages if native is None else _new_turn(request.messages)
        fitted = await self._fitter.fit(request, messages, prompt, options, identity, as_file=as_file)
        prompt, prompt_chars = fitted.prompt, len(prompt)
        ref_file_ids = await self._upload(request, account.id, identity, continued=native is not None)
        ref_file_ids += await self._fitter.upload(fitted, request, account.id, identity)
        if native is not None:
            session_id, parent = native.session_id, native.message_id
        else:
            session_id, parent = await self._warmth.session(account.id, identity), None
        reader = Reader(Pipeline.for_request(request, self._tokens.count, malformed=malformed), ref_file_ids)
        generation = Generation(self._client, identity, session_id, notes)
        self._refills.expect()
        try:
            try:
                async with generation:
                    generation.announce(answer_id(parent))  # the store's note travels while the PoW comes
                    header = await self._warmth.pow_header(account.id, identity, COMPLETION_PATH)
                    params = CompletionParams(
                        session_id=session_id,
                        prompt=prompt,
                        model_type=request.model.model_type,
                        thinking=request.model.thinking,
                        search=request.model.search,
                        parent_message_id=parent,
                        ref_file_ids=ref_file_ids,
                    )
                    stream = self._client.completion(identity, params, header)
                    await generation.request(stream, answer_id(parent))
                    await self._read(generation, reader, sink, account.id, ids)
                    if generation.running:  # ended early (stop sequence, max_tokens): free the account first
                        await generation.stop()
                    unusable = reader.unusable
                    if unusable is not None:
                        reader.answer.append(unusable.raw)  # written, so generated and billed
                    usage = await self._usage(prompt, reader)  # recorded per caller, shown if asked
                    if unusable is not None:
                        written = "".join(reader.answer)
                        message_id = generation.message_id
                        return Unanswered(session_id, message_id, written, unusable.rejected, usage)
                    await sink.emit(reader.complete(usage))
            finally:
                if generation.unconfirmed is not None:
                    unstopped.append(generation.unconfirmed)
        except InvalidPowError:
            self._warmth.pow_rejected()  # before the refill below: it must not reuse a stale one
            raise
        except MutedError as error:
            if error.mute_until is not None:
                raise
            raise await with_mute_until(self._client, identity, error) from error
        except InputTooLongError as error:
            if reader.started or error.code != "context_length_exceeded":
                raise
            if native is not None:
                # Only the new turn went up, in an earlier session: it is the conversation that is
                # too long (DeepSeek: "Length limit reached. Please start a new chat."), not the prompt.
                raise SessionFullError(
                    f"the DeepSeek conversation {native.session_id} reached its length limit; "
                    "start a new conversation (send the history without conversation_id)"
                ) from error
            sent_as_file = fitted.history is not None
            raise await self._fitter.refused(
                request, identity, prompt_chars, sent_as_file=sent_as_file
            ) from error
        finally:
            if not reader.delivered:  # no token went out (failed, left): prepare the next turn anyway
                self._refills.arrived()
                self._refills.refill(account.id)
            if self._policy.delete_sessions:
                await self._delete(identity, session_id)  # on every exit: nothing left upstream
        return None

    def check(self, request: ChatRequest, *, continued: bool) -> None:
        """Refuse what needs no account to refuse: the new attachments' count, size and URLs (those
        of an earlier kept turn are referenced by their DeepSeek file ids, not sent again)."""
        attachments = tuple(a for a in turn_attachments(request, continued=continued) if a.file_id is None)
        if attachments and self._files is None:
            raise UnsupportedContentError(
                f"'{attachments[0].param}' is an image or file, and this server was built without uploads",
                param=attachments[0].param,
            )
        if attachments and self._files is not None:
            self._files.check(attachments)

    async def _upload(
        self, request: ChatRequest, account_id: str, identity: Identity, *, continued: bool
    ) -> tuple[str, ...]:
        """The request's images and files uploaded on this account (``chat.files``); their ids."""
        if self._files is None:
            self.check(request, continued=continued)
            return ()
        return await self._files.upload(request, account_id, identity, continued=continued)

    async def _delete(self, identity: Identity, session_id: str) -> None:
        """Delete the turn's session upstream, after its generation was stopped; the lease is still ours."""
        try:
            with anyio.fail_after(STOP_TIMEOUT_S, shield=True):  # one scope: shielded, with its own deadline
                await self._client.delete_session(identity, session_id)
        except Exception as exc:  # noqa: BLE001 - never fail an answer (or hide its error) over housekeeping
            log.warning("deleting session %s failed: %s", session_id, exc)

    async def _read(
        self,
        generation: Generation,
        reader: Reader,
        sink: EventSink,
        account_id: str,
        ids: ReplyIds,
    ) -> None:
        rounds = 0
        decoder = generation.decoder
        work = first_token_work()
        while True:
            assert generation.stream is not None
            if reader.delivered:  # a continuation of an answer already on its way
                generation.stream.steady()
                generation.stream.first_out()  # its bytes are no first token: they hold nothing back
            async with aclosing(aiter(generation.stream)) as chunks:  # closed on every way out
                async for chunk in chunks:
                    # While other turns wait for their first token too, one event at a time up to
                    # this turn's first: it goes out before the rest that came with it is decoded.
                    while (
                        not reader.started
                        and self._refills.waiting > 1
                        and 0 <= (cut := chunk.find(b"\n\n")) < len(chunk) - 2
                    ):
                        cut += 2  # the event and its blank line (a chunk without one is decoded whole)
                        batch = await reader.read(decoder.feed(chunk[:cut]), generation)
                        chunk = chunk[cut:]
                        await self._send(batch, reader, sink, generation, account_id, ids)
                        if reader.stop is not None:
                            return
                    if reader.delivered and work.busy:
                        await work.wait(REST_WAIT_S)  # other answers' first tokens go first
                    batch = await reader.read(decoder.feed(chunk), generation)
                    await self._send(batch, reader, sink, generation, account_id, ids)
                    if reader.stop is not None:
                        return
            if reader.delivered and work.busy:
                await work.wait(REST_WAIT_S)
            batch = await reader.read(decoder.close(), generation)
            await self._send(batch, reader, sink, generation, account_id, ids)
            if reader.stop is not None:
                return
            if decoder.finish is None:
                raise UpstreamServerError("the DeepSeek stream ended before the answer was complete")
            # INCOMPLETE: ask DeepSeek to go on, a bounded number of times.
            rounds += 1
            message_id = generation.message_id
            if rounds > self._policy.continue_max_rounds or message_id is None:
                raise UpstreamServerError(
                    f"DeepSeek left the answer incomplete after {rounds - 1} continuations"
                )
            reader.incomplete = False
            decoder.begin_continuation()
            stream = self._client.continuation(generation.identity, generation.session_id, message_id)
            await generation.request(stream, message_id)

    async def _send(
        self,
        batch: list[ChatEvent],
        reader: Reader,
        sink: EventSink,
        generation: Generation,
        account_id: str,
        ids: ReplyIds,
    ) -> None:
        if not batch:
            return
        message_id = generation.message_id
        if reader.announced is not None and message_id is not None and message_id != reader.announced:
            # chat/continue went on under a new message id: the id the caller holds must follow it.
            await ids.moved(generation.session_id, reader.announced, message_id)
            reader.announced = message_id
        first = not reader.started
        if first:
            # Held back until the first visible event, so that errors right after ``ready``
            # (hint, busy) can still fail over to another account.
            reader.started = True
            if message_id is not None:
                reader.announced = message_id
                conversation_id = await ids.format(generation.session_id, message_id)
                batch.insert(0, Started(conversation_id, account_id, reader.file_ids))
        await sink.emit(batch)
        if first:
            # The next session and PoW for this account are prepared while DeepSeek generates, once
            # the first token is handed on (the tasks this starts run after the writer's turn), and
            # once no other turn waits for its first token (chat.refills).
            reader.delivered = True
            self._refills.arrived()
            alone = self._refills.waiting == 0
            if not alone:
                self._refills.refill(account_id)  # held until no turn waits (chat.refills)
            if generation.stream is not None:
                generation.stream.steady()  # the rest may come in fewer, larger pieces
            # Let the writer put the first token on the wire now: this task would otherwise read
            # and decode the chunks already buffered behind it first (0.3-0.5 ms at 1 concurrent).
            # Alone, hand the CPU over to its reader for HANDOVER_S before the rest and the refill.
            try:
                await asyncio.sleep(HANDOVER_S if alone else 0)
            finally:
                if alone:  # asked even if the client left meanwhile, as when no token went out
                    self._refills.refill(account_id)
            if generation.stream is not None:
                generation.stream.first_out()  # written: the rest of this answer may wait now

    async def _usage(self, prompt: str, reader: Reader) -> TokenUsage:
        tokens = self._tokens

        def count() -> TokenUsage:
            reasoning = tokens.count("".join(reader.reasoning))
            answer = tokens.count("".join(reader.answer))
            return TokenUsage(tokens.count_prompt(prompt), reasoning + answer, reasoning)

        if not tokens.loaded or len(prompt) + reader.size > COUNT_INLINE_MAX:
            return await anyio.to_thread.run_sync(count)
        return count()


def _new_turn(messages: Sequence[ChatMessage]) -> Sequence[ChatMessage]:
    """The messages after the last assistant message: what a native continuation sends."""
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    return messages[last + 1 :]


__all__ = ["EventSink", "ReplyIds", "Tokens", "TurnAccount", "TurnPolicy", "TurnRunner", "Warmth"]
