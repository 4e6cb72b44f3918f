"""Settings: command-line flags, then environment, then a TOML file, then defaults.

``load_settings()`` is called by the CLI; nothing here runs at import. Every setting is
``<section>.<key>`` in the TOML file (``[server]`` ``port = 8000``), and
``DEEPSEEK_FREE_API_<SECTION>_<KEY>`` in the environment (``DEEPSEEK_FREE_API_SERVER_PORT``).
Lists in the environment are comma-separated; booleans are ``1/0``, ``true/false``, ``yes/no``,
``on/off``. A bad value or an unknown key in the file is an error naming the key.

| setting (TOML) | environment | default | meaning |
|---|---|---|---|
| `server.host` | `DEEPSEEK_FREE_API_SERVER_HOST` (flag `--host`) | `127.0.0.1` | listen address |
| `server.port` | `DEEPSEEK_FREE_API_SERVER_PORT` (flag `--port`) | `8000` | listen port |
| `server.max_body_bytes` | `DEEPSEEK_FREE_API_SERVER_MAX_BODY_BYTES` | `8388608` | larger request bodies get 413 |
| `server.keepalive_interval_s` | `DEEPSEEK_FREE_API_SERVER_KEEPALIVE_INTERVAL_S` | `10` | SSE keep-alive while upstream is silent |
| `server.request_timeout_s` | `DEEPSEEK_FREE_API_SERVER_REQUEST_TIMEOUT_S` | `600` | cap on one whole request |
| `upstream.base_url` | `DEEPSEEK_BASE_URL` or `DEEPSEEK_FREE_API_UPSTREAM_BASE_URL` | `https://chat.deepseek.com` | DeepSeek (or the simulator) |
| `upstream.connect_timeout_s` | `DEEPSEEK_FREE_API_UPSTREAM_CONNECT_TIMEOUT_S` | `10` | TCP/TLS connect |
| `upstream.request_timeout_s` | `DEEPSEEK_FREE_API_UPSTREAM_REQUEST_TIMEOUT_S` | `30` | non-streaming calls (login, session, PoW) |
| `upstream.stream_idle_timeout_s` | `DEEPSEEK_FREE_API_UPSTREAM_STREAM_IDLE_TIMEOUT_S` | `120` | longest silence inside a completion stream |
| `persona.platform` | `DEEPSEEK_FREE_API_PERSONA_PLATFORM` | `web` | `web` or `android`; picks the defaults below |
| `persona.client_version` | `DEEPSEEK_FREE_API_PERSONA_CLIENT_VERSION` | `2.5.0` (android `2.0.4`) | `X-Client-Version` |
| `persona.app_version` | `DEEPSEEK_FREE_API_PERSONA_APP_VERSION` | `20241129.1` (android: none) | `X-App-Version`; empty = omit |
| `persona.user_agent` | `DEEPSEEK_FREE_API_PERSONA_USER_AGENT` | desktop Chrome 145 (android `DeepSeek/2.0.4 Android/35`) | `User-Agent` |
| `persona.locale` | `DEEPSEEK_FREE_API_PERSONA_LOCALE` | `zh_CN` | `X-Client-Locale` |
| `persona.timezone_offset` | `DEEPSEEK_FREE_API_PERSONA_TIMEZONE_OFFSET` | `28800` | `X-Client-Timezone-Offset`, seconds east of UTC |
| `persona.bundle_id` | `DEEPSEEK_FREE_API_PERSONA_BUNDLE_ID` | `com.deepseek.chat` | `X-Client-Bundle-Id` |
| `persona.impersonate` | `DEEPSEEK_FREE_API_PERSONA_IMPERSONATE` | `chrome145` (android `chrome131_android`) | curl_cffi TLS fingerprint |
| `persona.device_salt` | `DEEPSEEK_FREE_API_PERSONA_DEVICE_SALT` | empty | mixed into each account's stable `X-Device-Id` |
| `auth.api_keys` | `API_KEYS` or `DEEPSEEK_FREE_API_AUTH_API_KEYS` | none | service keys allowed to use server-side accounts |
| `auth.allow_anonymous` | `DEEPSEEK_FREE_API_AUTH_ALLOW_ANONYMOUS` | `false` | let callers without a key use server-side accounts |
| `auth.caller_tokens` | `DEEPSEEK_FREE_API_AUTH_CALLER_TOKENS` | `false` | with `api_keys` set, still take other bearers as the caller's own DeepSeek tokens (otherwise 401) |
| `pool.max_waiters` | `DEEPSEEK_FREE_API_POOL_MAX_WAITERS` | `64` | requests queued for a free account before 429 |
| `pool.wait_timeout_s` | `DEEPSEEK_FREE_API_POOL_WAIT_TIMEOUT_S` | `30` | longest wait for an account before 429 |
| `pool.min_interval_s` | `DEEPSEEK_FREE_API_POOL_MIN_INTERVAL_S` | `1` | pause between two generations on one account |
| `retry.max_attempts` | `DEEPSEEK_FREE_API_RETRY_MAX_ATTEMPTS` | `3` | tries per request on retryable upstream errors |
| `retry.backoff_initial_s` | `DEEPSEEK_FREE_API_RETRY_BACKOFF_INITIAL_S` | `0.5` | first backoff, doubled per try |
| `retry.backoff_max_s` | `DEEPSEEK_FREE_API_RETRY_BACKOFF_MAX_S` | `4` | longest backoff |
| `chat.continue_max_rounds` | `DEEPSEEK_FREE_API_CHAT_CONTINUE_MAX_ROUNDS` | `8` | `chat/continue` calls after INCOMPLETE |
| `chat.search_sources_text` | `DEEPSEEK_FREE_API_CHAT_SEARCH_SOURCES_TEXT` | `true` | append the seed's text list of search sources |
| `chat.reasoning_output` | `DEEPSEEK_FREE_API_CHAT_REASONING_OUTPUT` | `reasoning_content` | or `think_tags` (`<think>` in content) |
| `chat.session_delete` | `DEEPSEEK_FREE_API_CHAT_SESSION_DELETE` | `keep` | `delete` removes upstream sessions after use |
| `log_level` | `DEEPSEEK_FREE_API_LOG_LEVEL` | `info` | `debug`, `info`, `warning`, `error`, `critical` |
| `demo` | `DEEPSEEK_FREE_API_DEMO` (flag `--demo`) | `false` | run against the in-process simulator |
| `[[accounts]]` | `DEEP_SEEK_CHAT_AUTHORIZATION` (comma-separated tokens) | none | server-side accounts: `token`, or `email`/`mobile` (+ `area_code`) and `password`; optional `name` |
| - | `DEEPSEEK_FREE_API_CONFIG` (flag `--config`) | none | path of the TOML file |
| - | `DEEPSEEK_FREE_API_NO_NATIVE` | unset | at install time: `1` skips building the native proof-of-work core |

A list from a higher layer replaces the lower one (environment accounts replace file accounts).
``load_settings(overrides=...)`` takes dotted keys, or bare keys where the name is unique
(``port``, ``base_url``, ``api_keys``), and ``tokens`` (a list) for token accounts.
"""  # noqa: E501

