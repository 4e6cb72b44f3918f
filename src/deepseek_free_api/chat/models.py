"""The model catalogue: public model names parsed into what to ask DeepSeek for.

A name is a base plus suffix tokens, separated by ``-``, compared case-insensitively::

    name   := base ("-" suffix)*
    base   := deepseek | deepseek-chat | deepseek-coder | deepseek-reasoner
            | deepseek-v4-flash | deepseek-v4-pro | deepseek-v4-vision
    suffix := think | r1 | nothinking | search | silent | fold

The original server (DFA 0.0.21) found modes by substring (``"think" in name``), so a name like
``my-search-thinker`` switched modes by accident; here a name either parses or is unknown.

Rules: each suffix at most once; ``think``/``r1`` (both mean "thinking on") only on bases that do
not already think, ``nothinking`` only on bases that do; ``silent`` (hide thinking and the search
list) and ``fold`` (thinking inside ``<details>`` in the content) exclude each other, and ``fold``
needs thinking. V4 names (DS2-go ``internal/config/models.go``, 2026-05) think by default; the
legacy names do not, except ``deepseek-reasoner``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deepseek_free_api.errors import ModelNotFoundError

ModelType = Literal["default", "expert", "vision"]

# Fixed so /v1/models is stable across restarts: 2024-05-01T00:00:00Z, the seed's first release month.
_CREATED = 1714521600


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A parsed model name: what the completion request must switch on."""

    name: str
    model_type: ModelType
    thinking: bool
    search: bool
    silent: bool = False
    fold: bool = False


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One entry of ``GET /v1/models``."""

    id: str
    created: int = _CREATED
    owned_by: str = "deepseek-free-api"


@dataclass(frozen=True, slots=True)
class _Base:
    model_type: ModelType
    thinking: bool


_BASES: dict[str, _Base] = {
    "deepseek": _Base("default", thinking=False),
    "deepseek-chat": _Base("default", thinking=False),
    "deepseek-coder": _Base("default", thinking=False),
    "deepseek-reasoner": _Base("default", thinking=True),
    # V4 era (2026-04): "flash" is model_type default, "pro" is expert, "vision" is vision.
    "deepseek-v4-flash": _Base("default", thinking=True),
    "deepseek-v4-pro": _Base("expert", thinking=True),
    "deepseek-v4-vision": _Base("vision", thinking=True),
}

# Longest first, so "deepseek-chat" is never read as base "deepseek" plus a "chat" suffix.
_BASES_LONGEST_FIRST = sorted(_BASES, key=len, reverse=True)

_SUFFIXES = frozenset({"think", "r1", "nothinking", "search", "silent", "fold"})

_LEGACY_NAMES = (
    "deepseek",
    "deepseek-chat",
    "deepseek-coder",
    "deepseek-reasoner",
    "deepseek-think",
    "deepseek-r1",
    "deepseek-search",
    "deepseek-r1-search",
    "deepseek-think-search",
    "deepseek-r1-silent",
    "deepseek-search-silent",
    "deepseek-think-fold",
    "deepseek-r1-fold",
)
_V4_BASES = ("deepseek-v4-flash", "deepseek-v4-pro", "deepseek-v4-vision")
_V4_VARIANTS = ("", "-search", "-nothinking", "-nothinking-search")


def _split(lowered: str) -> tuple[str, list[str]] | None:
    for base in _BASES_LONGEST_FIRST:
        if lowered == base:
            return base, []
        if lowered.startswith(base + "-"):
            return base, lowered[len(base) + 1 :].split("-")
    return None


def parse_model(name: str) -> ModelSpec:
    """Parse a public model name; raise ``ModelNotFoundError`` if it is not in the grammar."""
    split = _split(name.strip().lower())
    if split is None:
        raise ModelNotFoundError(name)
    base_name, tokens = split
    suffixes = set(tokens)
    if len(suffixes) != len(tokens) or not suffixes <= _SUFFIXES:
        raise ModelNotFoundError(name)  # duplicate, empty ("a--b") or unknown suffix
    base = _BASES[base_name]
    wants_thinking = suffixes & {"think", "r1"}
    if len(wants_thinking) > 1 or (wants_thinking and base.thinking):
        raise ModelNotFoundError(name)  # "-think-r1", or "-think" on a base that already thinks
    if "nothinking" in suffixes and (not base.thinking or wants_thinking):
        raise ModelNotFoundError(name)
    thinking = bool(wants_thinking) or (base.thinking and "nothinking" not in suffixes)
    silent, fold = "silent" in suffixes, "fold" in suffixes
    if (silent and fold) or (fold and not thinking):
        raise ModelNotFoundError(name)
    return ModelSpec(
        name=name,
        model_type=base.model_type,
        thinking=thinking,
        search="search" in suffixes,
        silent=silent,
        fold=fold,
    )


def list_models() -> list[ModelInfo]:
    """The names advertised by ``GET /v1/models``: the seed's names, then V4 bases and common combos.

    Every other valid combination (e.g. ``deepseek-v4-pro-search-fold``) is accepted but not listed,
    so the list stays readable in model pickers.
    """
    names = list(_LEGACY_NAMES)
    names += [base + variant for base in _V4_BASES for variant in _V4_VARIANTS]
    return [ModelInfo(id=name) for name in names]
