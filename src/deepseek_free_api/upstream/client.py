"""The only module that speaks HTTP to DeepSeek (``/api/v0``), over curl_cffi.

curl_cffi gives us a real browser's TLS and HTTP/2 fingerprint (PROTOCOL.md §1.4: DeepSeek's
edge scores fingerprints), on curl handles set up once (``upstream.handles``) and sent by
``upstream.exchange``; ``upstream.caller`` makes one call, this module has the endpoints. Every
answer is checked for status and Content-Type before it is parsed, and every failure is mapped to
the error tree by ``upstream.classifier``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from deepseek_free_api.config import Settings
from deepseek_free_api.errors import (
    AccountBannedError,
    UpstreamProtocolError,
)
from deepseek_free_api.upstream.account_info import ModeConfig, UserStatus, mode_configs, user_status
from deepseek_free_api.upstream.answers import RawAnswer, dig, envelope_data
from deepseek_free_api.upstream.caller import Caller, CallObserver
from deepseek_free_api.upstream.persona import Locality, Persona
from deepseek_free_api.upstream.stream import UpstreamStream
from deepseek_free_api.upstream.wire import (
    API,
    COMPLETION_PATH,
    UPLOAD_PATH,
    CompletionParams,
    FileUpload,
    Identity,
    UploadedFile,
)

log = logging.getLogger(__name__)


class DeepSeekClient(Caller):
    """Async client for DeepSeek's web API; one instance per server, shared by all accounts."""

    @classmethod
    def from_settings(cls, settings: Settings, *, on_call: CallObserver | None = None) -> DeepSeekClient:
        """The client ``upstream.*`` and ``persona.*`` describe (the server's and the canary's)."""
        upstream = settings.upstream
        return cls(
            upstream.base_url,
            Persona.from_settings(settings.persona),
            connect_timeout=upstream.connect_timeout_s,
            request_timeout=upstream.request_timeout_s,
            idle_timeout=upstream.stream_idle_timeout_s,
            max_answer_bytes=upstream.max_answer_bytes,
            stream_buffer_bytes=upstream.stream_buffer_bytes,
            on_call=on_call,
        )

    # -- endpoints --------------------------------------------------------------------------

    async def login(
        self,
        *,
        password: str,
        device_id: str,
        email: str | None = None,
        mobile: str | None = None,
        area_code: str | None = None,
        proxy: str | None = None,
        locality: Locality | None = None,
    ) -> str:
        """``users/login`` with e-mail, or mobile and its area code (``+86``); returns the user token.

        ``proxy`` and ``locality``: the account's own, so that DeepSeek sees its login come from
        the same address, language and time zone as its other calls.
        """
        body: dict[str, Any] = {"password": password, "device_id": device_id, "os": self.persona.platform}
        if email:
            body["email"] = email
        else:
            # The web sends "+86"-style codes; null when none is configured, as DS2-go does (2026-05).
            body.update({"mobile": mobile, "area_code": area_code or None})
        data = await self._call(
            "POST", "/users/login", None, json=body, login=True, proxy=proxy, locality=locality
        )
        token = dig(data, "user", "token")
        if not isinstance(token, str) or not token:
            raise UpstreamProtocolError("DeepSeek's login answer carried no token")
        return token

    async def current_user(self, identity: Identity) -> Mapping[str, Any]:
        """``users/current``: raises InvalidTokenError for a dead token."""
        data = await self._call("GET", "/users/current", identity)
        return data if isinstance(data, Mapping) else {}

    async def user_status(self, identity: Identity) -> UserStatus:
        """``users/current``'s mute (``chat.is_muted``, ``chat.mute_until``)."""
        return user_status(await self._call("GET", "/users/current", identity))

    async def mode_configs(self, identity: Identity) -> tuple[ModeConfig, ...]:
        """``client/settings?scope=model``: each mode, whether it is on, and its input limit."""
        return mode_configs(await self._call("GET", "/client/settings?scope=model", identity))

    async def create_session(self, identity: Identity) -> str:
        """``chat_session/create``; returns the new session id."""
        data = await self._call("POST", "/chat_session/create", identity, json={})
        # 2026: biz_data.chat_session.id; until 2025: biz_data.id (PROTOCOL.md §4.1).
        session_id = dig(data, "chat_session", "id") or dig(data, "id")
        if not session_id:
            raise AccountBannedError(
                "DeepSeek created no chat session for this account: the account or this IP may be banned"
            )
        return str(session_id)

    async def delete_session(self, identity: Identity, session_id: str) -> None:
        """``chat_session/delete``."""
        await self._call("POST", "/chat_session/delete", identity, json={"chat_session_id": session_id})

    async def create_pow_challenge(self, identity: Identity, target_path: str) -> Mapping[str, Any]:
        """``chat/create_pow_challenge``; returns the raw challenge object."""
        data = await self._call(
            "POST", "/chat/create_pow_challenge", identity, json={"target_path": target_path}
        )
        challenge = dig(data, "challenge")
        if not isinstance(challenge, dict):
            raise UpstreamProtocolError("DeepSeek's PoW challenge answer had no challenge")
        return challenge

    def completion(self, identity: Identity, params: CompletionParams, pow_header: str) -> UpstreamStream:
        """``chat/completion`` as a stream not sent yet: its owner opens it and always closes it."""
        headers = {"X-Ds-Pow-Response": pow_header, **self._chat_page(params.session_id)}
        return self._stream(COMPLETION_PATH, identity, params.body(), headers)

    def continuation(self, identity: Identity, session_id: str, message_id: int) -> UpstreamStream:
        """``chat/continue`` after an INCOMPLETE stream (no PoW, PROTOCOL.md §3.6), not sent yet."""
        body = {"chat_session_id": session_id, "message_id": message_id, "fallback_to_resume": True}
        return self._stream(f"{API}/chat/continue", identity, body, self._chat_page(session_id))

    def _chat_page(self, session_id: str) -> dict[str, str]:
        """The web app asks for a generation from the session's chat page: its Referer."""
        return {"Referer": f"{self.base_url}/a/chat/s/{session_id}"} if self.persona.platform == "web" else {}

    async def open_completion(
        self, identity: Identity, params: CompletionParams, pow_header: str
    ) -> UpstreamStream:
        """``chat/completion`` opened: the flowing stream, or the classified error."""
        stream = self.completion(identity, params, pow_header)
        await stream.open()  # a failed or cancelled open has ended its transfer already
        return stream

    async def stop_stream(self, identity: Identity, session_id: str, message_id: int) -> None:
        """``chat/stop_stream``: end a generation so the account is free again."""
        body = {"chat_session_id": session_id, "message_id": message_id}
        await self._call("POST", "/chat/stop_stream", identity, json=body)

    async def upload_file(self, identity: Identity, upload: FileUpload, pow_header: str) -> UploadedFile:
        """``file/upload_file``: one multipart part named ``file``; the answer is usually PENDING."""
        with self._observed(UPLOAD_PATH):
            return await self._upload_file(identity, upload, pow_header)

    async def _upload_file(self, identity: Identity, upload: FileUpload, pow_header: str) -> UploadedFile:
        content_type, body = upload.multipart()
        extra = {
            "Content-Type": content_type,
            "X-Ds-Pow-Response": pow_header,
            # 2026 upload headers (DS2-go client_upload.go, PROTOCOL.md §1.4)
            "x-file-size": str(len(upload.data)),
            "x-model-type": upload.model_type,
            "x-thinking-enabled": "1" if upload.thinking else "0",
        }
        call = self._request("POST", UPLOAD_PATH, identity, headers=extra, content=body)
        answer = await self._send(UPLOAD_PATH, call)
        data = envelope_data(answer.status_code, answer.headers, answer.content, UPLOAD_PATH)
        return UploadedFile.from_json(data)

    async def fetch_files(self, identity: Identity, file_ids: Sequence[str]) -> list[UploadedFile]:
        """``file/fetch_files``: the current state of these files (those of this account)."""
        data = await self._call("GET", "/file/fetch_files?file_ids=" + quote(",".join(file_ids)), identity)
        files = dig(data, "files")
        if not isinstance(files, list):
            raise UpstreamProtocolError("DeepSeek's fetch_files answer had no file list")
        return [UploadedFile.from_json(item) for item in files]


__all__ = [
    "API",
    "RawAnswer",
    "envelope_data",
    "COMPLETION_PATH",
    "UPLOAD_PATH",
    "CompletionParams",
    "DeepSeekClient",
    "FileUpload",
    "Identity",
    "UploadedFile",
    "UpstreamStream",
]
