"""ASGI wiring: build every part from Settings in the lifespan, mount the routers, map errors."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from deepseek_free_api.accounts import Account, AccountPool, AccountState, account_from_config
from deepseek_free_api.api import admin
from deepseek_free_api.api.auth import CallerResolver
from deepseek_free_api.api.client_address import ClientAddressMiddleware, TrustedProxies
from deepseek_free_api.api.dispatch import EdgeApp, LazyApp
from deepseek_free_api.api.edge import Drain
from deepseek_free_api.api.failures import exception_handlers
from deepseek_free_api.api.limits import KeyGate
from deepseek_free_api.api.model_names import ClaudeModels, gpt_model_from_settings
from deepseek_free_api.api.ops import install as install_ops
from deepseek_free_api.api.ops.meters import MeteredLeases, MeteredRunner, TimedWarmth
from deepseek_free_api.api.origin import OriginGuard, origin_policy
from deepseek_free_api.api.routes import ROUTES
from deepseek_free_api.api.state import Core, OutputOptions
from deepseek_free_api.canary import CanaryRunner, start_schedule, stop_schedule
from deepseek_free_api.chat.conversations import ConversationBook
from deepseek_free_api.chat.failover import ChatRunner, FailoverPolicy
from deepseek_free_api.chat.files import AttachmentUploader
from deepseek_free_api.chat.generation import UnconfirmedStop, send_stop
from deepseek_free_api.chat.modes import ModeBook, ModeCatalogue
from deepseek_free_api.chat.parking import Parking
from deepseek_free_api.chat.resume import ResumePolicy
from deepseek_free_api.chat.tokens import LazyTokenCounter
from deepseek_free_api.chat.turn import TurnPolicy, TurnRunner
from deepseek_free_api.chat.warm import WarmAccounts
from deepseek_free_api.config import Settings, device_id_for, mask_secret, token_identity
from deepseek_free_api.errors import InvalidTokenError
from deepseek_free_api.heap import IdleTrim
from deepseek_free_api.stores import Orphan, ResponseLimits, ReuseLimits, StoreOptions, Stores, open_stores
from deepseek_free_api.upstream.client import DeepSeekClient, Identity
from deepseek_free_api.upstream.wire import locality_of

if TYPE_CHECKING:
    from deepseek_free_api.api.openapi import DocumentedApp

log = logging.getLogger(__name__)

WARM_AT_START = (AccountState.FREE, AccountState.PACING, AccountState.BUSY)


async def log_in(client: DeepSeekClient, account: Account) -> str:
    """A fresh token for a login account (through its own proxy, if it has one)."""
    assert account.password
    return await client.login(
        password=account.password,
        email=account.email,
        mobile=account.mobile,
        area_code=account.area_code,
        device_id=account.device_id,
        proxy=account.proxy,
        locality=locality_of(account),
    )


async def stop_orphan(client: DeepSeekClient, account: Account, orphan: Orphan) -> bool:
    """Stop the generation a killed process left on ``account``; False if DeepSeek did not confirm."""
    if orphan.message_id is None or not account.token:
        return True  # nothing known to stop: a generation still running is refused as busy (§2.6)
    identity = Identity.of(account)
    try:
        await send_stop(
            client, UnconfirmedStop(identity, orphan.session_id, orphan.message_id, time.monotonic())
        )
    except Exception as exc:  # noqa: BLE001 - the account stays out until the next holder tries again
        log.warning("stop_stream for the orphaned message %d failed: %s", orphan.message_id, exc)
        return False
    return True


def input_limits(settings: Settings) -> dict[str, int]:
    """The configured input limits per mode (0 = DeepSeek's own, from client/settings)."""
    chat = settings.chat
    return {
        "default": chat.input_limit_default,
        "expert": chat.input_limit_expert,
        "vision": chat.input_limit_vision,
    }


def store_options(settings: Settings) -> StoreOptions:
    """The stores' bounds from the settings (``store.responses_*``)."""
    store = settings.store
    return StoreOptions(
        responses=ResponseLimits(
            max_count=store.responses_max_count,
            max_bytes=store.responses_max_bytes,
            max_per_owner=store.responses_max_per_owner,
            ttl_s=store.responses_ttl_s,
        ),
        reuse=ReuseLimits(
            max_count=settings.chat.session_reuse_max_count, ttl_s=settings.chat.session_reuse_ttl_s
        ),
    )


def create_app(settings: Settings, *, stores: Stores | None = None) -> Starlette:
    """The ASGI application; nothing connects or loads until its lifespan starts.

    ``stores`` is the state that outlives a request (``stores/``); by default the lifespan opens
    the one ``store.url`` names (the SQLite file in ``server.data_dir``) and closes it at the end.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as opened:
            state = stores
            if state is None:
                state = await open_stores(
                    settings.store.url, settings.server.data_dir, options=store_options(settings)
                )
                opened.push_async_callback(state.aclose)
            app.state.stores = state
            log.info("state store: %s", state.location.describe())
            async with _serving(app, state):
                yield

    @asynccontextmanager
    async def _serving(app: Starlette, stores: Stores) -> AsyncIterator[None]:
        client = DeepSeekClient.from_settings(settings, on_call=ops.metrics.upstream_call)

        salt = settings.persona.device_salt
        accounts = [account_from_config(config, salt) for config in settings.accounts]
        pool = AccountPool(
            max_waiters=settings.pool.max_waiters,
            wait_timeout_s=settings.pool.wait_timeout_s,
            min_interval_s=settings.pool.min_interval_s,
            max_generations_per_hour=settings.pool.max_generations_per_hour,
            login_concurrency=settings.pool.prepare_concurrency,
            lease_ttl_s=settings.pool.lease_ttl_s,
            max_caller_accounts=settings.auth.max_caller_accounts,
            login=partial(log_in, client),
            stop_orphan=partial(stop_orphan, client),
            device_salt=salt,
            leases=app.state.stores.leases,
            records=app.state.stores.accounts,
            rates=app.state.stores.rates,
        )
        await pool.load(accounts)  # the configured accounts merged with those the store keeps

        def identity_of(account_id: str) -> Identity | None:
            account = pool.get(account_id)
            if account is None or not account.token:
                return None
            return Identity.of(account)

        # With session_delete = "delete" nothing may be left upstream, not even an empty session.
        warmth = WarmAccounts(
            client,
            identity_of,
            sessions=settings.chat.session_delete != "delete",
            concurrency=settings.pool.prepare_concurrency,
        )
        pool.subscribe(warmth.forget)  # removed, evicted or a new token: its session and PoW go
        parking = Parking(client, generation_max_s=settings.upstream.generation_max_s)
        ops.pool = pool
        modes = ModeBook(client, overrides=input_limits(settings))
        app.state.modes = ModeCatalogue(modes, pool, identity_of)  # /v1/models leaves out modes switched off
        runner = ChatRunner(
            MeteredLeases(pool, ops.metrics),
            TurnRunner(
                client,
                TimedWarmth(warmth, ops.metrics),
                LazyTokenCounter(),
                TurnPolicy(
                    continue_max_rounds=settings.chat.continue_max_rounds,
                    delete_sessions=settings.chat.session_delete == "delete",
                    long_input=settings.chat.long_input,
                ),
                AttachmentUploader(
                    client,
                    warmth,
                    remote_urls=settings.files.remote_urls,
                    max_bytes=settings.files.max_bytes,
                    max_count=settings.files.max_count,
                    fetch_timeout_s=settings.files.fetch_timeout_s,
                    parse_timeout_s=settings.files.parse_timeout_s,
                ),
                modes,
            ),
            ConversationBook(pool.devices, stores.conversations),
            FailoverPolicy(
                max_attempts=settings.retry.max_attempts,
                backoff_s=settings.retry.backoff_initial_s,
                backoff_max_s=settings.retry.backoff_max_s,
            ),
            parking,
            ResumePolicy(
                enabled=settings.chat.session_delete != "delete",
                wait_s=settings.chat.resume_wait_s,
                reuse=settings.chat.session_reuse,
                max_tokens=settings.chat.session_reuse_max_tokens,
            ),
            stores.reuse,
            on_reuse=ops.metrics.session_reuse,
        )
        caller = CallerResolver(
            stores.keys,
            api_keys=settings.auth.api_keys,
            allow_anonymous=settings.auth.allow_anonymous,
            has_server_accounts=len(pool) > 0,
            caller_tokens=settings.auth.caller_tokens,
        )

        async def check_token(token: str) -> bool:
            try:
                await client.current_user(
                    Identity(token=token, device_id=device_id_for(token_identity(token), salt))
                )
            except InvalidTokenError:
                return False
            return True

        app.state.core = Core(
            runner=MeteredRunner(runner),
            caller=caller,
            gate=KeyGate(stores.rates, stores.usage, request_timeout_s=settings.server.request_timeout_s),
            check_token=check_token,
            output=OutputOptions(
                reasoning_output=settings.chat.reasoning_output,
                search_sources_text=settings.chat.search_sources_text,
            ),
            max_body_bytes=settings.server.max_body_bytes,
            keepalive_s=settings.server.keepalive_interval_s,
            request_timeout_s=settings.server.request_timeout_s,
            drain=drain,
        )
        for status in await pool.snapshot():
            account = pool.get(status.id)
            # Accounts that must log in warm up on their first lease; muted or invalid ones (the
            # store remembers) are left alone until they are due.
            if account is not None and account.token and status.state in WARM_AT_START:
                warmth.warm(status.id)
        log.info(
            "serving %d server account(s) via %s; service keys: %s",
            len(pool),
            settings.upstream.base_url,
            ", ".join(mask_secret(key) for key in settings.auth.api_keys) or "none",
        )
        log.info("/metrics and /readyz: %s", ops.guard.describe())
        app.state.canary = canary = CanaryRunner(stores, client, settings, on_result=ops.metrics.canary)
        schedule = start_schedule(
            canary, pool, stores, settings.upstream.canary_interval_s, wait_s=settings.pool.wait_timeout_s
        )
        try:
            async with pool:
                yield
        finally:
            await stop_schedule(schedule)
            await parking.aclose()
            await warmth.aclose()
            await client.aclose()

    drain = Drain(IdleTrim())  # the C heap's free pages go back once no turn runs

    def build_api() -> DocumentedApp:
        from deepseek_free_api.api.documented import build_api  # FastAPI, on the first request for it

        return build_api(settings, app.state, handlers)

    async def allowed_methods(path: str) -> str:
        return (await api.ready()).allowed_methods(path)

    api: LazyApp[DocumentedApp] = LazyApp(build_api)
    handlers = exception_handlers(allowed_methods)
    app = EdgeApp(
        ROUTES,
        api,
        lifespan=lifespan,
        exception_handlers=handlers,
        body_limit=settings.server.max_body_bytes,
    )
    app.state.drain = drain
    app.state.claude_models = ClaudeModels.from_settings(settings.chat)  # a wrong name fails at startup
    app.state.gpt_model = gpt_model_from_settings(settings.chat)  # checked at startup too
    app.state.hosted_web_search = settings.chat.hosted_web_search == "search"
    if settings.server.trusted_proxies:  # who the client is, as the operator's proxies say
        app.add_middleware(ClientAddressMiddleware, proxies=TrustedProxies(settings.server.trusted_proxies))
    # Outermost: foreign Host/Origin values are refused before anything else runs (api/origin.py).
    app.add_middleware(OriginGuard, policy=origin_policy(settings))
    ops = install_ops(app, settings)  # its access log goes outside the guard: refusals are logged
    admin.announce(settings)
    return app
