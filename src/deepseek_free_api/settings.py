"""The settings values and the rules for secrets; ``config`` loads them from file, env and flags.

Each section is a frozen dataclass whose fields carry their defaults and allowed ranges
(``_min``); the table of every setting with its environment variable is in ``config``'s docstring.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# Tokens and keys end up in HTTP headers: printable ASCII without spaces, and a sane length.
MAX_TOKEN_LENGTH = 4096

Platform = Literal["web", "android"]
# An account's own X-Client-Timezone-Offset: seconds east of UTC, or "auto" (this machine's).
TimezoneOffset = int | Literal["auto"]
MAX_TIMEZONE_OFFSET = 50400  # UTC+14 (Kiribati) and UTC-12 fit with room; a larger one is a typo
LogLevel = Literal["debug", "info", "warning", "error", "critical"]

# Persona defaults per platform (docs/PROTOCOL.md §1.4). Web: X-Client-Version 2.5.0 is what the web app
# sent 2026-07 -> 09; Android: 2.0.4 (2026-05-01, DS2-go), needed for expert/vision.
_CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/145.0.0.0 Safari/537.36"
)
PERSONA_DEFAULTS: dict[str, dict[str, Any]] = {
    "web": {
        "client_version": "2.5.0",
        "app_version": "20241129.1",
        "user_agent": _CHROME_UA,
        "impersonate": "chrome145",
    },
    "android": {
        "client_version": "2.0.4",
        "app_version": "",
        "user_agent": "DeepSeek/2.0.4 Android/35",
        "impersonate": "chrome131_android",
    },
}


class ConfigError(ValueError):
    """A setting is unknown or has a bad value; ``key`` names it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"setting '{key}': {problem}")
        self.key = key


