"""ASGI wiring: build every part from Settings in the lifespan, mount the routers, map errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from deepseek_free_api import __version__
from deepseek_free_api.accounts import Account, AccountPool
from deepseek_free_api.api import anthropic_messages, misc, openai_chat, responses_api
from deepseek_free_api.api.anthropic_models import ClaudeModels
from deepseek_free_api.api.auth import resolve_caller
from deepseek_free_api.api.edge import Drain
from deepseek_free_api.api.errors import ErrorResponse, http_error_response, openai_error_response
from deepseek_free_api.api.openai_models import ChatCompletionRequest
from deepseek_free_api.api.origin import OriginGuard, origin_policy
from deepseek_free_api.api.responses_models import ResponsesRequestIn, gpt_model_from_settings
from deepseek_free_api.api.state import Core, OutputOptions
from deepseek_free_api.chat.conversations import ConversationBook
from deepseek_free_api.chat.failover import ChatRunner, FailoverPolicy
from deepseek_free_api.chat.files import AttachmentUploader
from deepseek_free_api.chat.responses_store import MemoryResponseStore
from deepseek_free_api.chat.tokens import LazyTokenCounter
from deepseek_free_api.chat.turn import TurnPolicy, TurnRunner
from deepseek_free_api.chat.warm import WarmAccounts
from deepseek_free_api.config import AccountConfig, Settings, device_id_for, mask_secret, token_identity
from deepseek_free_api.errors import InvalidTokenError, RequestError, ServiceError
from deepseek_free_api.upstream.client import DeepSeekClient, Identity
from deepseek_free_api.upstream.persona import Persona

log = logging.getLogger(__name__)


def build_account(config: AccountConfig, device_salt: str) -> Account:
    """A pool account from its configuration, with its own stable device id."""
    device_id = device_id_for(config.identity, device_salt)
    if config.password and (config.email or config.mobile):
        return Account.from_credentials(
            password=config.password,
            email=config.email,
            mobile=config.mobile,
            area_code=config.area_code,
            name=config.name,
            token=config.token,
            device_id=device_id,
        )
    assert config.token
    return Account.from_token(config.token, name=config.name, device_id=device_id)


def persona_of(settings: Settings) -> Persona:
    """The upstream persona from the settings (the same fields, minus the device salt)."""
    return Persona(**{f.name: getattr(settings.persona, f.name) for f in fields(Persona)})


def create_app(settings: Settings) -> FastAPI:
    """The ASGI application; nothing connects or loads until its lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = DeepSeekClient(
            settings.upstream.base_url,
            persona_of(settings),
            connect_timeout=settings.upstream.connect_timeout_s,
            request_timeout=settings.upstream.request_timeout_s,
            idle_timeout=settings.upstream.stream_idle_timeout_s,
        )

        async def login(account: Account) -> str:
            assert account.password
            return await client.login(
                password=account.password,
                email=account.email,
                mobile=account.mobile,
                area_code=account.area_code,
                device_id=account.device_id,
            )

        salt = settings.persona.device_salt
        accounts = [build_account(config, salt) for config in settings.accounts]
        pool = AccountPool(
            accounts,
            max_waiters=settings.pool.max_waiters,
            wait_timeout_s=settings.pool.wait_timeout_s,
            min_interval_s=settings.pool.min_interval_s,
            login=login,
            device_salt=salt,
        )

        def identity_of(account_id: str) -> Identity | None:
            account = pool.get(account_id)
            if account is None or not account.token:
                return None
            return Identity(token=account.token, device_id=account.device_id)

        # With session_delete = "delete" nothing may be left upstream, not even an empty session.
        warmth = WarmAccounts(client, identity_of, sessions=settings.chat.session_delete != "delete")
        pool.subscribe(warmth.forget)  # removed, evicted or a new token: its session and PoW go
        runner = ChatRunner(
            pool,
            TurnRunner(
                client,
                warmth,
                LazyTokenCounter(),
                TurnPolicy(
                    continue_max_rounds=settings.chat.continue_max_rounds,
                    delete_sessions=settings.chat.session_delete == "delete",
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
            ),
            ConversationBook(pool.devices),
            FailoverPolicy(
                max_attempts=settings.retry.max_attempts,
                backoff_s=settings.retry.backoff_initial_s,
                backoff_max_s=settings.retry.backoff_max_s,
            ),
        )
        caller = partial(
            resolve_caller,
            api_keys=settings.auth.api_keys,
            allow_anonymous=settings.auth.allow_anonymous,
            has_server_accounts=bool(accounts),
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

        app.state.responses_store = MemoryResponseStore()
        app.state.core = Core(
            runner=runner,
            caller=caller,
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
        for account in accounts:
            if account.token:  # accounts that must log in first warm up on their first lease
                warmth.warm(account.id)
        log.info(
            "serving %d server account(s) via %s; service keys: %s",
            len(settings.accounts),
            settings.upstream.base_url,
            ", ".join(mask_secret(key) for key in settings.auth.api_keys) or "none",
        )
        try:
            yield
        finally:
            await warmth.aclose()
            await client.aclose()

    drain = Drain()
    app = _App(title="deepseek-free-api", version=__version__, lifespan=lifespan, description=_DESCRIPTION)
    app.state.drain = drain
    app.state.claude_models = ClaudeModels.from_settings(settings.chat)  # a wrong name fails at startup
    app.state.gpt_model = gpt_model_from_settings(settings.chat)  # checked at startup too
    # Outermost: foreign Host/Origin values are refused before anything else runs (api/origin.py).
    app.add_middleware(OriginGuard, policy=origin_policy(settings))
    app.include_router(openai_chat.router)
    app.include_router(anthropic_messages.router)
    app.include_router(responses_api.router)
    app.include_router(misc.router)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return openai_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        # Unknown routes and wrong methods answer in the OpenAI envelope, not {"detail": …}.
        assert isinstance(exc, StarletteHTTPException)
        return http_error_response(exc.status_code, request.method, request.url.path, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: Exception) -> Response:
        # Routes read their own bodies; this only guards a framework-validated parameter.
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(part) for part in first.get("loc", ())) or None
        return openai_error_response(RequestError(f"Invalid '{param}': {first.get('msg')}", param=param))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: Exception) -> Response:
        # The client closed the connection while sending its body: nobody is left to answer, and a
        # traceback per dropped client would let anyone flood the log.
        log.debug(
            "client %s went away while sending %s %s", _client(request), request.method, request.url.path
        )
        return Response(status_code=499)  # nginx's "client closed request"; never delivered

    return app


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "unknown"


_DESCRIPTION = (
    "The DeepSeek web chat as OpenAI-compatible APIs. Authorize with a service key (or, where the "
    "operator allows it, a DeepSeek token) as the bearer. Every error answers "
    '`{"error": {"message", "type", "param", "code"}}`.'
)

# Routes that read their own body (for their size limit and error messages) document it here.
_REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/v1/chat/completions", "post"): ChatCompletionRequest,
    ("/token/check", "post"): misc.TokenCheck,
    ("/v1/responses", "post"): ResponsesRequestIn,
}
_AUTHORIZED = frozenset(
    {
        ("/v1/chat/completions", "post"),
        ("/token/check", "post"),
        ("/v1/responses", "post"),
        ("/v1/responses/{response_id}", "get"),
    }
)
_CHAT_ERRORS = {
    "400": "Invalid request (`param` names the field)",
    "401": "Missing or wrong service key, or DeepSeek rejected the token",
    "404": "Unknown model or conversation",
    "413": "Body larger than server.max_body_bytes",
    "429": "No free account, muted or throttled (Retry-After)",
    "502": "DeepSeek failed",
    "503": "Blocked upstream, no usable account, or shutting down",
    "504": "DeepSeek or the whole request timed out",
}
_COMPLETION = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object"}},
        "usage": {"type": "object"},
    },
}

