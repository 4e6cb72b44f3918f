"""One turn: one generation on one leased account, from session to the last event.

The turn creates (or takes a pre-created) session, builds the prompt, takes a proof-of-work
answer, opens ``chat/completion``, decodes the stream, runs ``chat/continue`` while DeepSeek says
INCOMPLETE, passes the events through the pipeline (stop sequences, token budget) and hands
batches to the sink. ``Generation`` owns the upstream stream from before its request is sent: on
every exit it first tells DeepSeek to stop a generation that may not have reached its end, then
closes the stream; under ``chat.session_delete = "delete"`` the session is deleted next, whatever
the exit. The lease is released by the failover loop only after that (or parked, when DeepSeek did
not confirm the stop), so the account is never handed on while DeepSeek may still generate on it.
"""

from __future__ import annotations

import logging
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
from deepseek_free_api.chat.pipeline import Pipeline
from deepseek_free_api.chat.ports import EventSink, ReplyIds, Tokens, TurnAccount, Warmth
from deepseek_free_api.chat.prompt import fold_messages, new_turn_prompt
from deepseek_free_api.chat.reader import Reader, prompt_options
from deepseek_free_api.chat.refills import HeldRefills
from deepseek_free_api.chat.request import ChatRequest
from deepseek_free_api.chat.structured import answer_in_format
from deepseek_free_api.errors import InvalidPowError, UnsupportedContentError, UpstreamServerError
from deepseek_free_api.upstream.client import COMPLETION_PATH, CompletionParams, Identity

log = logging.getLogger(__name__)

# Above this many characters, counting tokens moves off the event loop.
COUNT_INLINE_MAX = 20_000


@dataclass(frozen=True, slots=True)
class TurnPolicy:
    """The knobs of a turn."""

    continue_max_rounds: int = 8
    delete_sessions: bool = False  # chat.session_delete = "delete": no history left upstream


class TurnRunner:
    """Runs one turn on a leased account; raises ServiceError (before or after events went out)."""

    def __init__(
        self,
        client: Upstream,
        warmth: Warmth,
        tokens: Tokens,
        policy: TurnPolicy,
        files: AttachmentUploader | None = None,
    ) -> None:
        self._client = client
        self._warmth = warmth
        self._refills = HeldRefills(warmth.refill)
        self._tokens = tokens
        self._policy = policy
        self._files = files

    async def run(
        self,
        request: ChatRequest,
        account: TurnAccount,
        native: Native | None,
        sink: EventSink,
        ids: ReplyIds,
        unstopped: list[UnconfirmedStop] | None = None,
    ) -> None:
        """Run the turn, sending event batches to ``sink``; the last one holds ``Completed``.

        A structured answer (``response_format``) is checked first and may take a repair generation.
        Generations whose stop DeepSeek did not confirm are added to ``unstopped``, whatever the exit.
        """
        left = [] if unstopped is None else unstopped

        async def generate(
            request: ChatRequest, account: TurnAccount, native: Native | None, sink: EventSink, ids: ReplyIds
        ) -> None:
            await self._generate(request, account, native, sink, ids, left)

        if request.response_format is not None:
            repair_natively = not self._policy.delete_sessions  # a deleted session cannot go on
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
    ) -> None:
        """One generation: session, prompt, PoW, the upstream stream to its end."""
        identity = Identity(token=account.token or "", device_id=account.device_id)
        if request.wants_usage:
            self._tokens.prefetch()  # usage is counted at the end: have the tokenizer by then
        if request.max_tokens is not None:
            await self._tokens.ready()  # the budget counts every piece as it passes
        options = prompt_options(request)
        # The prompt first (a request with nothing to say is refused before anything is uploaded),
        # then uploads: a refused file leaves the prepared session and PoW for the next turn.
        if native is not None:
            prompt = new_turn_prompt(request.messages, **options)
        else:
            prompt = fold_messages(request.messages, **options)
        ref_file_ids = await self._upload(request, account.id, identity, continued=native is not None)
        if native is not None:
            session_id, parent = native.session_id, native.message_id
        else:
            session_id, parent = await self._warmth.session(account.id, identity), None
        reader = Reader(Pipeline.for_request(request, self._tokens.count))
        self._refills.expect()
        try:
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
            generation = Generation(self._client, identity, session_id)
            try:
                async with generation:
                    stream = self._client.completion(identity, params, header)
                    await generation.request(stream, answer_id(parent))
                    await self._read(generation, reader, sink, account.id, ids)
                    if generation.running:  # ended early (stop sequence, max_tokens): free the account first
                        await generation.stop()
                    usage = await self._usage(prompt, reader) if request.wants_usage else None
                    await sink.emit(reader.complete(usage))
            finally:
                if generation.unconfirmed is not None:
                    unstopped.append(generation.unconfirmed)
        except InvalidPowError:
            self._warmth.pow_rejected()  # before the refill below: it must not reuse a stale one
            raise
        finally:
            if not reader.delivered:  # no token went out (failed, left): prepare the next turn anyway
                self._refills.arrived()
                self._refills.refill(account.id)
            if self._policy.delete_sessions:
                await self._delete(identity, session_id)  # on every exit: nothing left upstream

    def check(self, request: ChatRequest, *, continued: bool) -> None:
        """Refuse what needs no account to refuse: the attachments' count, size and URLs."""
        attachments = turn_attachments(request, continued=continued)
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
        with anyio.CancelScope(shield=True):
            try:
                with anyio.fail_after(STOP_TIMEOUT_S):
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
        while True:
            assert generation.stream is not None
            async with aclosing(aiter(generation.stream)) as chunks:  # closed on every way out
                async for chunk in chunks:
                    batch = await reader.read(decoder.feed(chunk), generation)
                    await self._send(batch, reader, sink, generation, account_id, ids)
                    if reader.stop is not None:
                        return
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
            ids.moved(generation.session_id, reader.announced, message_id)
            reader.announced = message_id
        first = not reader.started
        if first:
            # Held back until the first visible event, so that errors right after ``ready``
            # (hint, busy) can still fail over to another account.
            reader.started = True
            if message_id is not None:
                reader.announced = message_id
                batch.insert(0, Started(ids.format(generation.session_id, message_id), account_id))
        await sink.emit(batch)
        if first:
            # The next session and PoW for this account are prepared while DeepSeek generates, once
            # the first token is handed on (the tasks this starts run after the writer's turn), and
            # once no other turn waits for its first token (chat.refills).
            reader.delivered = True
            self._refills.arrived()
            self._refills.refill(account_id)

    async def _usage(self, prompt: str, reader: Reader) -> TokenUsage:
        tokens = self._tokens

        def count() -> TokenUsage:
            reasoning = tokens.count("".join(reader.reasoning))
            answer = tokens.count("".join(reader.answer))
            return TokenUsage(tokens.count(prompt), reasoning + answer, reasoning)

        if not tokens.loaded or len(prompt) + reader.size > COUNT_INLINE_MAX:
            return await anyio.to_thread.run_sync(count)
        return count()


__all__ = ["EventSink", "ReplyIds", "Tokens", "TurnAccount", "TurnPolicy", "TurnRunner", "Warmth"]