from __future__ import annotations

import hashlib
import os
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

ENV_PREFIX = "DEEPSEEK_FREE_API_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
# Prefixed variables that are not settings: read by setup.py at install time, not by the server.
_NON_SETTING_ENV = frozenset({CONFIG_ENV, ENV_PREFIX + "NO_NATIVE"})
# Tokens and keys end up in HTTP headers: printable ASCII without spaces, and a sane length.
MAX_TOKEN_LENGTH = 4096
ACCOUNTS_ENV = "DEEP_SEEK_CHAT_AUTHORIZATION"  # the seed's name, kept for drop-in compatibility

Platform = Literal["web", "android"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]

# Persona defaults per platform (PROTOCOL §1.4). Web: X-Client-Version 2.5.0 is what the web app
# sent 2026-07 -> 09; Android: 2.0.4 (2026-05-01, DS2-go), needed for expert/vision.
_CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/145.0.0.0 Safari/537.36"
)
_PERSONA_DEFAULTS: dict[str, dict[str, Any]] = {
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


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """Where DeepSeek is and how long to wait for it."""

    base_url: str = "https://chat.deepseek.com"
    connect_timeout_s: float = field(default=10.0, metadata=_min(0.1))
    request_timeout_s: float = field(default=30.0, metadata=_min(0.1))
    stream_idle_timeout_s: float = field(default=120.0, metadata=_min(0.1))


@dataclass(frozen=True, slots=True)
class PersonaSettings:
    """The client we claim to be (PROTOCOL §1.4); a version bump is a config change, not a code change."""

    platform: Platform = "web"
    client_version: str = _PERSONA_DEFAULTS["web"]["client_version"]
    app_version: str = _PERSONA_DEFAULTS["web"]["app_version"]
    user_agent: str = _CHROME_UA
    locale: str = "zh_CN"
    timezone_offset: int = 28800  # seconds east of UTC, as the web app sends it (UTC+8)
    bundle_id: str = "com.deepseek.chat"
    impersonate: str = _PERSONA_DEFAULTS["web"]["impersonate"]
    device_salt: str = field(default="", repr=False, metadata={"secret": True})


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Who may use the server-side accounts."""

    api_keys: tuple[str, ...] = field(default=(), repr=False, metadata={"secret": True, "token": True})
    allow_anonymous: bool = False
    # With service keys configured, a bearer that is not a key is refused (a mistyped key must not
    # reach DeepSeek as an account token) unless the operator opts in to callers' own tokens.
    caller_tokens: bool = False


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """The account pool's queue and pacing."""

    max_waiters: int = field(default=64, metadata=_min(0))
    wait_timeout_s: float = field(default=30.0, metadata=_min(0))
    min_interval_s: float = field(default=1.0, metadata=_min(0))


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


@dataclass(frozen=True, slots=True, repr=False)
class AccountConfig:
    """A server-side DeepSeek account: a token, or e-mail/mobile and password to log in with."""

    name: str | None = None
    token: str | None = field(default=None, repr=False)
    email: str | None = None
    mobile: str | None = None
    area_code: str | None = None
    password: str | None = field(default=None, repr=False)

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
    accounts: tuple[AccountConfig, ...] = ()
    log_level: LogLevel = "info"
    demo: bool = False
    # Things worth a log line at startup, e.g. an unknown DEEPSEEK_FREE_API_* variable (a typo?).
    warnings: tuple[str, ...] = ()


_SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "upstream": UpstreamSettings,
    "persona": PersonaSettings,
    "auth": AuthSettings,
    "pool": PoolSettings,
    "retry": RetrySettings,
    "chat": ChatSettings,
}
_TOP_LEVEL = ("log_level", "demo")
_ENV_ALIASES = {"DEEPSEEK_BASE_URL": "upstream.base_url", "API_KEYS": "auth.api_keys"}
_ACCOUNT_OVERRIDES = frozenset({"accounts", "tokens"})
_ACCOUNT_KEYS = frozenset({"name", "token", "email", "mobile", "area_code", "password"})

