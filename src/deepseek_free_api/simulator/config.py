"""The simulator's configuration: accounts, models, pacing, scripted replies, faults.

Loaded from TOML (``SimulatorConfig.load``) or a dict (``SimulatorConfig.from_dict``); the shipped
demo configuration is ``simulator/demo.toml`` (``SimulatorConfig.demo()``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

# The three model types of the V4 era (PROTOCOL.md §4.2); limits from NIY config.example.toml (2026-05).
_DEFAULT_MODELS: tuple[tuple[str, int], ...] = (
    ("default", 2_621_440),
    ("expert", 163_840),
    ("vision", 163_840),
)


@dataclass(frozen=True, slots=True)
class Pacing:
    """How fast a reply is delivered; zeros mean "as fast as possible"."""

    latency_ms: float = 0.0  # before the completion stream's headers (after network_latency_ms)
    first_token_ms: float = 0.0  # after the snapshot frame, before the first content frame
    chunk_chars: int = 16  # characters per content frame
    chunks_per_second: float = 0.0  # 0 = no delay between content frames

    def merged(self, overrides: Mapping[str, Any]) -> Pacing:
        """A copy with the pacing keys found in ``overrides`` applied."""
        keys = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if k in keys and v is not None})


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One DeepSeek account: a token account or an email/mobile + password account."""

    id: str
    token: str | None = None
    email: str | None = None
    mobile: str | None = None
    password: str | None = None
    muted_until: float = 0.0
    banned: bool = False
    revoked: bool = False
    rate_limited: bool = False
    edge_block: str = ""  # "", "html", "waf" or "captcha"
    # The 2026 signals (simulator/signals.py): a disable (90008), how a ban and a mute are told,
    # and a throttle of this account's own (None: the global throttle_burst/window).
    disabled: bool = False
    ban_signal: str = "empty"  # "empty" (an empty answer), "code" (40012 on every call), "stream"
    mute_signal: str = "biz_code"  # "biz_code" (JSON), "stream" (50006 in a 200 stream), "stream_bare"
    throttle_burst: int | None = None
    throttle_window_seconds: float | None = None
    throttle_signal: str = "error"  # "error" (消息发送过于频繁 frame) or "hint" (rate_limit_reached)


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """One entry of ``client/settings?scope=model``."""

    model_type: str
    enabled: bool = True
    input_character_limit: int = 2_621_440


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One web search result a scripted reply cites."""

    url: str
    title: str = ""
    snippet: str = ""
    site_name: str = ""
    published_at: float | None = None


@dataclass(frozen=True, slots=True)
class ToolCallTemplate:
    """A tool call a scripted reply makes when the prompt declares a tool whose name matches ``tool``."""

    tool: str  # a regex the whole declared name must match (a plain name matches itself)
    arguments: Mapping[str, Any] = field(default_factory=dict)  # text values are answer templates
    fill: str | None = None  # template for the required text parameters ``arguments`` leaves out


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    """A reply chosen when ``pattern`` (a regex) matches the prompt; overrides the echo reply.

    ``scope`` says what the pattern searches: the whole prompt, only the last user turn (the text
    after the last ``<｜User｜>`` marker, markers removed), or the whole session as the model sees it
    (``session``: each earlier prompt and answer of the session's branch, ``<｜User｜>`` and
    ``<｜Assistant｜>`` before each, then the prompt), which a continued conversation needs. With
    ``tool_calls`` the script applies only when the prompt declares one of their tools, and the
    answer ends with a call of the first.
    """

    pattern: str
    name: str = ""
    scope: str = "prompt"  # or "last_turn", "session"
    thinking: str | None = None  # used only when thinking is enabled
    answer: str = ""  # may carry ``[reference:N]`` markers (N = search hit index) and tool-call markup
    search_queries: tuple[str, ...] = ()
    search_results: tuple[SearchHit, ...] = ()  # used only when search is enabled
    tip: str | None = None
    title: str | None = None
    answer_chars: int = 0  # pad the answer with filler text up to this many characters
    incomplete_after: int = 0  # first delivery stops INCOMPLETE after this many characters
    content_filter: bool = False
    pacing: Mapping[str, Any] = field(default_factory=dict)
    tool_calls: tuple[ToolCallTemplate, ...] = ()


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A fault armed from the start; see faults.py for names and parameters."""

    fault: str
    times: int = 1  # 0 = unlimited
    token: str | None = None
    account: str | None = None
    prompt_contains: str | None = None
    path: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VersionRule:
    """Stream generation served to clients whose ``X-Client-Version`` matches ``client_version``."""

    client_version: str
    generation: int


