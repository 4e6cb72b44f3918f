"""The public model names that stand for a DeepSeek model: ``claude-*`` families and ``gpt-*``.

Checked when the app is made (a wrong ``chat.claude_*_model`` or ``chat.gpt_model`` fails at
start-up), without the dialects' request models, which load on their first request.
"""

from __future__ import annotations

from dataclasses import dataclass

from deepseek_free_api.chat.models import ModelSpec, parse_model
from deepseek_free_api.errors import ModelNotFoundError
from deepseek_free_api.settings import ChatSettings, ConfigError


@dataclass(frozen=True, slots=True)
class ClaudeModels:
    """Which DeepSeek model answers for a ``claude-*`` name, by family (``chat.claude_*_model``)."""

    opus: str = "deepseek-v4-pro"
    sonnet: str = "deepseek-v4-flash"
    haiku: str = "deepseek-chat"

    def __post_init__(self) -> None:
        for target in (self.opus, self.sonnet, self.haiku):
            parse_model(target)  # a wrong target fails at startup, not on the first request

    @classmethod
    def from_settings(cls, chat: ChatSettings) -> ClaudeModels:
        """The map from ``chat.claude_*_model``; ConfigError names a target that is no model name."""
        for family in ("opus", "sonnet", "haiku"):
            key = f"claude_{family}_model"
            try:
                parse_model(getattr(chat, key))
            except ModelNotFoundError as exc:
                raise ConfigError(f"chat.{key}", exc.message) from exc
        return cls(chat.claude_opus_model, chat.claude_sonnet_model, chat.claude_haiku_model)

    def resolve(self, name: str) -> ModelSpec:
        """The model for a public name: a Claude family by its target, anything else as itself."""
        lowered = name.strip().lower()
        if not lowered.startswith("claude"):
            return parse_model(name)
        # Names without a known family (claude-2.1, claude-instant-1.2) get the everyday default.
        family = next((f for f in ("opus", "haiku") if f in lowered), "sonnet")
        return parse_model(getattr(self, family))


def gpt_model_from_settings(chat: ChatSettings) -> str:
    """``chat.gpt_model``, checked; ConfigError if it is no model name of the catalogue."""
    try:
        parse_model(chat.gpt_model)
    except ModelNotFoundError as exc:
        raise ConfigError("chat.gpt_model", exc.message) from exc
    return chat.gpt_model
