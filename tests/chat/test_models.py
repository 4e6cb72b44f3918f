"""The model catalogue: names parse by grammar, case-insensitively, and unknown names are refused."""

from __future__ import annotations

import pytest

from deepseek_free_api.chat.models import ModelSpec, list_models, parse_model
from deepseek_free_api.errors import ModelNotFoundError

# name -> (model_type, thinking, search, silent, fold)
ORIGINAL_NAMES = {
    "deepseek": ("default", False, False, False, False),
    "deepseek-chat": ("default", False, False, False, False),
    "deepseek-coder": ("default", False, False, False, False),
    "deepseek-think": ("default", True, False, False, False),
    "deepseek-r1": ("default", True, False, False, False),
    "deepseek-search": ("default", False, True, False, False),
    "deepseek-r1-search": ("default", True, True, False, False),
    "deepseek-think-search": ("default", True, True, False, False),
    "deepseek-r1-silent": ("default", True, False, True, False),
    "deepseek-search-silent": ("default", False, True, True, False),
    "deepseek-think-fold": ("default", True, False, False, True),
    "deepseek-r1-fold": ("default", True, False, False, True),
    "deepseek-reasoner": ("default", True, False, False, False),
}

V4_NAMES = {
    "deepseek-v4-flash": ("default", True, False, False, False),
    "deepseek-v4-pro": ("expert", True, False, False, False),
    "deepseek-v4-vision": ("vision", True, False, False, False),
    "deepseek-v4-flash-nothinking": ("default", False, False, False, False),
    "deepseek-v4-pro-search": ("expert", True, True, False, False),
    "deepseek-v4-pro-search-nothinking": ("expert", False, True, False, False),
    "deepseek-v4-pro-nothinking-search": ("expert", False, True, False, False),
    "deepseek-v4-vision-silent-search": ("vision", True, True, True, False),
    "deepseek-v4-flash-fold-search": ("default", True, True, False, True),
    "deepseek-v4-pro-nothinking-silent": ("expert", False, False, True, False),
}


def flags(spec: ModelSpec) -> tuple[str, bool, bool, bool, bool]:
    return (spec.model_type, spec.thinking, spec.search, spec.silent, spec.fold)


@pytest.mark.parametrize(("name", "expected"), sorted({**ORIGINAL_NAMES, **V4_NAMES}.items()))
def test_every_known_name_parses_to_its_flags(
    name: str, expected: tuple[str, bool, bool, bool, bool]
) -> None:
    spec = parse_model(name)
    assert flags(spec) == expected
    assert spec.name == name


def test_names_are_case_insensitive_and_keep_the_spelling_asked_for() -> None:
    spec = parse_model("DeepSeek-R1-Search")
    assert flags(spec) == ORIGINAL_NAMES["deepseek-r1-search"]
    assert spec.name == "DeepSeek-R1-Search"
    assert flags(parse_model("DEEPSEEK-V4-PRO-NOTHINKING")) == ("expert", False, False, False, False)


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4o",
        "deepseek-think-think",  # duplicate
        "deepseek-search-search",
        "deepseek-think-r1",  # both mean thinking on
        "deepseek-reasoner-think",  # already thinks
        "deepseek-v4-pro-think",
        "deepseek-chat-nothinking",  # does not think anyway
        "deepseek-v4-flash-nothinking-think",
        "deepseek-r1-silent-fold",  # hide and fold at once
        "deepseek-search-fold",  # fold without thinking
        "deepseek-v4-flash-nothinking-fold",
        "deepseek-v4",
        "deepseek-v4-ultra",
        "deepseek--search",
        "deepseek-search-",
        "my-deepseek-search",
        "deepseek-thinker",  # substring sniffing would have switched thinking on
        "",
    ],
)
def test_unknown_or_contradictory_names_are_not_found(name: str) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        parse_model(name)
    assert info.value.model == name
    assert info.value.code == "model_not_found"
    assert repr(name) in str(info.value) or name in str(info.value)


def test_the_models_list_has_the_original_names_and_the_v4_bases_and_all_parse() -> None:
    ids = [info.id for info in list_models()]
    assert set(ORIGINAL_NAMES) <= set(ids)
    assert {"deepseek-v4-flash", "deepseek-v4-pro", "deepseek-v4-vision", "deepseek-v4-pro-search"} <= set(
        ids
    )
    assert len(ids) == len(set(ids))
    assert len(ids) < 40  # readable in a model picker, not every combination
    for model_id in ids:
        parse_model(model_id)


def test_models_list_entries_are_stable() -> None:
    assert list_models() == list_models()
    first = list_models()[0]
    assert first.created > 0 and first.owned_by
