"""The one error tree of the project.

Everything that can go wrong is one of these classes. Upstream envelopes and stream errors are
mapped to them in ``upstream/`` (one table), and they are mapped to HTTP statuses and each public
dialect's error body in ``api/`` (one function per dialect)::

    ServiceError                      base; ``retryable`` says whether another try may succeed
    ├── RequestError                  the caller sent something wrong (400); ``param`` names it
    │   ├── MissingParameterError     a required field is absent (400)
    │   ├── UnsupportedParameterError a field or value this server cannot honour (logprobs, n > 1) (400)
    │   ├── UnsupportedContentError   a content part that cannot reach DeepSeek (image, audio, file) (400)
    │   ├── ModelNotFoundError        unknown model name (404)
    │   ├── PayloadTooLargeError      body over the configured limit (413)
    │   ├── ConversationNotFoundError conversation_id unknown here, or not the caller's (404)
    │   ├── InputTooLongError         prompt above the mode's input_character_limit (413)
    │   └── ModelDisabledError        the mode is switched off upstream (client/settings enabled=false) (400)
    ├── AuthenticationError           missing or wrong service API key / caller token (401)
    ├── PermissionDeniedError         authenticated but not allowed (403)
    │   └── ModelNotAllowedError      a service key's --models leave this model out (403)
    ├── CapacityError                 no account free within the wait budget (429, Retry-After)
    │   └── KeyLimitError             a service key over its rpm, concurrency or tokens per day (429)
    ├── NoUsableAccountError          every server account failed (revoked, banned, login) (503)
    ├── RequestTimeoutError           the whole request took longer than server.request_timeout_s (504)
    ├── ShuttingDownError             the server is stopping; the generation was stopped (503)
    ├── PowError                      proof of work: no answer in range, unknown algorithm
    └── UpstreamError                 DeepSeek (or the path to it) failed (502 unless below)
        ├── InvalidTokenError         token invalid or expired (code 40003/40001/40002, HTTP 401/403)
        ├── InvalidPowError           X-Ds-Pow-Response refused (code 40301)            retryable
        ├── AccountBusyError          "A message is being generated" (one generation per account)  retryable
        ├── ThrottledError            "too frequent" / rate_limit_reached                retryable
        ├── MutedError                biz_code 5, ``mute_until`` (epoch seconds)         retryable elsewhere
        ├── InvalidSessionError       session deleted / expired / unknown                retryable
        │   └── SessionFullError      the conversation reached DeepSeek's length limit (400)
        ├── ContentFilteredError      CONTENT_FILTER before any text could be delivered
        ├── EdgeBlockedError          WAF / Cloudflare / IP block (HTML, 202 + x-amzn-waf-action) (503)
        ├── ClientVersionError        client version too low (40005) / unsupported_client_by_model
        │   └── MissingHeaderError    a header DeepSeek now requires is missing (40300)
        ├── AccountBannedError        40012, login biz_code 10, session create returns no biz_data
        │   └── AccountDisabledError  code 90008: DeepSeek disabled the account
        ├── UpstreamUnreachableError  DNS, refused connection, proxy, TLS: DeepSeek cannot be reached
        ├── UpstreamServerError       HTTP 5xx, generation_err                          retryable
        ├── UpstreamTimeoutError      no byte within the timeout (504)                  retryable
        ├── EmptyAnswerError          stream finished with no answer and no tool call   retryable
        ├── InvalidJsonOutputError    the answer missed response_format, also after one repair round
        └── UpstreamProtocolError     a body we cannot parse (wrong content type, bad JSON)
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error this project raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class RequestError(ServiceError):
    """The caller's request is invalid."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class MissingParameterError(RequestError):
    """A required field of the request is absent (or null)."""


class UnsupportedParameterError(RequestError):
    """A field or value the server cannot honour: refused rather than silently ignored."""


class UnsupportedContentError(RequestError):
    """A message content part (image, audio, file) that cannot be delivered to DeepSeek."""