# dotted key -> (type hint, field metadata)
_Spec = tuple[Any, Mapping[str, Any]]
_Layer = dict[str, tuple[Any, str]]  # dotted key -> (raw value, where it came from)


def _known_keys() -> dict[str, _Spec]:
    known: dict[str, _Spec] = {}
    for section, cls in _SECTIONS.items():
        hints = get_type_hints(cls)
        for f in fields(cls):
            known[f"{section}.{f.name}"] = (hints[f.name], f.metadata)
    hints = get_type_hints(Settings)
    for name in _TOP_LEVEL:
        known[name] = (hints[name], {})
    return known


def env_name(key: str) -> str:
    """The environment variable of a dotted setting (``server.port`` -> ``DEEPSEEK_FREE_API_SERVER_PORT``)."""
    return ENV_PREFIX + key.replace(".", "_").upper()


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: str | Path | None = None,
) -> Settings:
    """Merge flags (``overrides``; ``None`` values ignored) > ``env`` > TOML file > defaults."""
    env = os.environ if env is None else env
    known = _known_keys()
    values: _Layer = {}
    accounts: tuple[Any, str] | None = None
    path = config_path if config_path is not None else env.get(CONFIG_ENV) or None
    if path is not None:
        file_values, file_accounts = _read_file(Path(path), known)
        values.update(file_values)
        accounts = file_accounts or accounts
    env_values, env_accounts, warnings = _read_env(env, known)
    values.update(env_values)
    accounts = env_accounts or accounts
    flag_values, flag_accounts = _read_overrides(overrides or {}, known)
    values.update(flag_values)
    accounts = flag_accounts or accounts
    return _build(values, known, accounts, tuple(warnings))


