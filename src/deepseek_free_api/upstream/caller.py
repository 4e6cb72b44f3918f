"""How a call to DeepSeek is made: its header lines, cookies, connections and proxy, the answer
read within its bounds, and failures in our words (``upstream.client`` adds the endpoints).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import orjson
from curl_cffi.requests.exceptions import RequestException, Timeout

from deepseek_free_api.errors import ServiceError, UpstreamTimeoutError
from deepseek_free_api.upstream.answers import RAW_LIMIT, Answer, RawAnswer, device_of, envelope_data
from deepseek_free_api.upstream.bodies import MAX_ANSWER_BYTES, STREAM_BUFFER_BYTES, AnswerTooLarge
from deepseek_free_api.upstream.cookies import CookieJars
from deepseek_free_api.upstream.exchange import Call, StreamAnswer, fetch, open_stream
from deepseek_free_api.upstream.handles import HandlePool
from deepseek_free_api.upstream.header_lines import Extra, HeaderCache
from deepseek_free_api.upstream.persona import Locality, Persona
from deepseek_free_api.upstream.stream import UpstreamStream, network_error, too_large
from deepseek_free_api.upstream.transfer import Transfer
from deepseek_free_api.upstream.wire import API, Identity

# Told of every call: the endpoint (``/chat/completion``) and the error it raised, or None.
CallObserver = Callable[[str, ServiceError | None], None]


class Caller:
    """Sends DeepSeek's calls for every account over one pool of curl handles (``DeepSeekClient``)."""

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
        self._lines = HeaderCache(persona, self.base_url)  # each account's header lines, encoded once

    async def aclose(self) -> None:
        """End running transfers and close pooled connections."""
        await self._handles.close()

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
        if identity is not None:
            lines = self._lines.of(identity.token, identity.device_id, identity.locality)
        else:
            lines = self._lines.of(None, None, locality)
        extra: Extra = tuple(headers.items()) if headers else ()
        if json is not None:
            # orjson, as the browser's JSON.stringify: UTF-8 as is (curl_cffi's json= escapes every
            # non-ASCII character) and a tenth of the stdlib's time on a long prompt. The header
            # goes last, where curl_cffi puts it for json=.
            content = orjson.dumps(json if isinstance(json, dict) else dict(json))
            extra += (("Content-Type", "application/json"),)
        return Call(
            method,
            self.base_url + path,
            lines,
            extra,
            not headers,  # a call's own headers (proof of work, chat page) differ every time
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
