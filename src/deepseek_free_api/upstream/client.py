"""The only module that speaks HTTP to DeepSeek (``/api/v0``), over curl_cffi.

curl_cffi gives us a real browser's TLS and HTTP/2 fingerprint (PROTOCOL.md §1.4: DeepSeek's
edge scores fingerprints), on curl handles set up once (``upstream.handles``) and sent by
``upstream.exchange``. Every answer is checked for status and Content-Type before it is parsed,
and every failure is mapped to the error tree by ``upstream.classifier``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from curl_cffi.requests.exceptions import RequestException, Timeout

from deepseek_free_api.config import Settings
from deepseek_free_api.errors import (
    AccountBannedError,
    ServiceError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
)
from deepseek_free_api.upstream.account_info import ModeConfig, UserStatus, mode_configs, user_status
from deepseek_free_api.upstream.answers import RAW_LIMIT, Answer, RawAnswer, device_of, dig, envelope_data
from deepseek_free_api.upstream.cookies import CookieJars
from deepseek_free_api.upstream.exchange import (
    MAX_ANSWER_BYTES,
    STREAM_BUFFER_BYTES,
    AnswerTooLarge,
    Call,
    StreamAnswer,
    fetch,
    open_stream,
)
from deepseek_free_api.upstream.handles import HandlePool
from deepseek_free_api.upstream.persona import Locality, Persona
from deepseek_free_api.upstream.stream import UpstreamStream, network_error, too_large
from deepseek_free_api.upstream.transfer import Transfer
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
# Told of every call: the endpoint (``/chat/completion``) and the error it raised, or None.
CallObserver = Callable[[str, ServiceError | None], None]


class DeepSeekClient:
    """Async client for DeepSeek's web API; one instance per server, shared by all accounts."""

    def __init__(
        self,
        base_url: str,
        persona: Persona,
        *,
        connect_timeout: float = 10.0,
        request_timeout: float = 60.0,
        idle_timeout: float = 120.0,
        proxy: str | None = None,
        max_transfers: int = 1024,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        stream_buffer_bytes: int = STREAM_BUFFER_BYTES,
        on_call: CallObserver | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._host = urlsplit(self.base_url).netloc or self.base_url  # named when it cannot be reached
        self.persona = persona
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._idle_timeout = idle_timeout
        self._max_answer = max_answer_bytes
        self._stream_buffer = stream_buffer_bytes
        self._on_call = on_call
        self._proxy = proxy  # for calls of accounts without their own
        # Plain http (the simulator) must not try an h2c upgrade; https negotiates HTTP/2 like Chrome.
        plain = urlsplit(self.base_url).scheme == "http"
        # A stream holds a handle for its whole life (curl_cffi's default of 10 capped the server
        # at 10 generations); handles are made on demand, up to max_transfers.
        self._handles = HandlePool(persona.impersonate, "v1" if plain else None, max_transfers)
        self._jars = CookieJars()  # never one jar for every account: each has its own

    async def aclose(self) -> None:
        """End running transfers and close pooled connections."""
        await self._handles.close()

    # -- plumbing ---------------------------------------------------------------------------

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

    @contextmanager
    def _observed(self, path: str) -> Iterator[None]:
        """Tell ``on_call`` how a call to ``path`` ended (metrics); errors pass through unchanged."""
        observe = self._on_call
        if observe is None:
            yield
            return
        endpoint = path.split("?", 1)[0].removeprefix(API)
        try:
            yield
        except ServiceError as error:
            observe(endpoint, error)
            raise
        observe(endpoint, None)

    def _headers(
        self,
        identity: Identity | None,
        extra: Mapping[str, str] | None = None,
        locality: Locality | None = None,
    ) -> dict[str, str | None]:
        headers = self.persona.headers(
            token=identity.token if identity else None,
            device_id=identity.device_id if identity else None,
            origin=self.base_url,
            locality=identity.locality if identity else locality,
        )
        if extra:
            headers.update(extra)
        return headers

    def _request(
        self,
        method: str,
        path: str,
        identity: Identity | None,
        *,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        proxy: str | None = None,
        locality: Locality | None = None,
    ) -> Call:
        """What a call sends: header lines, body, and whose connections, cookies and proxy."""
        via = identity.proxy if identity is not None and identity.proxy else proxy
        # The account's own cookies and connections; a login (no identity yet) is known by the
        # device id it sends.
        account = identity.device_id if identity is not None else device_of(json)
        sent = self._headers(identity, headers, locality)
        if json is not None:
            # orjson, as the browser's JSON.stringify: UTF-8 as is (curl_cffi's json= escapes every
            # non-ASCII character) and a tenth of the stdlib's time on a long prompt. The header
            # goes last, where curl_cffi puts it for json=.
            content = orjson.dumps(json if isinstance(json, dict) else dict(json))
            sent["Content-Type"] = "application/json"
        return Call(
            method,
            self.base_url + path,
            sent,
            content,
            account,
            via or self._proxy,
            self._jars.for_curl(account, self.base_url),
        )

    async def _send(self, path: str, call: Call, *, stream: Transfer | None = None) -> Any:
        """Send ``call``: the whole answer, or (``stream``) the answer whose body started to flow."""
        try:
            if stream is None:
                answer: Answer | StreamAnswer = await fetch(
                    self._handles, call, (self._connect_timeout, self._request_timeout), self._max_answer
                )
            else:
                timeouts = (self._connect_timeout, self._idle_timeout)
                answer = await open_stream(self._handles, call, timeouts, stream, self._stream_buffer)
        except AnswerTooLarge as exc:
            raise too_large(exc, path) from exc
        except Timeout as exc:
            raise UpstreamTimeoutError(f"DeepSeek did not answer {path} in time") from exc
        except RequestException as exc:
            raise network_error(exc, path, self._host) from exc
        self._jars.keep(call.account, answer)
        return answer

    async def _call(
        self,
        method: str,
        path: str,
        identity: Identity | None,
        *,
        json: Mapping[str, Any] | None = None,
        login: bool = False,
        proxy: str | None = None,
        locality: Locality | None = None,
    ) -> Any:
        """One JSON call; returns ``biz_data`` or raises the classified error."""
        with self._observed(path):
            call = self._request(method, API + path, identity, json=json, proxy=proxy, locality=locality)
            answer = await self._send(API + path, call)
            return envelope_data(answer.status_code, answer.headers, answer.content, path, login=login)

    async def raw(
        self,
        method: str,
        path: str,
        identity: Identity | None,
        *,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        proxy: str | None = None,
        locality: Locality | None = None,
    ) -> RawAnswer:
        """One call as DeepSeek answered it, unclassified (the canary keeps it as evidence).

        ``proxy`` and ``locality``: the account's, for a call without an identity (a login).
        Network failures still raise (UpstreamUnreachableError, UpstreamTimeoutError…).
        """
        with self._observed(path):
            call = self._request(
                method, API + path, identity, json=json, headers=headers, proxy=proxy, locality=locality
            )
            answer = await self._send(API + path, call)
        return RawAnswer(answer.status_code, answer.headers, answer.content[:RAW_LIMIT])

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
        if not isinstance(challenge, Mapping):
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

    def _stream(
        self, path: str, identity: Identity, body: Mapping[str, Any], headers: Mapping[str, str] | None
    ) -> UpstreamStream:
        transfer = Transfer()

        async def send() -> Any:
            # The curl handle this request takes belongs to the stream; the call counts in the
            # metrics (an answer that is not a stream is classified, and counted, per attempt).
            with self._observed(path):
                call = self._request("POST", path, identity, json=body, headers=headers)
                return await self._send(path, call, stream=transfer)

        return UpstreamStream(
            send,
            path,
            abort=transfer.abort,
            idle_timeout_s=self._idle_timeout,
            max_answer_bytes=self._max_answer,
        )


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
