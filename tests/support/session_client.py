"""The DeepSeek client as it sent its calls before the pre-configured handles: curl_cffi's session.

``SessionClient`` is ``DeepSeekClient`` whose ``_send`` makes the call the way f179a6a did, with
curl_cffi's ``AsyncSession.request`` and the same arguments (the account's connection pool
attached when the request takes its handle, its cookie jar, its proxy, the same timeouts). The
header and TLS comparisons and ``bench/upstream_calls.py`` measure the new path against it.
"""

from __future__ import annotations

from collections import OrderedDict
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from curl_cffi import CurlOpt
from curl_cffi._wrapper import ffi
from curl_cffi.curl import CurlShare
from curl_cffi.requests import AsyncSession
from curl_cffi.requests.exceptions import RequestException, Timeout

from deepseek_free_api.errors import UpstreamTimeoutError
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.exchange import Call
from deepseek_free_api.upstream.stream import network_error
from deepseek_free_api.upstream.transfer import Transfer

_ACCOUNT: ContextVar[str | None] = ContextVar("session_client_account", default=None)


class _AccountSession(AsyncSession[Any]):
    """f179a6a's ``OwnedSession``: each account's handles on its own connection pool."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pools: OrderedDict[str, CurlShare] = OrderedDict()
        self.owners: dict[Any, Transfer] = {}
        self.transfer: ContextVar[Transfer | None] = ContextVar("session_client_transfer", default=None)

    async def pop_curl(self) -> Any:
        curl = await super().pop_curl()
        account = _ACCOUNT.get()
        if account is None:
            curl.setopt(CurlOpt.SHARE, ffi.NULL)
            curl._share = None
        else:
            pool = self._pools.get(account)
            if pool is None:
                pool = self._pools[account] = CurlShare(connect=True, dns=False, ssl_session=False)
            curl.setopt(CurlOpt.SHARE, pool._curl_share)
            curl._share = pool
        transfer = self.transfer.get()
        if transfer is not None:
            self.owners[curl] = transfer
            transfer.bind(self, curl)
        return curl

    def release_curl(self, curl: Any) -> None:
        owner = self.owners.pop(curl, None)
        if owner is not None:
            owner.bind(self, None)
        super().release_curl(curl)

    def abort(self, curl: Any) -> None:
        if self.owners.get(curl) is not None:
            self.acurl.remove_handle(curl)


class _Streamed:
    """curl_cffi's streaming response with the new path's ``aclose`` (abort, then wait)."""

    def __init__(self, response: Any, transfer: Transfer) -> None:
        self._response = response
        self._transfer = transfer
        self.status_code = response.status_code
        self.headers = dict(response.headers)
        self.cookies = response.cookies
        self.queue = response.queue

    async def acontent(self, limit: int) -> bytes:
        return bytes(await self._response.acontent())  # curl_cffi reads it whole: no limit

    def taken(self, size: int) -> None:
        pass  # curl_cffi's queue has no bound: nothing to resume

    def let_go(self) -> None:
        pass  # not in the register of first-token work (upstream.first_tokens)

    def calm(self) -> None:
        pass

    def hold(self, until: float) -> None:
        pass  # curl_cffi's session reads on: nothing to hold

    async def aclose(self) -> None:
        await self._transfer.end(self._response)


class SessionClient(DeepSeekClient):
    """``DeepSeekClient`` sending through curl_cffi's ``AsyncSession.request`` (the old path)."""

    def __init__(self, base_url: str, *args: Any, proxy: str | None = None, **kwargs: Any) -> None:
        super().__init__(base_url, *args, proxy=proxy, **kwargs)
        plain = urlsplit(self.base_url).scheme == "http"
        self.session = _AccountSession(
            impersonate=self.persona.impersonate,
            http_version="v1" if plain else None,
            proxy=proxy,
            max_clients=kwargs.get("max_transfers", 1024),
            discard_cookies=True,
        )

    async def aclose(self) -> None:
        await self.session.close()
        await super().aclose()

    async def _send(self, path: str, call: Call, *, stream: Transfer | None = None) -> Any:
        token = _ACCOUNT.set(call.account)
        moved = self.session.transfer.set(stream)
        read = self._idle_timeout if stream is not None else self._request_timeout
        try:
            response = await self.session.request(
                call.method,  # type: ignore[arg-type]
                call.url,
                content=call.body,
                headers=call.headers,
                cookies=self._jars.for_request(call.account),
                timeout=(self._connect_timeout, read),
                stream=stream is not None,
                allow_redirects=False,
                proxy=call.proxy if call.proxy != self._proxy else None,
            )
        except Timeout as exc:
            raise UpstreamTimeoutError(f"DeepSeek did not answer {path} in time") from exc
        except RequestException as exc:
            raise network_error(exc, path, self._host) from exc
        finally:
            self.session.transfer.reset(moved)
            _ACCOUNT.reset(token)
        self._jars.keep(call.account, response)
        return response if stream is None else _Streamed(response, stream)


__all__ = ["SessionClient"]
