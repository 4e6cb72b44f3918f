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
| `server.cors_origins` | `DEEPSEEK_FREE_API_SERVER_CORS_ORIGINS` | none (= `*`; no other site while anonymous use is on) | web page origins allowed to call from a browser, e.g. `https://chat.example.org`; `*` = any; others get 403 |
| `server.allowed_hosts` | `DEEPSEEK_FREE_API_SERVER_ALLOWED_HOSTS` | none | `Host` names to answer besides loopback and `server.host`; checked while anonymous use is on, always once set |
| `server.trusted_proxies` | `DEEPSEEK_FREE_API_SERVER_TRUSTED_PROXIES` | none | addresses or networks (`10.0.0.0/8`) of reverse proxies whose `X-Forwarded-For`/`Forwarded` name the client; ignored from any other peer |
| `server.data_dir` | `DEEPSEEK_FREE_API_SERVER_DATA_DIR` | `./data` | directory of the default SQLite store, created with mode 0700 |
| `store.url` | `DEEPSEEK_FREE_API_STORE_URL` | empty (= `sqlite` file `state.sqlite3` in `server.data_dir`) | where leases, account state, service keys, usage, conversation moves and stored responses live: `sqlite:///PATH` (one machine), `redis://[:PASSWORD@]HOST:PORT/DB[?prefix=NAME:]` (several processes or hosts), `memory://` (this process only) |
| `server.header_timeout_s` | `DEEPSEEK_FREE_API_SERVER_HEADER_TIMEOUT_S` | `10` | a connection must send a request's complete headers this long after connecting or after its first byte; then 408 and closed |
| `server.body_timeout_s` | `DEEPSEEK_FREE_API_SERVER_BODY_TIMEOUT_S` | `10` | time allowed for a request body, plus 1 s per `server.body_min_rate` bytes received; slower bodies get 408 and the connection is closed |
| `server.body_min_rate` | `DEEPSEEK_FREE_API_SERVER_BODY_MIN_RATE` | `16384` | bytes per second a body must keep up after `server.body_timeout_s` |
| `server.idle_timeout_s` | `DEEPSEEK_FREE_API_SERVER_IDLE_TIMEOUT_S` | `20` | keep-alive connections idle this long are closed |
| `server.max_connections` | `DEEPSEEK_FREE_API_SERVER_MAX_CONNECTIONS` | `4096` | open connections at most (lowered to the open-file limit minus `server.reserved_fds`); at the cap a new connection closes the longest-waiting one that has no request in progress |
| `server.reserved_fds` | `DEEPSEEK_FREE_API_SERVER_RESERVED_FDS` | `256` | file descriptors kept free for upstream connections, files and stores (at most half the limit) |
| `server.http_parser` | `DEEPSEEK_FREE_API_SERVER_HTTP_PARSER` | `auto` | `auto`: httptools' C parser when installed (with the Linux install), else h11; `h11`: always h11, the pure-Python parser |
| `server.public_metrics` | `DEEPSEEK_FREE_API_SERVER_PUBLIC_METRICS` | `false` | `true` serves `/metrics` and `/readyz` to anyone; otherwise loopback callers need no key and others an admin key |
| `server.log_format` | `DEEPSEEK_FREE_API_SERVER_LOG_FORMAT` (flag `--log-format`) | `text` | `json`: one JSON object per log line, for log collectors |
| `store.responses_max_count` | `DEEPSEEK_FREE_API_STORE_RESPONSES_MAX_COUNT` | `1024` | stored Responses kept at most (least recently used go first) |
| `store.responses_max_bytes` | `DEEPSEEK_FREE_API_STORE_RESPONSES_MAX_BYTES` | `67108864` | bytes of stored Responses kept at most (their JSON; images and files are kept as DeepSeek file ids, never as bytes) |
| `store.responses_max_per_owner` | `DEEPSEEK_FREE_API_STORE_RESPONSES_MAX_PER_OWNER` | `256` | stored Responses kept per service key or caller |
| `store.responses_ttl_s` | `DEEPSEEK_FREE_API_STORE_RESPONSES_TTL_S` | `2592000` (30 days) | how long a stored Response can be read or continued |
| `upstream.base_url` | `DEEPSEEK_BASE_URL` or `DEEPSEEK_FREE_API_UPSTREAM_BASE_URL` | `https://chat.deepseek.com` | DeepSeek (or the simulator) |
| `upstream.connect_timeout_s` | `DEEPSEEK_FREE_API_UPSTREAM_CONNECT_TIMEOUT_S` | `10` | TCP/TLS connect |
| `upstream.request_timeout_s` | `DEEPSEEK_FREE_API_UPSTREAM_REQUEST_TIMEOUT_S` | `30` | non-streaming calls (login, session, PoW) |
| `upstream.stream_idle_timeout_s` | `DEEPSEEK_FREE_API_UPSTREAM_STREAM_IDLE_TIMEOUT_S` | `120` | longest silence between two bytes of a completion stream (enforced by the server) |
| `upstream.max_answer_bytes` | `DEEPSEEK_FREE_API_UPSTREAM_MAX_ANSWER_BYTES` | `4194304` | the most of one non-streamed DeepSeek answer read (login, session, proof of work, uploads, account calls); a larger body is cut off as it arrives and the call fails as a protocol error (502 `upstream_protocol_error`) |
| `upstream.stream_buffer_bytes` | `DEEPSEEK_FREE_API_UPSTREAM_STREAM_BUFFER_BYTES` | `65536` | bytes of one completion stream held for a client that reads slower than DeepSeek sends; past it the server stops reading from DeepSeek until the client catches up (nothing is lost; the idle timeout counts only DeepSeek's own silence) |
| `upstream.generation_max_s` | `DEEPSEEK_FREE_API_UPSTREAM_GENERATION_MAX_S` | `600` | longest a DeepSeek generation may run; an account whose `stop_stream` failed stays parked until DeepSeek confirms a retried stop or this has passed |
| `upstream.canary_interval_s` | `DEEPSEEK_FREE_API_UPSTREAM_CANARY_INTERVAL_S` | `3600` | the drift canary checks each server account once per interval, one account at a time, spread evenly over it; `0` turns the schedule off (the admin page's buttons and `deepseek-free-api canary` still work) |
| `upstream.canary_completion` | `DEEPSEEK_FREE_API_UPSTREAM_CANARY_COMPLETION` | `false` | the canary also asks for a one-token completion (one generation per account and run) |
| `persona.platform` | `DEEPSEEK_FREE_API_PERSONA_PLATFORM` | `web` | `web` or `android`; picks the defaults below |
| `persona.client_version` | `DEEPSEEK_FREE_API_PERSONA_CLIENT_VERSION` | `2.5.0` (android `2.0.4`) | `X-Client-Version` |
| `persona.app_version` | `DEEPSEEK_FREE_API_PERSONA_APP_VERSION` | `20241129.1` (android: none) | `X-App-Version`; empty = omit |
| `persona.user_agent` | `DEEPSEEK_FREE_API_PERSONA_USER_AGENT` | desktop Chrome 145 (android `DeepSeek/2.0.4 Android/35`) | `User-Agent` |
| `persona.locale` | `DEEPSEEK_FREE_API_PERSONA_LOCALE` | `zh_CN` | `X-Client-Locale`, and the first language of `Accept-Language`; an account's own `locale` wins |
| `persona.timezone_offset` | `DEEPSEEK_FREE_API_PERSONA_TIMEZONE_OFFSET` | this machine's (`auto`) | `X-Client-Timezone-Offset`, seconds east of UTC (e.g. `28800` for UTC+8); an account's own `timezone_offset` wins |
| `persona.bundle_id` | `DEEPSEEK_FREE_API_PERSONA_BUNDLE_ID` | `com.deepseek.chat` | `X-Client-Bundle-Id` |
| `persona.impersonate` | `DEEPSEEK_FREE_API_PERSONA_IMPERSONATE` | `chrome145` (android `chrome131_android`) | curl_cffi TLS fingerprint |
| `persona.device_salt` | `DEEPSEEK_FREE_API_PERSONA_DEVICE_SALT` | empty | mixed into each account's stable `X-Device-Id` |
| `auth.api_keys` | `API_KEYS` or `DEEPSEEK_FREE_API_AUTH_API_KEYS` | none | service keys allowed to use server-side accounts |
| `auth.allow_anonymous` | `DEEPSEEK_FREE_API_AUTH_ALLOW_ANONYMOUS` | `false` | let callers without a key use server-side accounts |
| `auth.caller_tokens` | `DEEPSEEK_FREE_API_AUTH_CALLER_TOKENS` | `false` | with `api_keys` set, still take other bearers as the caller's own DeepSeek tokens (otherwise 401) |
| `auth.admin_keys` | `DEEPSEEK_FREE_API_AUTH_ADMIN_KEYS` | none | keys for `/metrics` and `/readyz` from other machines (as a bearer or `x-api-key`), and to log in to the admin page at `/admin` (404 while unset) |
| `auth.max_caller_accounts` | `DEEPSEEK_FREE_API_AUTH_MAX_CALLER_ACCOUNTS` | `1000` | accounts made from callers' own tokens, at most: idle ones are evicted least recently used first; when every one is in use a new caller gets 429 with `Retry-After` |
| `pool.max_waiters` | `DEEPSEEK_FREE_API_POOL_MAX_WAITERS` | `64` | requests queued for a free account before 429 |
| `pool.wait_timeout_s` | `DEEPSEEK_FREE_API_POOL_WAIT_TIMEOUT_S` | `30` | longest wait for an account before 429 |
| `pool.min_interval_s` | `DEEPSEEK_FREE_API_POOL_MIN_INTERVAL_S` | `1` | pause between two generations on one account |
| `pool.max_generations_per_hour` | `DEEPSEEK_FREE_API_POOL_MAX_GENERATIONS_PER_HOUR` | `0` | generations per account in any sliding hour, shared by the processes of one store; an account at its quota rests until a slot frees (0 = no quota) |
| `pool.prepare_concurrency` | `DEEPSEEK_FREE_API_POOL_PREPARE_CONCURRENCY` | `2` | upstream calls at once that prepare accounts: logins, the session and proof of work made ahead at start-up and after each turn, deleting unused sessions |
| `pool.lease_ttl_s` | `DEEPSEEK_FREE_API_POOL_LEASE_TTL_S` | `30` | an account's lease expires this long after its last renewal (renewed every third of it while a turn runs); the longest an account stays blocked after the process holding it was killed |
| `retry.max_attempts` | `DEEPSEEK_FREE_API_RETRY_MAX_ATTEMPTS` | `3` | tries per request on retryable upstream errors |
| `retry.backoff_initial_s` | `DEEPSEEK_FREE_API_RETRY_BACKOFF_INITIAL_S` | `0.5` | first backoff, doubled per try |
| `retry.backoff_max_s` | `DEEPSEEK_FREE_API_RETRY_BACKOFF_MAX_S` | `4` | longest backoff |
| `chat.continue_max_rounds` | `DEEPSEEK_FREE_API_CHAT_CONTINUE_MAX_ROUNDS` | `8` | `chat/continue` calls after INCOMPLETE |
| `chat.search_sources_text` | `DEEPSEEK_FREE_API_CHAT_SEARCH_SOURCES_TEXT` | `true` | append the seed's text list of search sources |
| `chat.reasoning_output` | `DEEPSEEK_FREE_API_CHAT_REASONING_OUTPUT` | `reasoning_content` | or `think_tags` (`<think>` in content) |
| `chat.session_delete` | `DEEPSEEK_FREE_API_CHAT_SESSION_DELETE` | `keep` | `delete` removes upstream sessions after use |
| `chat.claude_opus_model` | `DEEPSEEK_FREE_API_CHAT_CLAUDE_OPUS_MODEL` | `deepseek-v4-pro` | answers Anthropic requests for `claude-*opus*` |
| `chat.claude_sonnet_model` | `DEEPSEEK_FREE_API_CHAT_CLAUDE_SONNET_MODEL` | `deepseek-v4-flash` | answers `claude-*sonnet*` and other `claude-*` names |
| `chat.claude_haiku_model` | `DEEPSEEK_FREE_API_CHAT_CLAUDE_HAIKU_MODEL` | `deepseek-chat` | answers `claude-*haiku*` |
| `chat.gpt_model` | `DEEPSEEK_FREE_API_CHAT_GPT_MODEL` | `deepseek-v4-flash` | answers Responses requests for `gpt-*` (Codex's `-m gpt-5.5`) |
| `chat.hosted_web_search` | `DEEPSEEK_FREE_API_CHAT_HOSTED_WEB_SEARCH` | `ignore` | `search`: a declared Responses `web_search` tool turns DeepSeek's search on; `ignore`: only the `-search` suffix or a `tool_choice` naming it does (Codex declares it on every request) |
| `chat.long_input` | `DEEPSEEK_FREE_API_CHAT_LONG_INPUT` | `file` | a prompt over the mode's input limit: `file` sends the conversation before the last turn as an uploaded text file (as the web app does); `refuse` answers 413 naming the limit |
| `chat.input_limit_default` | `DEEPSEEK_FREE_API_CHAT_INPUT_LIMIT_DEFAULT` | `0` | input limit in characters of the default mode; `0` = what DeepSeek's `client/settings` says |
| `chat.input_limit_expert` | `DEEPSEEK_FREE_API_CHAT_INPUT_LIMIT_EXPERT` | `0` | the same for the expert mode (`deepseek-v4-pro`) |
| `chat.input_limit_vision` | `DEEPSEEK_FREE_API_CHAT_INPUT_LIMIT_VISION` | `0` | the same for the vision mode |
| `chat.resume_wait_s` | `DEEPSEEK_FREE_API_CHAT_RESUME_WAIT_S` | `10` | a follow-up that can go on in its earlier DeepSeek session (`previous_response_id`, a reused agent session) waits this long for that session's account; then the history is replayed in a new session |
| `chat.session_reuse` | `DEEPSEEK_FREE_API_CHAT_SESSION_REUSE` | `true` | a request (server-side accounts) that extends a conversation the server answered for the same caller sends only its new turn, in the same DeepSeek session; an edited history, a busy account or a lost session replays it in a new one |
| `chat.session_reuse_max_tokens` | `DEEPSEEK_FREE_API_CHAT_SESSION_REUSE_MAX_TOKENS` | `200000` | a reused session that would grow past this many tokens is replaced by a new session with the folded history |
| `chat.session_reuse_ttl_s` | `DEEPSEEK_FREE_API_CHAT_SESSION_REUSE_TTL_S` | `86400` | how long a conversation stays reusable after its last turn |
| `chat.session_reuse_max_count` | `DEEPSEEK_FREE_API_CHAT_SESSION_REUSE_MAX_COUNT` | `10000` | reusable conversations kept in the store, oldest forgotten first |
| `files.remote_urls` | `DEEPSEEK_FREE_API_FILES_REMOTE_URLS` | `false` | fetch `http(s)` image and file URLs (never private, loopback or link-local addresses); off = only data URLs and base64 |
| `files.max_bytes` | `DEEPSEEK_FREE_API_FILES_MAX_BYTES` | `10485760` | largest image or file, inline or fetched |
| `files.max_count` | `DEEPSEEK_FREE_API_FILES_MAX_COUNT` | `10` | most images and files in one request |
| `files.fetch_timeout_s` | `DEEPSEEK_FREE_API_FILES_FETCH_TIMEOUT_S` | `10` | longest fetch of one URL, redirects included |
| `files.parse_timeout_s` | `DEEPSEEK_FREE_API_FILES_PARSE_TIMEOUT_S` | `60` | longest wait for DeepSeek to accept an upload |
| `log_level` | `DEEPSEEK_FREE_API_LOG_LEVEL` | `info` | `debug`, `info`, `warning`, `error`, `critical` |
| `demo` | `DEEPSEEK_FREE_API_DEMO` (flag `--demo`) | `false` | run against the in-process simulator |
| `[[accounts]]` | `DEEP_SEEK_CHAT_AUTHORIZATION` (comma-separated tokens) | none | server-side accounts: `token`, or `email`/`mobile` (+ `area_code`) and `password`; optional `name`, `proxy` (`http://`, `https://`, `socks5://`… URL its DeepSeek requests go through), `locale` (e.g. `en-US`: its `X-Client-Locale` and `Accept-Language`) and `timezone_offset` (seconds east of UTC, or `auto` = this machine's) instead of `persona.*`'s; merged into the store at start, beside accounts added with `deepseek-free-api accounts add` |
| - | `DEEPSEEK_FREE_API_CONFIG` (flag `--config`) | none | path of the TOML file |
| - | `DEEPSEEK_FREE_API_NO_NATIVE` | unset | at install time: `1` skips building the native proof-of-work core |

A list from a higher layer replaces the lower one (environment accounts replace file accounts).
``load_settings(overrides=...)`` takes dotted keys, or bare keys where the name is unique
(``port``, ``base_url``, ``api_keys``), and ``tokens`` (a list) for token accounts.
"""  # noqa: E501

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Literal, get_args, get_origin, get_type_hints

from deepseek_free_api.settings import (
    MAX_TOKEN_LENGTH,
    PERSONA_DEFAULTS,
    AccountConfig,
    AuthSettings,
    ChatSettings,
    ConfigError,
    FilesSettings,
    LogLevel,
    PersonaSettings,
    Platform,
    PoolSettings,
    RetrySettings,
    ServerSettings,
    Settings,
    StoreSettings,
    UpstreamSettings,
    device_id_for,
    locale_problem,
    mask_secret,
    parse_accounts,
    token_identity,
    token_problem,
)
from deepseek_free_api.upstream.persona import Persona

ENV_PREFIX = "DEEPSEEK_FREE_API_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
# Prefixed variables that are not settings: read by setup.py at install time, not by the server.
_NON_SETTING_ENV = frozenset({CONFIG_ENV, ENV_PREFIX + "NO_NATIVE"})
ACCOUNTS_ENV = "DEEP_SEEK_CHAT_AUTHORIZATION"  # the seed's name, kept for drop-in compatibility

_SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "upstream": UpstreamSettings,
    "persona": PersonaSettings,
    "auth": AuthSettings,
    "pool": PoolSettings,
    "retry": RetrySettings,
    "chat": ChatSettings,
    "files": FilesSettings,
    "store": StoreSettings,
}
_TOP_LEVEL = ("log_level", "demo")
_ENV_ALIASES = {"DEEPSEEK_BASE_URL": "upstream.base_url", "API_KEYS": "auth.api_keys"}
_ACCOUNT_OVERRIDES = frozenset({"accounts", "tokens"})

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
    for name, default in PERSONA_DEFAULTS[persona.get("platform", "web")].items():
        persona.setdefault(name, default)
    upstream = sections["upstream"]
    if "base_url" in upstream:
        upstream["base_url"] = _check_url(upstream["base_url"], values["upstream.base_url"][1])
    if "persona.impersonate" in values:  # the platform's default is a native target already
        _check_impersonate(persona["impersonate"], values["persona.impersonate"][1])
    built = {name: cls(**sections[name]) for name, cls in _SECTIONS.items()}
    top = {name: coerced[name] for name in _TOP_LEVEL if name in coerced}
    parsed_accounts = parse_accounts(*accounts) if accounts is not None else ()
    persona_warnings = Persona.from_settings(built["persona"]).problems()
    return Settings(**built, **top, accounts=parsed_accounts, warnings=(*warnings, *persona_warnings))


def _check_impersonate(target: str, source: str) -> None:
    """Refuse a browser curl_cffi does not impersonate natively (its TLS and HTTP/2 fingerprint)."""
    from curl_cffi.requests.impersonate import resolve_latest_browser_type
    from curl_cffi.requests.utils import NATIVE_TARGET_NAMES

    if resolve_latest_browser_type(target) not in NATIVE_TARGET_NAMES:  # type: ignore[no-untyped-call]
        raise ConfigError(
            "persona.impersonate",
            f"{target!r} (from {source}) is not a browser curl_cffi impersonates natively, e.g. chrome145 or "
            "chrome131_android",
        )


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

    if get_origin(hint) is UnionType and NoneType in get_args(hint):  # e.g. int | None: "auto" = None
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "auto")):
            return None
        inner = next(arg for arg in get_args(hint) if arg is not NoneType)
        return _coerce(key, raw, source, inner, meta)
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
        if meta.get("locale") and (problem := locale_problem(raw.strip())):
            raise ConfigError(key, f"{problem} (from {source})")
        return raw.strip()
    if get_origin(hint) is tuple:  # tuple[str, ...]
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
            raise bad("a list of strings")
        values = tuple(item.strip() for item in items if item.strip())
        for index, item in enumerate(values):
            problem = token_problem(item) if meta.get("token") else None
            if meta.get("networks"):
                problem = _network_problem(item)
            if problem:
                raise ConfigError(f"{key}[{index}]", f"{problem} (from {source})")
        return values
    raise TypeError(f"no coercion for {key}: {hint!r}")  # a programming error, not a user one


def _network_problem(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"expected an IP address or network like 10.0.0.0/8, got {value!r}"
    return None


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


__all__ = [
    "MAX_TOKEN_LENGTH",
    "AccountConfig",
    "AuthSettings",
    "ChatSettings",
    "ConfigError",
    "FilesSettings",
    "LogLevel",
    "PersonaSettings",
    "Platform",
    "PoolSettings",
    "RetrySettings",
    "ServerSettings",
    "Settings",
    "StoreSettings",
    "UpstreamSettings",
    "device_id_for",
    "env_name",
    "load_settings",
    "mask_secret",
    "token_identity",
    "token_problem",
]
