"""The client's calls on pre-configured curl handles send the bytes curl_cffi's session sent.

Each test runs the same calls with ``DeepSeekClient`` (handles set up once, ``upstream.handles``)
and with ``SessionClient`` (curl_cffi's ``AsyncSession.request`` with the arguments f179a6a
passed) against a raw listener on a real socket, and compares every request byte for byte:
request line, header lines in their order, cookies, body. One handle only (``max_transfers=1``),
so every call reuses the handle of the call before: another account, GET after POST, a proxied
account before a direct one, after an aborted stream, a timeout, a caller that left.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import Any

import pytest

from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.errors import UpstreamTimeoutError, UpstreamUnreachableError
from deepseek_free_api.upstream import wire
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.handles import HandlePool
from deepseek_free_api.upstream.header_lines import HeaderCache
from deepseek_free_api.upstream.persona import Locality, Persona
from deepseek_free_api.upstream.wire import CompletionParams, FileUpload, Identity

from ..support.session_client import SessionClient
from ..support.socks_proxy import SocksProxy
from .listener import COMPLETION, Listener

PERSONA = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
ALPHA = Identity(token="tok-alpha", device_id="device-alpha")
BETA = Identity(token="tok-beta", device_id="device-beta", locality=Locality("de-DE", 3600))
Calls = Callable[[DeepSeekClient, Listener], Awaitable[None]]


async def turn(client: DeepSeekClient, identity: Identity) -> None:
    """A turn's three calls (session, PoW challenge, the completion read to its end), and a GET."""
    session_id = await client.create_session(identity)
    await client.create_pow_challenge(identity, COMPLETION)
    stream = await client.open_completion(identity, CompletionParams(session_id, "Grüß dich"), "pow-header")
    try:
        chunks = [chunk async for chunk in stream]
    finally:
        await stream.aclose()
    assert b"Qx7" in b"".join(chunks)
    await client.current_user(identity)


async def requests(listener: Listener, make: type[DeepSeekClient], calls: Calls) -> list[bytes]:
    """The bytes of each request ``calls`` made with a new client of class ``make`` (one handle)."""
    listener.forget()
    client = make(listener.url, PERSONA, max_transfers=1, connect_timeout=2, request_timeout=0.5)
    try:
        await calls(client, listener)
    finally:
        await client.aclose()
    return [seen.raw for seen in listener.seen]


def same_bytes(calls: Calls, count: int, **stall: Any) -> None:
    """The new path's requests are the session's, byte for byte, and there are ``count``."""

    async def both() -> tuple[list[bytes], list[bytes]]:
        async with Listener(stall=stall) as listener:  # one port: the same Host and Origin
            old = await requests(listener, SessionClient, calls)
            return old, await requests(listener, DeepSeekClient, calls)

    old, new = asyncio.run(asyncio.wait_for(both(), 60))  # a call that never ends fails the test
    assert len(old) == count
    for index, (before, now) in enumerate(zip(old, new, strict=True)):
        shown = f"{before.decode(errors='replace')}\n!=\n{now.decode(errors='replace')}"
        assert now == before, f"request {index}:\n{shown}"


def test_the_calls_of_turns_for_several_accounts_on_one_handle_are_the_sessions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wire.secrets, "token_urlsafe", lambda size: "Ab3-fixed_boundary"[:size])  # one body

    async def calls(client: DeepSeekClient, listener: Listener) -> None:
        await turn(client, ALPHA)  # the first of each account gets its cookie, the next send it
        await turn(client, BETA)  # another account, locale and time zone on the same handle
        answer = await client.raw("GET", "/users/current", None)  # no account: no cookies
        assert answer.status == 200
        await client.raw("POST", "/chat_session/delete", None, json={"chat_session_id": "s"})
        await turn(client, ALPHA)
        await client.login(password="pw", device_id="device-login", email="a@example.com")
        upload = FileUpload('n\u00e4me "1".txt', "text/plain", b"\x00bytes\r\n" * 100)
        assert (await client.upload_file(BETA, upload, "pow-header")).id == "file-1"
        assert (await client.fetch_files(BETA, ["file-1", "file 2,3"]))[0].status == "SUCCESS"

    same_bytes(calls, 4 * 3 + 2 + 1 + 2)


def test_header_lists_kept_per_account_stay_right_when_accounts_are_forgotten() -> None:
    """With room for one account's encoded headers, alternating accounts on one handle forget and
    encode them again each time (a forgotten list still set on the handle lives on until replaced):
    every call still sends the session's bytes."""

    async def calls(client: DeepSeekClient, listener: Listener) -> None:
        client._lines = HeaderCache(client.persona, client.base_url, limit=1)
        for identity in (ALPHA, BETA, ALPHA, BETA):
            await client.create_session(identity)
            await client.create_pow_challenge(identity, COMPLETION)
        await turn(client, ALPHA)

    same_bytes(calls, 8 + 4)


def test_a_proxied_accounts_handle_then_serves_a_direct_one_directly() -> None:
    with SocksProxy() as proxy:
        gamma = Identity(token="tok-gamma", device_id="device-gamma", proxy=proxy.url)
        through: list[int] = []

        async def calls(client: DeepSeekClient, listener: Listener) -> None:
            await turn(client, ALPHA)
            await turn(client, gamma)
            through.append(len(proxy.connections))
            await turn(client, ALPHA)  # alpha's own connection, not one through gamma's proxy
            through.append(len(proxy.connections))

        same_bytes(calls, 12)
    assert through == [1, 1, 2, 2]  # one proxied connection per client, none for alpha after it


