"""Images and files of a chat request, uploaded to DeepSeek for one turn (PROTOCOL.md §4.8).

Attachments come last. ``check`` (count, size, URLs allowed) runs before an account is taken;
the turn builds its prompt first (a request with nothing to say uploads nothing); then a proof of
work for ``/api/v0/file/upload_file`` (DeepSeek's first word on the token), then every attachment's
bytes (inline content decoded, in a worker thread when large, or fetched by ``chat.remote`` when
``files.remote_urls`` is on), and only then the multipart uploads. ``file/fetch_files`` is polled,
with backoff and within ``files.parse_timeout_s``, until every file is ``SUCCESS`` (and an image's
``audit_result`` is ``pass``). The ids go into the completion's ``ref_file_ids``. A file DeepSeek
refuses (``FAILED``, ``CONTENT_EMPTY``, an audit other than ``pass``…) is a 400 naming the part and
DeepSeek's reason: never dropped.

Files belong to the account that uploaded them, so a turn retried on another account uploads
again (and a URL is fetched again). A continued conversation (``conversation_id``) uploads only the
attachments of its new messages: DeepSeek keeps the earlier ones with the session. Attachments kept
from an earlier turn (a stored Response followed by ``previous_response_id``) carry the file id
DeepSeek gave them and are referenced again, not uploaded; ``files.max_count`` counts only the
files a request uploads.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import anyio

from deepseek_free_api.chat.inline import InlineData
from deepseek_free_api.chat.remote import RemoteFetcher, parse_target
from deepseek_free_api.chat.request import Attachment, ChatRequest
from deepseek_free_api.errors import (
    PayloadTooLargeError,
    RequestError,
    UnsupportedContentError,
    UpstreamTimeoutError,
)
from deepseek_free_api.upstream.client import UPLOAD_PATH, FileUpload, Identity, UploadedFile

# fetch_files polling: DS2-go polls every 1 s, SRC-71362901345 every 0.8 s (PROTOCOL.md §4.8); we
# start faster because small text files are often ready at once, and back off to 2 s.
POLL_FIRST_S = 0.25
POLL_MAX_S = 2.0
# Still being read; SUCCESS is done; any other status is DeepSeek's refusal (FAILED, CONTENT_EMPTY,
# PARSE_FAILED, ERROR seen or listed by peers, 2026).
_WAITING = frozenset({"PENDING", "PARSING", "QUEUED", "UPLOADING"})
DECODE_INLINE_MAX = 64 * 1024  # bytes decoded on the event loop; larger content in a worker thread


class FileClient(Protocol):
    """The upstream calls uploads need (``upstream.client.DeepSeekClient`` has them)."""

    async def upload_file(self, identity: Identity, upload: FileUpload, pow_header: str) -> UploadedFile: ...
    async def fetch_files(self, identity: Identity, file_ids: Sequence[str]) -> list[UploadedFile]: ...


class UploadPow(Protocol):
    """Proof of work for any target path (``chat.warm.WarmAccounts``)."""

    async def pow_header(self, account_id: str, identity: Identity, target_path: str) -> str: ...


def turn_attachments(request: ChatRequest, *, continued: bool) -> tuple[Attachment, ...]:
    """The attachments a turn sends: all of them, or those after the last assistant message when continued."""
    messages = request.messages
    if continued:
        last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
        messages = messages[last + 1 :]
    return tuple(attachment for message in messages for attachment in message.attachments)


class AttachmentUploader:
    """Uploads a turn's images and files on the turn's account; returns the ids for ``ref_file_ids``."""

    def __init__(
        self,
        client: FileClient,
        pow_source: UploadPow,
        *,
        remote_urls: bool = False,
        max_bytes: int = 10 * 1024 * 1024,
        max_count: int = 10,
        fetch_timeout_s: float = 10.0,
        parse_timeout_s: float = 60.0,
        fetcher: RemoteFetcher | None = None,
    ) -> None:
        self._client = client
        self._pow = pow_source
        self._remote_urls = remote_urls
        self._max_bytes = max_bytes
        self._max_count = max_count
        self._parse_timeout_s = parse_timeout_s
        self._fetcher = fetcher or RemoteFetcher(max_bytes=max_bytes, timeout_s=fetch_timeout_s)

    def check(self, attachments: Sequence[Attachment]) -> None:
        """What can be refused before any upstream call: too many, too large, URLs off or malformed."""
        if len(attachments) > self._max_count:
            raise RequestError(
                f"{len(attachments)} images and files were sent; at most {self._max_count} are allowed "
                "(files.max_count)",
                param=attachments[self._max_count].param,
            )
        for attachment in attachments:
            if attachment.url is not None and not self._remote_urls:
                raise UnsupportedContentError(
                    f"'{attachment.param}' is an http(s) URL, and this server does not fetch URLs "
                    "(files.remote_urls is off): send the content inline as a data: URL or base64",
                    param=attachment.param,
                )
            if attachment.url is not None:
                parse_target(attachment.url, attachment.param)  # a malformed URL before any upload
            inline = attachment.inline
            # The length alone usually settles it; only content near the limit is measured.
            if inline is not None and inline.bound > self._max_bytes and inline.size() > self._max_bytes:
                raise self._too_large(attachment)

    async def upload(
        self, request: ChatRequest, account_id: str, identity: Identity, *, continued: bool = False
    ) -> tuple[str, ...]:
        """Upload the turn's attachments and wait until DeepSeek has read them; ``()`` when there are none."""
        attachments = turn_attachments(request, continued=continued)
        if not attachments:
            return ()
        new = [attachment for attachment in attachments if attachment.file_id is None]
        self.check(new)
        model = request.model
        # The first proof of work is DeepSeek's first word on the token: nothing is decoded or
        # fetched for a caller it refuses. Then every attachment is made ready before the first
        # upload, so one that cannot be (bad base64, a failed fetch) leaves nothing uploaded.
        if not new:
            return tuple(attachment.file_id or "" for attachment in attachments)
        header: str | None = await self._pow.pow_header(account_id, identity, UPLOAD_PATH)
        ready = [await self._prepared(attachment, model.model_type, model.thinking) for attachment in new]
        uploaded: list[UploadedFile] = []
        for upload in ready:
            header = header or await self._pow.pow_header(account_id, identity, UPLOAD_PATH)
            uploaded.append(await self._client.upload_file(identity, upload, header))
            header = None  # a proof of work is good for one call
        await self._wait(identity, new, uploaded)
        fresh = iter(file.id for file in uploaded)
        return tuple(attachment.file_id or next(fresh) for attachment in attachments)

    async def upload_text(
        self,
        account_id: str,
        identity: Identity,
        filename: str,
        text: str,
        *,
        model_type: str,
        thinking: bool,
    ) -> str:
        """Upload ``text`` as a text file the server wrote (a long history) and wait until it is read."""
        data = text.encode()
        attachment = Attachment(kind="file", filename=filename, media_type="text/plain", param="messages")
        if len(data) > self._max_bytes:
            raise self._too_large(attachment)
        header = await self._pow.pow_header(account_id, identity, UPLOAD_PATH)
        upload = FileUpload(filename, "text/plain", data, model_type=model_type, thinking=thinking)
        uploaded = await self._client.upload_file(identity, upload, header)
        await self._wait(identity, [attachment], [uploaded])
        return uploaded.id

    async def _prepared(self, attachment: Attachment, model_type: str, thinking: bool) -> FileUpload:
        data, media_type, filename = b"", attachment.media_type, attachment.filename
        if attachment.inline is not None:
            data = await _decoded(attachment.inline)
        if attachment.url is not None:
            fetched = await self._fetcher.fetch(attachment.url, attachment.param)
            data, media_type = fetched.data, fetched.media_type or "application/octet-stream"
            filename = filename or fetched.filename or ("image" if attachment.kind == "image" else "file")
            if attachment.kind == "image" and not media_type.startswith("image/"):
                raise UnsupportedContentError(
                    f"'{attachment.param}': the URL did not deliver an image (its type is "
                    f"'{media_type[:64]}')",
                    param=attachment.param,
                )
        if len(data) > self._max_bytes:
            raise self._too_large(attachment)
        if attachment.kind == "image" and "." not in filename:
            filename += "." + media_type.removeprefix("image/").split("+")[0]
        return FileUpload(filename, media_type, data, model_type=model_type, thinking=thinking)

    async def _wait(
        self, identity: Identity, attachments: Sequence[Attachment], uploaded: Sequence[UploadedFile]
    ) -> None:
        """Poll ``fetch_files`` until every file is ready; a refusal or the time limit raises."""
        by_id = {file.id: attachment for file, attachment in zip(uploaded, attachments, strict=True)}
        pending = {file.id for file in uploaded if not _settled(file, by_id[file.id])}
        deadline = time.monotonic() + self._parse_timeout_s
        delay = POLL_FIRST_S
        while pending:
            if time.monotonic() >= deadline:
                names = ", ".join(f"'{by_id[i].param}'" for i in sorted(pending))
                raise UpstreamTimeoutError(
                    f"DeepSeek had not finished reading {names} after {self._parse_timeout_s:g} s "
                    "(files.parse_timeout_s)"
                )
            await anyio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, POLL_MAX_S)
            for file in await self._client.fetch_files(identity, sorted(pending)):
                if file.id in pending and _settled(file, by_id[file.id]):
                    pending.discard(file.id)

    def _too_large(self, attachment: Attachment) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"'{attachment.param}' is larger than files.max_bytes ({self._max_bytes} bytes)",
            param=attachment.param,
        )


async def _decoded(inline: InlineData) -> bytes:
    """The bytes of inline content; decoding more than a little is CPU work for a worker thread."""
    if inline.bound <= DECODE_INLINE_MAX:
        return inline.decode()
    return await anyio.to_thread.run_sync(inline.decode)


def _settled(file: UploadedFile, attachment: Attachment) -> bool:
    """True once DeepSeek has read the file; raises if it refused it."""
    if file.status in _WAITING:
        return False
    if file.status == "SUCCESS":
        audit = file.audit_result
        if not file.is_image or audit in (None, "pass"):
            return True
        if audit == "unknown":
            return False  # the image is read, its audit is not done yet
        reason = f"the image did not pass DeepSeek's review ({audit[:64]})"
    else:
        reason = f"{file.status[:64]}" + (f", {file.error_code[:64]}" if file.error_code else "")
    raise UnsupportedContentError(
        f"DeepSeek refused the file '{(file.file_name or attachment.filename)[:64]}' from "
        f"'{attachment.param}': {reason}",
        param=attachment.param,
        code="file_rejected",
    )
