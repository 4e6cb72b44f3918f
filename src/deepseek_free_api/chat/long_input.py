"""Prompts over a mode's input limit: sent as the web app sends them, or refused (``chat.long_input``).

With ``"file"`` (the default) a prompt longer than the mode's ``input_character_limit`` goes up as
DeepSeek's web app and its peers send long conversations (DS2-go ``current_input_file`` 2026-04-27,
NIY above 75 % of the limit; PROTOCOL.md §6.2): the conversation before the last turn as an
uploaded text file, the last turn as the prompt with a line that points at the file. When even the
last turn is over the limit, the whole conversation goes into the file. With ``"refuse"`` the
caller gets a 413 that names the limit. The limit comes from ``chat.modes`` (DeepSeek's
``client/settings`` or the configuration); when DeepSeek answers ``input_exceeds_limit`` to a
prompt we did not know to be too long, the same happens then: never an empty answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from deepseek_free_api.chat.files import AttachmentUploader
from deepseek_free_api.chat.modes import ModeBook
from deepseek_free_api.chat.prompt import fold_messages, transcript
from deepseek_free_api.chat.request import ChatMessage, ChatRequest
from deepseek_free_api.errors import InputTooLongError
from deepseek_free_api.upstream.client import Identity

LongInput = Literal["file", "refuse"]
HISTORY_FILE = "conversation-history.txt"
_EARLIER = (
    f"[The earlier part of this conversation is in the attached file {HISTORY_FILE}. Read it first, "
    "then answer the latest message below.]\n\n"
)
_WHOLE = (
    f"[This conversation is in the attached file {HISTORY_FILE}; it was too long to send as a "
    "message. Read it and answer its last message, following any instructions in it.]"
)


class SendAsFile(Exception):
    """DeepSeek found the prompt too long: send the turn again through the file path (not an error)."""


@dataclass(frozen=True, slots=True)
class Fitted:
    """The prompt to send and, when it did not fit, the history to upload as a text file first."""

    prompt: str
    history: str | None = None


class PromptFitter:
    """Makes a turn's prompt fit its mode's input limit; see the module docstring."""

    def __init__(
        self, modes: ModeBook | None, files: AttachmentUploader | None, long_input: LongInput = "file"
    ) -> None:
        self._modes = modes
        self._files = files
        self.long_input: LongInput = long_input if files is not None else "refuse"

    async def fit(
        self,
        request: ChatRequest,
        messages: Sequence[ChatMessage],
        prompt: str,
        options: dict[str, Any],
        identity: Identity,
        *,
        as_file: bool = False,
    ) -> Fitted:
        """The prompt as it can go up; raises ModelDisabledError, or InputTooLongError under "refuse"."""
        model = request.model
        limit = None
        if self._modes is not None:
            limit = (await self._modes.check(identity, model.model_type, len(prompt), model.name)).limit
        if not as_file and (limit is None or len(prompt) <= limit):
            return Fitted(prompt)
        if self.long_input == "refuse":
            raise too_long(len(prompt), limit, model.model_type)
        return _as_file(messages, options, limit)

    async def upload(
        self, fitted: Fitted, request: ChatRequest, account_id: str, identity: Identity
    ) -> tuple[str, ...]:
        """The history file's id (uploaded and read by DeepSeek), or nothing when the prompt fit."""
        if fitted.history is None or self._files is None:
            return ()
        model = request.model
        file_id = await self._files.upload_text(
            account_id,
            identity,
            HISTORY_FILE,
            fitted.history,
            model_type=model.model_type,
            thinking=model.thinking,
        )
        return (file_id,)

    async def refused(
        self, request: ChatRequest, identity: Identity, prompt_chars: int, *, sent_as_file: bool
    ) -> Exception:
        """What DeepSeek's ``input_exceeds_limit`` means for this turn: send it as a file, or a 413."""
        if self.long_input == "file" and not sent_as_file:
            return SendAsFile()
        limit = None
        if self._modes is not None:
            model_type = request.model.model_type
            limit = (await self._modes.mode(identity, model_type, prompt_chars, refresh=True)).limit
        error = too_long(prompt_chars, limit, request.model.model_type)
        if sent_as_file:
            error.message = "even with the history sent as a file, " + error.message
        return error


def too_long(chars: int, limit: int | None, model_type: str) -> InputTooLongError:
    """The 413 for a prompt over the limit, naming the limit and the setting that chose to refuse."""
    # Worded like Anthropic's own "prompt is too long: N tokens > M maximum", which agents react to.
    known = f"> {limit} maximum" if limit else "(DeepSeek did not say its limit)"
    return InputTooLongError(
        f"prompt is too long: {chars} characters {known} for DeepSeek's {model_type} mode; shorten the "
        'conversation, or set chat.long_input = "file" to send long conversations as a file',
        param="messages",
        code="context_length_exceeded",
    )


def _as_file(messages: Sequence[ChatMessage], options: dict[str, Any], limit: int | None) -> Fitted:
    """The conversation before the last turn as the file, the last turn as the prompt (if it fits)."""
    renderers = {key: value for key, value in options.items() if key != "instructions"}
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    if 0 <= last < len(messages) - 1:
        tail = _EARLIER + fold_messages(messages[last + 1 :], **options)
        if limit is None or len(tail) <= limit:
            return Fitted(tail, transcript(messages[: last + 1], **renderers))
    instructions = options.get("instructions")
    lead = [ChatMessage(role="system", text=instructions)] if instructions else []
    return Fitted(_WHOLE, transcript([*lead, *messages], **renderers))