class ModelNotFoundError(RequestError):
    """The requested model name is not in the catalogue."""

    def __init__(self, model: str) -> None:
        super().__init__(f"The model '{model}' does not exist", param="model", code="model_not_found")
        self.model = model


class PayloadTooLargeError(RequestError):
    """The request body exceeds the configured size limit."""


class ConversationNotFoundError(RequestError):
    """``conversation_id`` names a conversation this server cannot continue for this caller."""


class InputTooLongError(RequestError):
    """The prompt exceeds the model's input character limit."""


class ModelDisabledError(RequestError):
    """DeepSeek has switched the requested mode off (``client/settings``: ``enabled`` false)."""


class AuthenticationError(ServiceError):
    """No or wrong credentials from the caller."""


class PermissionDeniedError(ServiceError):
    """The caller is known but not allowed to do this."""


class ModelNotAllowedError(PermissionDeniedError):
    """The service key may not use the requested model (``keys create --models``)."""

    code = "model_not_allowed"


class CapacityError(ServiceError):
    """No account became free within the wait budget."""


class KeyLimitError(CapacityError):
    """A service key is over one of its limits; ``limit`` names it, ``code`` says which."""

    def __init__(self, message: str, *, limit: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.limit = limit  # rpm, concurrency or tokens_per_day
        self.code = f"{limit}_limit_exceeded"


class NoUsableAccountError(ServiceError):
    """None of the server's own accounts can serve: the caller is not at fault (never a 401)."""


class RequestTimeoutError(ServiceError):
    """The request ran into ``server.request_timeout_s``; its generation was stopped."""


class ShuttingDownError(ServiceError):
    """The server is shutting down; in-flight generations are stopped."""


class PowError(ServiceError):
    """A proof-of-work challenge could not be solved."""


class UpstreamError(ServiceError):
    """DeepSeek, or the way to it, failed."""


class InvalidTokenError(UpstreamError):
    """The DeepSeek token is invalid or expired."""


class InvalidPowError(UpstreamError):
    """DeepSeek refused the proof-of-work answer."""

    retryable = True


class AccountBusyError(UpstreamError):
    """The account is already generating another message."""

    retryable = True


class ThrottledError(UpstreamError):
    """The account sends too often."""

    retryable = True


class MutedError(UpstreamError):
    """The account is muted until ``mute_until`` (epoch seconds)."""

    retryable = True

    def __init__(self, message: str, *, mute_until: float | None = None) -> None:
        super().__init__(message)
        self.mute_until = mute_until


class InvalidSessionError(UpstreamError):
    """The chat session no longer exists upstream."""

    retryable = True


class SessionFullError(InvalidSessionError):
    """The session reached DeepSeek's length limit: nothing more can go on in it (a new one can)."""


class ContentFilteredError(UpstreamError):
    """The answer was replaced by the content filter."""


class EdgeBlockedError(UpstreamError):
    """A WAF or IP block answered instead of DeepSeek."""


class ClientVersionError(UpstreamError):
    """DeepSeek refuses the client version we claim."""


class MissingHeaderError(ClientVersionError):
    """DeepSeek wants a header this server does not send (code 40300): its web app changed."""


class AccountBannedError(UpstreamError):
    """The account or the IP address looks banned."""


class AccountDisabledError(AccountBannedError):
    """DeepSeek disabled the account (code 90008)."""


class UpstreamUnreachableError(UpstreamError):
    """DeepSeek cannot be reached at all (name resolution, connection, proxy, TLS): no account can help."""


class UpstreamServerError(UpstreamError):
    """DeepSeek answered with a server error."""

    retryable = True


class UpstreamTimeoutError(UpstreamError):
    """DeepSeek did not answer in time."""

    retryable = True


class EmptyAnswerError(UpstreamError):
    """The stream finished without any answer text or tool call."""

    retryable = True


class InvalidJsonOutputError(UpstreamError):
    """The model's answer is not the JSON the request's format asks for, also after a repair round."""


class UpstreamProtocolError(UpstreamError):
    """DeepSeek sent something we cannot parse."""