# Keys of from_dict's data that are built into objects rather than passed as they are.
_BUILT_KEYS = frozenset({"pacing", "accounts", "models", "scripts", "faults", "generation_rules"})


def _default_models() -> tuple[ModelConfig, ...]:
    return tuple(ModelConfig(name, True, limit) for name, limit in _DEFAULT_MODELS)


def _default_rules() -> tuple[VersionRule, ...]:
    # XY still received generation 2 with 1.0.0-always in 2026-02 (PROTOCOL.md §5).
    return (VersionRule(r"^1\.0\.0-always$", 2),)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything the simulator needs; immutable, built once per app.

    Two settings model time outside the reply itself:

    * ``busy_after_disconnect_seconds`` — what happens when a client leaves a generating stream.
      ``None`` (the default) mirrors DeepSeek: the generation goes on without the client until
      ``chat/stop_stream`` for its message arrives or until the rest of the reply would have been
      generated at its scripted pacing (no pacing: at once); until then the account is busy
      (a second generation gets the busy error) and ``/_sim/state`` shows it in flight, with
      ``client_connected: false``. A number caps that time in seconds: ``0`` frees the account
      as soon as the client leaves (the generation stays INCOMPLETE), as the simulator did before.
    * ``network_latency_ms`` — a delay before answering every ``/api/v0`` call (login, session,
      PoW challenge, completion, stop_stream …), so the round trips before the first token show.
      ``pacing.latency_ms`` comes on top of it for the streams only.
    """

    accounts: tuple[AccountConfig, ...] = ()
    models: tuple[ModelConfig, ...] = field(default_factory=_default_models)
    scripts: tuple[ScriptedReply, ...] = ()
    faults: tuple[FaultSpec, ...] = ()
    generation_rules: tuple[VersionRule, ...] = field(default_factory=_default_rules)
    default_generation: int = 3
    pacing: Pacing = field(default_factory=Pacing)
    difficulty: int = 144_000  # every real sample so far (PROTOCOL.md §3.2)
    pow_expire_after_ms: int = 300_000
    expert_min_client_version: str = "1.8.0"  # DS2-go ba76a21 (2026-04-08)
    busy_response: str = "sse"  # "sse" (error frame) or "json" (envelope), both seen 2026-09
    busy_after_disconnect_seconds: float | None = None  # None = until stop_stream or the scripted end
    network_latency_ms: float = 0.0  # before every /api/v0 answer
    throttle_burst: int = 0  # completions allowed per window per account; 0 = no throttle
    throttle_window_seconds: float = 10.0
    content_filter_words: tuple[str, ...] = ()
    file_parse_seconds: float = 1.0
    session_ttl_seconds: int = 259_200  # 3 days (NIY ref §1)
    edge_block: str = ""  # "", "html", "waf" or "captcha" for every request
    min_client_version: str = ""  # X-Client-Version below it: 40005 CLIENT_VERSION_TOO_LOW on every call
    required_headers: tuple[str, ...] = ()  # any of them missing: 40300 Missing Header on every call
    emit_finish: bool = True
    request_log_limit: int = 10_000
    request_log_bytes: int = 64 * 1024 * 1024  # request bodies kept for /_sim/requests, oldest dropped
    # What the simulator keeps of sessions (retention.py): the least recently updated session of an
    # account, or of all, is reclaimed past these, and then answers as an expired one does.
    sessions_per_account: int = 256
    sessions_max: int = 4096
    sessions_max_chars: int = 256 * 1024 * 1024  # prompt and answer characters in all sessions
    session_max_messages: int = 512  # then "Length limit reached. Please start a new chat."

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulatorConfig:
        """Build from plain data (the TOML layout); unknown keys are an error."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown simulator config keys: {sorted(unknown)}")
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k not in _BUILT_KEYS}
        for name in ("content_filter_words", "required_headers"):
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        if "pacing" in data:
            kwargs["pacing"] = Pacing().merged(data["pacing"])
        kwargs["accounts"] = tuple(AccountConfig(**a) for a in data.get("accounts", ()))
        if "models" in data:
            kwargs["models"] = tuple(ModelConfig(**m) for m in data["models"])
        kwargs["scripts"] = tuple(_script(s) for s in data.get("scripts", ()))
        kwargs["faults"] = tuple(_fault(f) for f in data.get("faults", ()))
        if "generation_rules" in data:
            kwargs["generation_rules"] = tuple(VersionRule(**r) for r in data["generation_rules"])
        config = cls(**kwargs)
        config.validate()
        return config

    @classmethod
    def load(cls, path: str | Path) -> SimulatorConfig:
        """Read a TOML file."""
        with open(path, "rb") as handle:
            return cls.from_dict(tomllib.load(handle))

    @classmethod
    def demo(cls) -> SimulatorConfig:
        """The demo configuration shipped inside the package."""
        text = resources.files("deepseek_free_api.simulator").joinpath("demo.toml").read_text("utf-8")
        return cls.from_dict(tomllib.loads(text))

    def validate(self) -> None:
        """Raise ValueError on inconsistent settings."""
        ids = [a.id for a in self.accounts]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate account ids")
        tokens = [a.token for a in self.accounts if a.token]
        if len(tokens) != len(set(tokens)):
            raise ValueError("duplicate account tokens")
        for account in self.accounts:
            if not account.token and not (account.password and (account.email or account.mobile)):
                raise ValueError(f"account {account.id!r} needs a token or a login")
            _check_signals(account)
        if self.busy_response not in ("sse", "json"):
            raise ValueError("busy_response must be 'sse' or 'json'")
        if self.difficulty < 1:
            raise ValueError("difficulty must be >= 1")
        if self.busy_after_disconnect_seconds is not None and self.busy_after_disconnect_seconds < 0:
            raise ValueError("busy_after_disconnect_seconds must be >= 0 (or absent)")
        if self.network_latency_ms < 0:
            raise ValueError("network_latency_ms must be >= 0")
        for name in ("request_log_limit", "request_log_bytes", "sessions_per_account", "sessions_max",
                     "sessions_max_chars", "session_max_messages"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for script in self.scripts:
            _check_script(script)

    def with_changes(self, **changes: Any) -> SimulatorConfig:
        """A copy with some fields replaced (tests use it to lower the difficulty and so on)."""
        return replace(self, **changes)


_SIGNALS = {
    "edge_block": ("", "html", "waf", "captcha"),
    "ban_signal": ("empty", "code", "stream"),
    "mute_signal": ("biz_code", "stream", "stream_bare"),
    "throttle_signal": ("error", "hint"),
}


def _check_signals(account: AccountConfig) -> None:
    for name, allowed in _SIGNALS.items():
        if getattr(account, name) not in allowed:
            raise ValueError(f"account {account.id!r}: {name} must be one of {', '.join(map(repr, allowed))}")


def _check_script(script: ScriptedReply) -> None:
    named = f"script {script.name or script.pattern!r}"
    if script.scope not in ("prompt", "last_turn", "session"):
        raise ValueError(f"{named}: scope must be 'prompt', 'last_turn' or 'session'")
    for regex in (script.pattern, *(call.tool for call in script.tool_calls)):
        try:
            re.compile(regex)
        except re.error as exc:
            raise ValueError(f"{named}: bad regex {regex!r}: {exc}") from exc


def _script(data: Mapping[str, Any]) -> ScriptedReply:
    values = dict(data)
    values["search_results"] = tuple(SearchHit(**hit) for hit in values.get("search_results", ()))
    values["search_queries"] = tuple(values.get("search_queries", ()))
    values["pacing"] = dict(values.get("pacing", {}))
    values["tool_calls"] = tuple(
        ToolCallTemplate(**{**call, "arguments": dict(call.get("arguments", {}))})
        for call in values.get("tool_calls", ())
    )
    return ScriptedReply(**values)


def _fault(data: Mapping[str, Any]) -> FaultSpec:
    known = {f.name for f in fields(FaultSpec)} - {"params"}
    base = {k: v for k, v in data.items() if k in known}
    params = dict(data.get("params", {}))
    params.update({k: v for k, v in data.items() if k not in known and k != "params"})
    return FaultSpec(**base, params=params)