def _read_file(path: Path, known: Mapping[str, _Spec]) -> tuple[_Layer, tuple[Any, str] | None]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError("config", f"file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from exc
    source = f"config file {path}"
    values: _Layer = {}
    accounts: tuple[Any, str] | None = None
    for key, value in data.items():
        if key == "accounts":
            accounts = (value, source)
        elif key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(key, f"must be a table [{key}] in {source}")
            for name, item in value.items():
                dotted = f"{key}.{name}"
                if dotted not in known:
                    raise ConfigError(dotted, f"unknown setting in {source}")
                values[dotted] = (item, source)
        elif key in known:
            values[key] = (value, source)
        else:
            raise ConfigError(key, f"unknown setting in {source}")
    return values, accounts


def _read_env(
    env: Mapping[str, str], known: Mapping[str, _Spec]
) -> tuple[_Layer, tuple[Any, str] | None, list[str]]:
    values: _Layer = {}
    for alias, dotted in _ENV_ALIASES.items():
        if alias in env:
            values[dotted] = (env[alias], f"environment variable {alias}")
    names = {env_name(key): key for key in known}
    for name, dotted in names.items():
        if name in env:  # the prefixed name wins over the short alias
            values[dotted] = (env[name], f"environment variable {name}")
    warnings = [
        f"unknown environment variable {name} ignored"
        for name in sorted(env)
        if name.startswith(ENV_PREFIX) and name not in names and name not in _NON_SETTING_ENV
    ]
    accounts = None
    if env.get(ACCOUNTS_ENV, "").strip():
        accounts = (env[ACCOUNTS_ENV], f"environment variable {ACCOUNTS_ENV}")
    return values, accounts, warnings


def _read_overrides(
    overrides: Mapping[str, Any], known: Mapping[str, _Spec]
) -> tuple[_Layer, tuple[Any, str] | None]:
    values: _Layer = {}
    accounts: tuple[Any, str] | None = None
    by_name: dict[str, list[str]] = {}
    for dotted in known:
        by_name.setdefault(dotted.rsplit(".", 1)[-1], []).append(dotted)
    for key, value in overrides.items():
        if value is None:  # an argparse flag that was not given
            continue
        if key in _ACCOUNT_OVERRIDES:
            accounts = (value, "command line")
            continue
        candidates = [key] if key in known else by_name.get(key, [])
        if not candidates:
            raise ConfigError(key, "unknown setting")
        if len(candidates) > 1:
            raise ConfigError(key, "ambiguous; use one of " + ", ".join(candidates))
        values[candidates[0]] = (value, "command line")
    return values, accounts


def _build(
    values: _Layer, known: Mapping[str, _Spec], accounts: tuple[Any, str] | None, warnings: tuple[str, ...]
) -> Settings:
    coerced = {key: _coerce(key, raw, source, *known[key]) for key, (raw, source) in values.items()}
    sections: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    for key, value in coerced.items():
        if "." in key:
            section, name = key.split(".", 1)
            sections[section][name] = value
    persona = sections["persona"]
    for name, default in _PERSONA_DEFAULTS[persona.get("platform", "web")].items():
        persona.setdefault(name, default)
    upstream = sections["upstream"]
    if "base_url" in upstream:
        upstream["base_url"] = _check_url(upstream["base_url"], values["upstream.base_url"][1])
    built = {name: cls(**sections[name]) for name, cls in _SECTIONS.items()}
    top = {name: coerced[name] for name in _TOP_LEVEL if name in coerced}
    parsed_accounts = _accounts(*accounts) if accounts is not None else ()
    return Settings(**built, **top, accounts=parsed_accounts, warnings=warnings)


def _check_url(url: str, source: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError("upstream.base_url", f"must start with http:// or https:// (from {source})")
    return url.rstrip("/")


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _coerce(key: str, raw: Any, source: str, hint: Any, meta: Mapping[str, Any]) -> Any:
    """Check ``raw`` against the field's type; strings (environment, flags) are parsed."""
    shown = "<hidden>" if meta.get("secret") else repr(raw)

    def bad(expected: str) -> ConfigError:
        return ConfigError(key, f"expected {expected}, got {shown} (from {source})")

    if get_origin(hint) is Literal:
        choices = get_args(hint)
        value = raw.strip().lower() if isinstance(raw, str) else raw
        if value not in choices:
            raise bad("one of " + ", ".join(repr(c) for c in choices))
        return value
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise bad("a boolean")
    if hint is int or hint is float:
        number = _number(raw, hint)
        if number is None:
            raise bad("an integer" if hint is int else "a number")
        low, high = meta.get("min"), meta.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            limits = f"at least {low}" + (f" and at most {high}" if high is not None else "")
            raise ConfigError(key, f"must be {limits}, got {number} (from {source})")
        return number
    if hint is str:
        if not isinstance(raw, str):
            raise bad("a string")
        return raw.strip()
    if get_origin(hint) is tuple:  # tuple[str, ...]
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
            raise bad("a list of strings")
        values = tuple(item.strip() for item in items if item.strip())
        for index, item in enumerate(values):
            problem = token_problem(item) if meta.get("token") else None
            if problem:
                raise ConfigError(f"{key}[{index}]", f"{problem} (from {source})")
        return values
    raise TypeError(f"no coercion for {key}: {hint!r}")  # a programming error, not a user one


def _number(raw: Any, hint: type[Any]) -> int | float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        try:
            return hint(raw.strip())  # type: ignore[no-any-return]
        except ValueError:
            return None
    if isinstance(raw, int) or (hint is float and isinstance(raw, float)):
        return hint(raw)  # type: ignore[no-any-return]
    return None


def _accounts(raw: Any, source: str) -> tuple[AccountConfig, ...]:
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
    for name, value in raw.items():
        if name not in _ACCOUNT_KEYS:
            raise ConfigError(f"{key}.{name}", f"unknown account setting (from {source})")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key}.{name}", f"must be a non-empty string (from {source})")
    fields_ = {name: value.strip() for name, value in raw.items()}
    if "token" in fields_:
        _checked_token(f"{key}.token", fields_["token"], source)
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

    One id shared by several accounts is a ban signal (PROTOCOL §1.4, 2026), so it is derived from
    the account's identity; the salt keeps two installations from sending the same ids.
    """
    digest = hashlib.sha256(f"deepseek-free-api/device\0{install_salt}\0{account_identity}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))
