"""What ``users/current`` and ``client/settings?scope=model`` say, as values (PROTOCOL.md §2.3, §4.7).

``users/current`` carries the account's mute: ``chat.is_muted`` and ``chat.mute_until`` (Unix
seconds), the only place that says until when when a mute signal does not (code 50006 inside a
stream may come without it; chm413 docs/account-health.md, 2026-08). ``client/settings`` lists
``model_configs[]``: each mode's ``model_type``, whether it is ``enabled`` (expert and vision were
switched off in 2026-09) and its ``input_character_limit``. Shapes that do not parse are an
UpstreamProtocolError: the canary reports them as a changed format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deepseek_free_api.errors import UpstreamProtocolError
from deepseek_free_api.upstream.classifier import epoch_seconds


@dataclass(frozen=True, slots=True)
class UserStatus:
    """The health-related part of ``users/current``."""

    muted: bool
    mute_until: float | None  # epoch seconds, when muted and DeepSeek says until when


@dataclass(frozen=True, slots=True)
class ModeConfig:
    """One entry of ``client/settings?scope=model``."""

    model_type: str
    enabled: bool
    input_character_limit: int | None


def user_status(data: Any) -> UserStatus:
    """``users/current``'s ``biz_data`` (the user object, or ``{"user": …}`` as login has it)."""
    if isinstance(data, Mapping) and isinstance(data.get("user"), Mapping):
        data = data["user"]
    chat = data.get("chat") if isinstance(data, Mapping) else None
    if not isinstance(chat, Mapping):
        raise UpstreamProtocolError("DeepSeek's users/current answer has no chat status (is_muted)")
    muted = bool(chat.get("is_muted"))
    return UserStatus(muted, epoch_seconds(chat.get("mute_until")) if muted else None)


def mode_configs(data: Any) -> tuple[ModeConfig, ...]:
    """``client/settings``'s ``biz_data``: ``settings.model_configs.value[]`` (a bare list is accepted)."""
    configs: Any = data
    for key in ("settings", "model_configs", "value"):
        if isinstance(configs, Mapping):
            configs = configs.get(key)
    if not isinstance(configs, Sequence) or isinstance(configs, str | bytes) or not configs:
        raise UpstreamProtocolError("DeepSeek's client/settings answer lists no model_configs")
    modes: list[ModeConfig] = []
    for item in configs:
        if not isinstance(item, Mapping) or not isinstance(item.get("model_type"), str):
            raise UpstreamProtocolError("DeepSeek's client/settings has a model config without model_type")
        limit = item.get("input_character_limit")
        usable = isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
        enabled = item.get("enabled") is not False  # absent: on, as the web app assumes
        modes.append(ModeConfig(item["model_type"], enabled, limit if usable else None))
    return tuple(modes)