def test_a_proxy_that_refuses_fails_its_call_and_not_the_next_accounts() -> None:
    refused = Identity(token="tok-gamma", device_id="device-gamma", proxy="socks5://127.0.0.1:1")

    async def calls(client: DeepSeekClient, listener: Listener) -> None:
        with pytest.raises(UpstreamUnreachableError):
            await client.create_session(refused)
        await turn(client, ALPHA)

    same_bytes(calls, 4)


def test_after_an_aborted_stream_the_handle_sends_the_next_call_as_a_fresh_one() -> None:
    async def calls(client: DeepSeekClient, listener: Listener) -> None:
        stream = await client.open_completion(ALPHA, CompletionParams("session-1", "hi"), "pow-header")
        try:
            async for _ in stream:
                break  # the first bytes came; the rest never will: the owner ends it
        finally:
            await stream.aclose()
        await client.create_session(BETA)
        await client.current_user(ALPHA)

    same_bytes(calls, 3, **{COMPLETION: "stream"})


def test_after_a_timeout_and_a_caller_who_left_the_handle_sends_the_next_call_as_a_fresh_one() -> None:
    async def calls(client: DeepSeekClient, listener: Listener) -> None:
        with pytest.raises(UpstreamTimeoutError):
            await client.current_user(ALPHA)  # the listener never answers users/current
        call = asyncio.ensure_future(client.current_user(BETA))
        while len(listener.seen) < 2:  # sent, and waiting for its answer
            await asyncio.sleep(0.01)
        call.cancel()  # the caller left while the call was on its way
        with contextlib.suppress(asyncio.CancelledError):
            await call
        await turn_without_get(client, ALPHA)

    same_bytes(calls, 5, **{"/api/v0/users/current": "silent"})


async def turn_without_get(client: DeepSeekClient, identity: Identity) -> None:
    session_id = await client.create_session(identity)
    await client.create_pow_challenge(identity, COMPLETION)
    stream = await client.open_completion(identity, CompletionParams(session_id, "hi"), "pow-header")
    try:
        assert b"Qx7" in b"".join([chunk async for chunk in stream])
    finally:
        await stream.aclose()


def test_calls_past_max_transfers_wait_for_a_handle_and_one_that_left_takes_none() -> None:
    async def calls(client: DeepSeekClient, listener: Listener) -> None:
        stream = await client.open_completion(ALPHA, CompletionParams("session-1", "hi"), "pow-header")
        left = asyncio.ensure_future(client.current_user(BETA))
        waiting = asyncio.ensure_future(client.create_session(BETA))
        await asyncio.sleep(0.3)
        assert not left.done() and not waiting.done()  # the stream holds the only handle
        left.cancel()  # the first in line leaves before its turn: nothing of it is sent
        with contextlib.suppress(asyncio.CancelledError):
            await left
        await stream.aclose()
        assert await waiting == "session-1"
        await client.current_user(ALPHA)

    same_bytes(calls, 3, **{COMPLETION: "stream"})


def test_a_handle_handed_to_a_caller_who_left_goes_to_the_next() -> None:
    async def handover() -> None:
        pool = HandlePool(PERSONA.impersonate, "v1", max_handles=1)
        try:
            handle = await pool.take()
            first = asyncio.ensure_future(pool.take())
            second = asyncio.ensure_future(pool.take())
            await asyncio.sleep(0)
            pool.give_back(handle)  # to the first in line...
            first.cancel()  # ...who leaves before it runs: the handle goes on to the second
            assert await second is handle
            assert first.cancelled()
        finally:
            await pool.close()

    asyncio.run(asyncio.wait_for(handover(), 5))


def test_idle_handles_beyond_the_kept_number_are_freed_after_a_while() -> None:
    """After a burst the pool held every handle it had made (1,000 after 1,000 streams, each with
    ~30 KB of libcurl's memory) for good; now it keeps ``idle_keep`` of them, the warmest."""

    async def burst_then_idle() -> None:
        pool = HandlePool(PERSONA.impersonate, "v1", max_handles=10, idle_keep=2, idle_trim_s=0.05)
        try:
            handles = [await pool.take() for _ in range(5)]
            for handle in handles:
                pool.give_back(handle)
            assert pool.made == 5  # not at once: a burst's handles are taken again right away
            await asyncio.sleep(0.2)
            assert pool.made == 2
            kept = {await pool.take(), await pool.take()}
            assert kept == set(handles[-2:])  # the last released: their connections the warmest
            assert all(handle.curl._curl is None for handle in handles[:3])  # freed in libcurl
            third = await pool.take()  # made again when needed
            assert third not in handles and pool.made == 3
        finally:
            await pool.close()

    asyncio.run(asyncio.wait_for(burst_then_idle(), 5))


def test_a_closed_pool_frees_nothing_twice() -> None:
    async def close_before_the_trim() -> None:
        pool = HandlePool(PERSONA.impersonate, "v1", max_handles=10, idle_keep=0, idle_trim_s=0.05)
        handle = await pool.take()
        pool.give_back(handle)
        await pool.close()  # frees the idle handle and the trim with it
        await asyncio.sleep(0.1)
        assert handle.curl._curl is None

    asyncio.run(asyncio.wait_for(close_before_the_trim(), 5))
