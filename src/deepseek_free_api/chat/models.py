"""The model catalogue: public model names parsed into what to ask DeepSeek for.

A name is a base plus suffix tokens, separated by ``-``, compared case-insensitively::

    name   := base ("-" suffix)*
    base   := deepseek | deepseek-chat | deepseek-coder | deepseek-reasoner
            | deepseek-v4-flash | deepseek-v4-pro | deepseek-v4-vision
    suffix := think | r1 | nothinking | search | silent | fold

The original server (DFA 0.0.21) found modes by substring (``"think" in name``), so a name like
``my-search-thinker`` switched modes by accident; here a name either parses or is unknown.

Suffixes combine in any order and a repeated or redundant one is harmless (``-think`` on a base
that already thinks, ``-nothinking`` on one that does not). Thinking is the base's default unless
``think``/``r1`` (on) or ``nothinking`` (off) says otherwise; asking for both is the only conflict.
``silent`` (hide reasoning and the search list) wins over ``fold`` (reasoning inside ``<details>``
in the content), and ``fold`` does nothing without thinking. V4 names (DS2-go
``internal/config/models.go``, 2026-05) think by default; the legacy names do not, except
``deepseek-reasoner``. A name outside the grammar is a 404 that says which part is wrong.
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


_THINKING_ON = frozenset({"think", "r1"})

VALID_FORMS = (
    "a base ("
    + ", ".join(sorted(_BASES))
    + ") followed by any of the suffixes "
    + ", ".join("-" + suffix for suffix in sorted(_SUFFIXES))
    + " in any order, without both -think/-r1 and -nothinking"
)


def _split(lowered: str) -> tuple[str, list[str]] | None:
    for base in _BASES_LONGEST_FIRST:
        if lowered == base:
            return base, []
        if lowered.startswith(base + "-"):
            return base, lowered[len(base) + 1 :].split("-")
    return None


def _not_found(name: str, problem: str) -> ModelNotFoundError:
    error = ModelNotFoundError(name)
    # The name is shortened: a client must not get a megabyte of its own input echoed back.
    error.message = f"The model {_shown(name)} does not exist: {problem}. Valid model names are {VALID_FORMS}"
    error.args = (error.message,)
    return error


def _shown(part: str) -> str:
    return repr(part if len(part) <= 64 else part[:64] + "…")


def parse_model(name: str) -> ModelSpec:
    """Parse a public model name; ``ModelNotFoundError`` says which part is wrong if it is not valid."""
    split = _split(name.strip().lower())
    if split is None:
        raise _not_found(name, "it does not start with a known base")
    base_name, tokens = split
    if "" in tokens:
        raise _not_found(name, "it has an empty suffix ('--' or a trailing '-')")
    if base_name == "deepseek" and tokens[:1] == ["v4"]:
        raise _not_found(name, "'deepseek-v4' must be followed by -flash, -pro or -vision")
    unknown = [token for token in tokens if token not in _SUFFIXES]
    if unknown:
        raise _not_found(name, f"unknown suffix {_shown('-' + unknown[0])} after base '{base_name}'")
    suffixes = set(tokens)
    base = _BASES[base_name]
    wants_on, wants_off = bool(suffixes & _THINKING_ON), "nothinking" in suffixes
    if wants_on and wants_off:
        on = "-think" if "think" in suffixes else "-r1"
        raise _not_found(name, f"'{on}' turns thinking on and '-nothinking' turns it off")
    thinking = wants_on or (base.thinking and not wants_off)
    silent = "silent" in suffixes
    return ModelSpec(
        name=name,
        model_type=base.model_type,
        thinking=thinking,
        search="search" in suffixes,
        silent=silent,
        fold="fold" in suffixes and thinking and not silent,
    )


def list_models() -> list[ModelInfo]:
    """The names advertised by ``GET /v1/models``: the seed's names, then V4 bases and common combos.

    Every other valid combination (e.g. ``deepseek-v4-pro-search-fold``) is accepted but not listed,
    so the list stays readable in model pickers.
    """
    names = list(_LEGACY_NAMES)
    names += [base + variant for base in _V4_BASES for variant in _V4_VARIANTS]
    return [ModelInfo(id=name) for name in names]