def _min(value: float, *, maximum: float | None = None) -> dict[str, Any]:
    """Field metadata: the allowed range of a number."""
    return {"min": value, "max": maximum}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The listening HTTP server."""

    host: str = "127.0.0.1"
    port: int = field(default=8000, metadata=_min(1, maximum=65535))
    max_body_bytes: int = field(default=8 * 1024 * 1024, metadata=_min(1))
    keepalive_interval_s: float = field(default=10.0, metadata=_min(0.05))
    request_timeout_s: float = field(default=600.0, metadata=_min(1))
    # Web page origins (``https://app.example``, or ``*``) allowed to call the server from a
    # browser; empty = any, except while anonymous use is on (then only the server's own pages).
    cors_origins: tuple[str, ...] = ()
    # Extra ``Host`` names to answer to; loopback names and the bind address always pass. Checked
    # while anonymous use is on (DNS rebinding), and always once set. See ``api/origin.py``.
    allowed_hosts: tuple[str, ...] = ()
    # Addresses or networks (``10.0.0.0/8``) of reverse proxies whose X-Forwarded-For / Forwarded
    # name the client; from any other peer those headers are ignored. See ``api/client_address.py``.
    trusted_proxies: tuple[str, ...] = field(default=(), metadata={"networks": True})
    # Where state that outlives the process lives by default (the SQLite store); created 0700.
    data_dir: str = "./data"
    # Hostile connections (``net/``): deadlines for a request's headers and body, idle keep-alive,
    # and a cap on open connections kept below the open-file limit minus ``reserved_fds``.
    header_timeout_s: float = field(default=10.0, metadata=_min(0.5))
    body_timeout_s: float = field(default=10.0, metadata=_min(0.5))
    body_min_rate: int = field(default=16 * 1024, metadata=_min(1))
    idle_timeout_s: float = field(default=20.0, metadata=_min(0.5))
    max_connections: int = field(default=4096, metadata=_min(1))
    reserved_fds: int = field(default=256, metadata=_min(0))
    # "auto": uvicorn's httptools parser when installed (a dependency on Linux), else h11; "h11"
    # keeps the pure-Python parser. net/httptools_connection.py lists where they differ.
    http_parser: Literal["auto", "h11"] = "auto"
    # /metrics and /readyz answer loopback callers without a key and others with an admin key;
    # true opens them to everyone (a private network, or a proxy that guards them itself).
    public_metrics: bool = False
    # "json": one JSON object per log line, for log collectors (flag --log-format).
    log_format: Literal["text", "json"] = "text"


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """Where DeepSeek is and how long to wait for it."""

    base_url: str = "https://chat.deepseek.com"
    connect_timeout_s: float = field(default=10.0, metadata=_min(0.1))
    request_timeout_s: float = field(default=30.0, metadata=_min(0.1))
    stream_idle_timeout_s: float = field(default=120.0, metadata=_min(0.1))
    # The most of a non-streamed answer read (JSON calls: login, session, PoW, uploads): past it the
    # transfer is cut as the bytes arrive. A stream pauses its transfer while more than
    # stream_buffer_bytes wait for a slow client.
    max_answer_bytes: int = field(default=4 * 1024 * 1024, metadata=_min(64 * 1024))
    stream_buffer_bytes: int = field(default=64 * 1024, metadata=_min(1024))
    # The longest a generation may run (assumed): an account whose stop_stream failed stays parked so long.
    generation_max_s: float = field(default=600.0, metadata=_min(1))
    # The drift canary: each server account checked once per interval, spread over it (0: off).
    canary_interval_s: float = field(default=3600.0, metadata=_min(0))
    canary_completion: bool = False  # also a one-token completion (one generation per account and run)


@dataclass(frozen=True, slots=True)
class PersonaSettings:
    """The client we claim to be (docs/PROTOCOL.md §1.4); a version bump is a config change, not code."""

    platform: Platform = "web"
    client_version: str = PERSONA_DEFAULTS["web"]["client_version"]
    app_version: str = PERSONA_DEFAULTS["web"]["app_version"]
    user_agent: str = _CHROME_UA
    locale: str = field(default="zh_CN", metadata={"locale": True})
    # Seconds east of UTC, as the web app sends it; None: this machine's (the browser the account
    # is used from is usually on the same machine, or in the same place).
    timezone_offset: int | None = field(
        default=None, metadata=_min(-MAX_TIMEZONE_OFFSET, maximum=MAX_TIMEZONE_OFFSET)
    )
    bundle_id: str = "com.deepseek.chat"
    impersonate: str = PERSONA_DEFAULTS["web"]["impersonate"]
    device_salt: str = field(default="", repr=False, metadata={"secret": True})


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Who may use the server-side accounts."""

    api_keys: tuple[str, ...] = field(default=(), repr=False, metadata={"secret": True, "token": True})
    allow_anonymous: bool = False
    # With service keys configured, a bearer that is not a key is refused (a mistyped key must not
    # reach DeepSeek as an account token) unless the operator opts in to callers' own tokens.
    caller_tokens: bool = False
    # Keys for the operator's endpoints (/metrics, /readyz from another machine); never service keys.
    admin_keys: tuple[str, ...] = field(default=(), repr=False, metadata={"secret": True, "token": True})
    # Accounts made from callers' own tokens, at most (a hard cap: idle ones are evicted least
    # recently used first; when all are leased or awaited, a new caller gets 429).
    max_caller_accounts: int = field(default=1000, metadata=_min(1, maximum=1_000_000))


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where leases, account state, service keys, usage, conversations and stored responses live."""

    # empty = the SQLite file in server.data_dir; or memory://, sqlite:///PATH, redis://HOST:PORT/DB.
    # A Redis URL may carry a password: hidden like the other secrets.
    url: str = field(default="", repr=False, metadata={"secret": True})
    # Stored OpenAI responses (previous_response_id, GET /v1/responses/{id}): bounded in count and
    # bytes (records hold no attachment bytes, only DeepSeek file ids), per Principal, and in time.
    responses_max_count: int = field(default=1024, metadata=_min(1))
    responses_max_bytes: int = field(default=64 * 1024 * 1024, metadata=_min(1))
    responses_max_per_owner: int = field(default=256, metadata=_min(1))
    responses_ttl_s: float = field(default=30 * 86400.0, metadata=_min(1))


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """The account pool's queue and pacing."""

    max_waiters: int = field(default=64, metadata=_min(0))
    wait_timeout_s: float = field(default=30.0, metadata=_min(0))
    min_interval_s: float = field(default=1.0, metadata=_min(0))
    # Generations per account in any one hour, counted in the store across processes (0 = no quota).
    max_generations_per_hour: int = field(default=0, metadata=_min(0))
    # Upstream calls at once that prepare accounts rather than answer (logins, sessions and proofs
    # of work made ahead, clean-up): a start with many accounts is no burst.
    prepare_concurrency: int = field(default=2, metadata=_min(1, maximum=64))
    # A lease on an account lives this long unless renewed (every third of it while a turn runs):
    # the longest an account stays blocked after the process holding it was killed.
    lease_ttl_s: float = field(default=30.0, metadata=_min(1, maximum=3600))


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Retries and fail-over on retryable upstream errors before the first byte."""

    max_attempts: int = field(default=3, metadata=_min(1))
    backoff_initial_s: float = field(default=0.5, metadata=_min(0))
    backoff_max_s: float = field(default=4.0, metadata=_min(0))


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """Chat behaviour and output options."""

    continue_max_rounds: int = field(default=8, metadata=_min(0))
    search_sources_text: bool = True
    reasoning_output: Literal["reasoning_content", "think_tags"] = "reasoning_content"
    session_delete: Literal["keep", "delete"] = "keep"
    # Anthropic Messages: the DeepSeek model that answers for each Claude family (claude-*-opus-*, …).
    claude_opus_model: str = "deepseek-v4-pro"
    claude_sonnet_model: str = "deepseek-v4-flash"
    claude_haiku_model: str = "deepseek-chat"
    # OpenAI Responses: the DeepSeek model that answers for OpenAI's own gpt-* names. Codex offers
    # its apply_patch tool only for model names it knows (-m gpt-5.5, seen 2026-11-30 with 0.171).
    gpt_model: str = "deepseek-v4-flash"
    # OpenAI Responses: whether a declared hosted ``web_search`` tool switches DeepSeek's search on.
    # Codex declares one on every request; "ignore" leaves search to the -search suffix and to a
    # tool_choice that names web_search.
    hosted_web_search: Literal["ignore", "search"] = "ignore"
    # A prompt over its mode's input limit (DeepSeek's client/settings, or the limits below when not
    # 0): "file" sends it as the web app does (history as an uploaded file), "refuse" is a 413.
    long_input: Literal["file", "refuse"] = "file"
    input_limit_default: int = field(default=0, metadata=_min(0))
    input_limit_expert: int = field(default=0, metadata=_min(0))
    input_limit_vision: int = field(default=0, metadata=_min(0))
    # A follow-up on a session the server kept (a stored Response, a reused agent session) waits
    # this long for that session's account; past it the history is replayed in a new session.
    resume_wait_s: float = field(default=10.0, metadata=_min(0))
    # Agents send the whole history every turn: a request extending a conversation this server
    # answered for the same caller goes on in that DeepSeek session with only its new turn
    # (``chat.reuse``); a session past ``session_reuse_max_tokens`` is replaced by a new one.
    session_reuse: bool = True
    session_reuse_max_tokens: int = field(default=200_000, metadata=_min(1))
    session_reuse_ttl_s: float = field(default=86400.0, metadata=_min(1))
    session_reuse_max_count: int = field(default=10_000, metadata=_min(1))


@dataclass(frozen=True, slots=True)
class FilesSettings:
    """Images and files sent with messages (``chat.files``): limits, and whether URLs are fetched."""

    # Off: an ``image_url``/``file_url`` that is not a data URL is a 400. On: http(s) URLs are
    # fetched by the server, never from private, loopback or link-local addresses (SSRF).
    remote_urls: bool = False
    max_bytes: int = field(default=10 * 1024 * 1024, metadata=_min(1))
    max_count: int = field(default=10, metadata=_min(1))
    fetch_timeout_s: float = field(default=10.0, metadata=_min(0.1))
    parse_timeout_s: float = field(default=60.0, metadata=_min(0.1))


@dataclass(frozen=True, slots=True, repr=False)
class AccountConfig:
    """A server-side DeepSeek account: a token, or e-mail/mobile and password to log in with."""

    name: str | None = None
    token: str | None = field(default=None, repr=False)
    email: str | None = None
    mobile: str | None = None
    area_code: str | None = None
    password: str | None = field(default=None, repr=False)
    proxy: str | None = field(default=None, repr=False)  # http(s):// or socks5:// URL for this account
    # The account's own X-Client-Locale / Accept-Language and X-Client-Timezone-Offset (None:
    # persona.locale and persona.timezone_offset): accounts used from different places say so.
    locale: str | None = None
    timezone_offset: TimezoneOffset | None = None

    @property
    def identity(self) -> str:
        """Stable identity of the account (survives token refresh when a login is configured)."""
        if self.email:
            return "email:" + self.email.lower()
        if self.mobile:
            return f"mobile:{self.area_code or ''}{self.mobile}"
        return token_identity(self.token or "")

    @property
    def label(self) -> str:
        """A name safe to log: never the token."""
        if self.name or self.email or self.mobile:
            return self.name or self.email or self.mobile or ""
        return "token-" + hashlib.sha256((self.token or "").encode()).hexdigest()[:8]

    def __repr__(self) -> str:
        kind = "token" if self.token else "login"
        return f"AccountConfig({self.label!r}, {kind})"  # never the token or password


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings of one server process."""

    server: ServerSettings = field(default_factory=ServerSettings)
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    persona: PersonaSettings = field(default_factory=PersonaSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    files: FilesSettings = field(default_factory=FilesSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    accounts: tuple[AccountConfig, ...] = ()
    log_level: LogLevel = "info"
    demo: bool = False
    # Things worth a log line at startup, e.g. an unknown DEEPSEEK_FREE_API_* variable (a typo?).
    warnings: tuple[str, ...] = ()


def token_problem(value: str) -> str | None:
    """Why ``value`` cannot be a token or key, or ``None`` if it can (the text never quotes it).

    Tokens travel in HTTP headers: a CR/LF would add headers, a non-Latin-1 character cannot be
    sent at all, so only printable ASCII without spaces is accepted, up to MAX_TOKEN_LENGTH.
    """
    if not value:
        return "must not be empty"
    if len(value) > MAX_TOKEN_LENGTH:
        return f"is longer than {MAX_TOKEN_LENGTH} characters"
    if not all("!" <= char <= "~" for char in value):
        return "must be printable ASCII without spaces or control characters"
    return None


def mask_secret(value: str) -> str:
    """A secret for logs: its last 4 characters (``…wxyz``) if it is long, ``****`` otherwise."""
    if len(value) < 16:  # 4 characters of a short secret would give too much of it away
        return "****"
    return "…" + value[-4:]


def token_identity(token: str) -> str:
    """The identity of an account known only by its token (for ``device_id_for``)."""
    return "token:" + token


def device_id_for(account_identity: str, install_salt: str) -> str:
    """A stable, UUID-v4-shaped ``X-Device-Id`` for one account.

    One id shared by several accounts is a ban signal (docs/PROTOCOL.md §1.4, 2026), so it is derived from
    the account's identity; the salt keeps two installations from sending the same ids.
    """
    digest = hashlib.sha256(f"deepseek-free-api/device\0{install_salt}\0{account_identity}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


_ACCOUNT_KEYS = frozenset(
    {"name", "token", "email", "mobile", "area_code", "password", "proxy", "locale", "timezone_offset"}
)
# A BCP 47 language tag as browsers send it (zh-CN, en-US, zh-Hant-TW, es-419), with "_" as the web
# app's X-Client-Locale writes it (zh_CN). It goes into two headers, so nothing else is accepted.
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}")
MAX_LOCALE_LENGTH = 35


def locale_problem(value: str) -> str | None:
    """Why ``value`` cannot be a locale (it becomes X-Client-Locale and Accept-Language), or None."""
    if len(value) > MAX_LOCALE_LENGTH:
        return f"must be a language tag like en-US or zh_CN of at most {MAX_LOCALE_LENGTH} characters"
    if not _LOCALE.fullmatch(value):
        shown = value if value.isprintable() and value.isascii() else ascii(value)
        return f"must be a language tag like en-US or zh_CN (letters, digits, '-' or '_'), got {shown!r}"
    return None


def timezone_offset_of(raw: Any) -> TimezoneOffset:
    """An account's timezone offset from a config value or flag: seconds east of UTC, or ``auto``.

    Raises ValueError with the reason.
    """
    if isinstance(raw, str) and raw.strip().lower() == "auto":
        return "auto"
    try:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError
        offset = int(raw)
    except ValueError:
        raise ValueError(
            f"must be seconds east of UTC (e.g. 28800 for UTC+8) or 'auto', got {str(raw)[:40]!r}"
        ) from None
    if abs(offset) > MAX_TIMEZONE_OFFSET:
        limit = MAX_TIMEZONE_OFFSET
        raise ValueError(f"must be between -{limit} and {limit} seconds, got {offset}")
    return offset


PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")


def proxy_problem(url: str) -> str | None:
    """Why ``url`` cannot be an account's proxy, or None (never quoting it: it may hold a password)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in PROXY_SCHEMES:
        return "must be a URL starting with " + ", ".join(f"{s}://" for s in PROXY_SCHEMES)
    host = rest.rpartition("@")[2].split("/", 1)[0]
    if not host or any(char.isspace() for char in url) or len(url) > MAX_TOKEN_LENGTH:
        return "must name a host, without spaces"
    return None


def parse_accounts(raw: Any, source: str) -> tuple[AccountConfig, ...]:
    """Accounts from a list of tokens/tables or a comma-separated string; ConfigError names the bad one."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ConfigError("accounts", f"must be a list of accounts (from {source})")
    accounts: list[AccountConfig] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(it for it in items if not (isinstance(it, str) and not it.strip())):
        account = _account(f"accounts[{index}]", item, source)
        if account.identity in seen:
            raise ConfigError(
                f"accounts[{index}]",
                f"the same account as accounts[{seen[account.identity]}] (from {source})",
            )
        seen[account.identity] = index
        accounts.append(account)
    return tuple(accounts)


def _account(key: str, raw: Any, source: str) -> AccountConfig:
    if isinstance(raw, str):
        return AccountConfig(token=_checked_token(key, raw.strip(), source))
    if not isinstance(raw, Mapping):
        raise ConfigError(key, f"must be a token or a table (from {source})")
    fields_: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _ACCOUNT_KEYS:
            raise ConfigError(f"{key}.{name}", f"unknown account setting (from {source})")
        if name == "timezone_offset":
            try:
                fields_[name] = timezone_offset_of(value)
            except ValueError as exc:
                raise ConfigError(f"{key}.{name}", f"{exc} (from {source})") from None
            continue
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key}.{name}", f"must be a non-empty string (from {source})")
        fields_[name] = value.strip()
    if "token" in fields_:
        _checked_token(f"{key}.token", fields_["token"], source)
    if "proxy" in fields_ and (problem := proxy_problem(fields_["proxy"])):
        raise ConfigError(f"{key}.proxy", f"{problem} (from {source})")
    if "locale" in fields_ and (problem := locale_problem(fields_["locale"])):
        raise ConfigError(f"{key}.locale", f"{problem} (from {source})")
    account = AccountConfig(**fields_)
    if account.token and (account.email or account.mobile or account.password):
        raise ConfigError(f"{key}.token", f"give either a token or a login, not both (from {source})")
    if account.email and account.mobile:
        raise ConfigError(f"{key}.mobile", f"give either email or mobile, not both (from {source})")
    if not account.token:
        if not (account.email or account.mobile):
            raise ConfigError(f"{key}.token", f"needs a token, or email/mobile and password (from {source})")
        if not account.password:
            raise ConfigError(f"{key}.password", f"a login needs a password (from {source})")
    return account


def _checked_token(key: str, token: str, source: str) -> str:
    problem = token_problem(token)
    if problem:
        raise ConfigError(key, f"{problem} (from {source})")
    return token
