"""The OpenAPI document, completed: real request bodies, bearer auth, each route's error envelope.

The chat routes read their own bodies (for their size limit and error messages), so FastAPI cannot
see the request models: they are added here, with the responses the server really sends.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from deepseek_free_api.api.anthropic_models import CountTokensRequest, MessagesRequest
from deepseek_free_api.api.openai_models import ChatCompletionRequest
from deepseek_free_api.api.responses_models import ResponsesRequestIn

DESCRIPTION = (
    "The DeepSeek web chat as OpenAI Chat Completions, OpenAI Responses and Anthropic Messages. "
    "Authorize with a service key (or, where the operator allows it, a DeepSeek token) as the bearer "
    'or in `x-api-key`. Errors answer `{"error": {"message", "type", "param", "code"}}`, '
    'except on `/v1/messages`, which answers Anthropic\'s `{"type": "error", "error": {...}}`.'
)

# What the small routes answer (they build their JSON themselves; these only document it).


class Health(BaseModel):
    """``GET /healthz`` answer."""

    status: Literal["ok"]


class Model(BaseModel):
    """One model in OpenAI's format."""

    id: str
    object: str = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: str = "list"
    data: list[Model]


class TokenCheck(BaseModel):
    """``POST /token/check``: the DeepSeek token to check."""

    token: str = Field(min_length=1)


class TokenLiveness(BaseModel):
    """``POST /token/check`` answer."""

    live: bool


class ErrorDetail(BaseModel):
    """The inside of the OpenAI error envelope (for the OpenAPI document)."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """``{"error": {message, type, param, code}}``: every error this server answers."""

    error: ErrorDetail


# Routes that read their own body (for their size limit and error messages) document it here.
_REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/v1/chat/completions", "post"): ChatCompletionRequest,
    ("/token/check", "post"): TokenCheck,
    ("/v1/responses", "post"): ResponsesRequestIn,
    ("/v1/messages", "post"): MessagesRequest,
    ("/v1/messages/count_tokens", "post"): CountTokensRequest,
}
_AUTHORIZED = frozenset(
    {
        ("/v1/chat/completions", "post"),
        ("/token/check", "post"),
        ("/v1/responses", "post"),
        ("/v1/responses/{response_id}", "get"),
        ("/v1/responses/{response_id}", "delete"),
        ("/v1/responses/{response_id}/input_items", "get"),
        ("/v1/messages", "post"),
        ("/v1/messages/count_tokens", "post"),
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


def document_api(openapi: dict[str, Any], *, anonymous: bool = False) -> dict[str, Any]:
    """Complete FastAPI's document: request bodies, auth, the error envelope on every route.

    With anonymous use on (``auth.allow_anonymous``, the demo) a request without credentials is
    served, so the document says the credentials are optional there.
    """
    components = openapi.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    models: list[type[BaseModel]] = [ErrorResponse, *_REQUEST_BODIES.values()]
    # Generated together, so that two dialects' models of one name (MessageIn) get distinct names.
    refs, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    schemas.update(definitions.get("$defs", {}))
    names = {model: refs[(model, "validation")]["$ref"].rsplit("/", 1)[1] for model in models}
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    }
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"x-api-key": []}]
    if anonymous:
        security.append({})
    error = {"description": "Error in the OpenAI envelope", "content": _json(_ref(names[ErrorResponse]))}
    anthropic = {"description": "Error in Anthropic's envelope", "content": _json(_ANTHROPIC_ERROR)}
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            key = (path, method)
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's validation answer; this server never sends it
            responses["default"] = anthropic if path.startswith("/v1/messages") else error
            if key in _REQUEST_BODIES:
                body = _json(_ref(names[_REQUEST_BODIES[key]]))
                operation["requestBody"] = {"required": True, "content": body}
            if key in _AUTHORIZED:
                operation["security"] = security
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


class DocumentedApp(FastAPI):
    """FastAPI whose OpenAPI document is complete (see ``document_api``)."""

    anonymous = False  # set by create_app from auth.allow_anonymous

    def openapi(self) -> dict[str, Any]:
        """The generated document, completed once per routes change."""
        schema = super().openapi()
        if "securitySchemes" not in schema.get("components", {}):
            document_api(schema, anonymous=self.anonymous)
        return schema

    def allowed_methods(self, path: str) -> str:
        """Every method served on ``path``, for a 405's ``Allow`` (Starlette's names only the last
        matching route's). Read from the OpenAPI document, which lists every public route."""
        methods: set[str] = set()
        for template, operations in self.openapi().get("paths", {}).items():
            if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path):
                methods |= {method.upper() for method in operations}
        if "GET" in methods:
            methods.add("HEAD")  # Starlette answers HEAD wherever it answers GET
        return ", ".join(sorted(methods))