# With OpenAPI 3.1 the schema of an event stream describes one event.
_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "description": 'A chat.completion.chunk as JSON, {"error": {...}} after a failure, or [DONE]',
        }
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


# {"type": "error", "error": {"type", "message"}}: what /v1/messages answers on errors.
_ANTHROPIC_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}


def document_api(openapi: dict[str, Any]) -> dict[str, Any]:
    """Complete FastAPI's document: request bodies, bearer auth, the error envelope on every route."""
    components = openapi.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    models: list[type[BaseModel]] = [ErrorResponse, *_REQUEST_BODIES.values()]
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    error = {"description": "Error in the OpenAI envelope", "content": _json(_ref("ErrorResponse"))}
    anthropic = {"description": "Error in Anthropic's envelope", "content": _json(_ANTHROPIC_ERROR)}
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            key = (path, method)
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's validation answer; this server never sends it
            responses["default"] = anthropic if path.startswith("/v1/messages") else error
            if key in _REQUEST_BODIES:
                body = _json(_ref(_REQUEST_BODIES[key].__name__))
                operation["requestBody"] = {"required": True, "content": body}
            if key in _AUTHORIZED:
                operation["security"] = [{"bearer": []}]
    chat = openapi["paths"]["/v1/chat/completions"]["post"]
    chat["responses"]["200"] = {
        "description": "A chat.completion, or with stream=true chat.completion.chunk events (SSE)",
        "content": {**_json(_COMPLETION), "text/event-stream": {"schema": _EVENT}},
    }
    for status, description in _CHAT_ERRORS.items():
        chat["responses"][status] = {**error, "description": description}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return openapi


class _App(FastAPI):
    """FastAPI whose OpenAPI document is complete (see ``document_api``)."""

    def openapi(self) -> dict[str, Any]:
        """The generated document, completed once per routes change."""
        schema = super().openapi()
        if "securitySchemes" not in schema.get("components", {}):
            document_api(schema)
        return schema
