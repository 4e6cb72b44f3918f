"""The model catalogue: names parse by grammar, case-insensitively, and unknown names are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# Names the README promised ("suffixes combine in any order") and that were 404 before.
REDUNDANT_OR_REORDERED = {
    "deepseek-v4-flash-r1": ("default", True, False, False, False),
    "deepseek-v4-pro-think": ("expert", True, False, False, False),
    "deepseek-reasoner-think": ("default", True, False, False, False),
    "deepseek-chat-nothinking": ("default", False, False, False, False),
    "deepseek-chat-fold": ("default", False, False, False, False),  # nothing to fold
    "deepseek-r1-silent-fold": ("default", True, False, True, False),  # silent wins
    "deepseek-think-think": ("default", True, False, False, False),
    "deepseek-search-search": ("default", False, True, False, False),
    "deepseek-think-r1": ("default", True, False, False, False),
    "deepseek-fold-r1-search": ("default", True, True, False, True),
    "deepseek-v4-flash-nothinking-fold": ("default", False, False, False, False),
}


@pytest.mark.parametrize(("name", "expected"), sorted(REDUNDANT_OR_REORDERED.items()))
def test_redundant_and_reordered_suffixes_are_accepted(
    name: str, expected: tuple[str, bool, bool, bool, bool]
) -> None:
    assert flags(parse_model(name)) == expected


@pytest.mark.parametrize(
    ("name", "wrong_part"),
    [
        ("gpt-4o", "known base"),
        ("deepseek-think-nothinking", "'-think' turns thinking on and '-nothinking' turns it off"),
        ("deepseek-v4-flash-nothinking-r1", "'-r1' turns thinking on"),
        ("deepseek-v4", "'deepseek-v4' must be followed by -flash, -pro or -vision"),
        ("deepseek-v4-ultra", "'deepseek-v4' must be followed by"),
        ("deepseek--search", "empty suffix"),
        ("deepseek-search-", "empty suffix"),
        ("my-deepseek-search", "known base"),
        ("deepseek-thinker", "unknown suffix '-thinker' after base 'deepseek'"),  # no substring sniffing
        ("deepseek-v4-pro-search-turbo", "unknown suffix '-turbo' after base 'deepseek-v4-pro'"),
        ("", "known base"),
    ],
)
def test_a_wrong_name_is_not_found_and_the_error_says_which_part_and_the_valid_forms(
    name: str, wrong_part: str
) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        parse_model(name)
    assert info.value.model == name
    assert info.value.code == "model_not_found"
    assert wrong_part in info.value.message
    assert "deepseek-v4-pro" in info.value.message and "-nothinking" in info.value.message


def test_a_huge_unknown_name_is_not_echoed_back_whole() -> None:
    name = "x" * 1_000_000
    with pytest.raises(ModelNotFoundError) as info:
        parse_model(name)
    assert len(info.value.message) < 1000


BASE_THINKS = {
    "deepseek": False,
    "deepseek-chat": False,
    "deepseek-coder": False,
    "deepseek-reasoner": True,
    "deepseek-v4-flash": True,
    "deepseek-v4-pro": True,
    "deepseek-v4-vision": True,
}
SUFFIXES = ("think", "r1", "nothinking", "search", "silent", "fold")


@given(
    base=st.sampled_from(sorted(BASE_THINKS)),
    suffixes=st.lists(st.sampled_from(SUFFIXES), max_size=7),
    data=st.data(),
)
def test_the_whole_grammar_in_any_order_and_case(base: str, suffixes: list[str], data: st.DataObject) -> None:
    on = "think" in suffixes or "r1" in suffixes
    off = "nothinking" in suffixes
    order = data.draw(st.permutations(suffixes))
    name = "-".join([base, *order])
    name = data.draw(st.sampled_from([name, name.upper(), name.title()]))
    if on and off:
        with pytest.raises(ModelNotFoundError, match="turns thinking on and '-nothinking' turns it off"):
            parse_model(name)
        return
    spec = parse_model(name)
    thinking = on or (BASE_THINKS[base] and not off)
    silent = "silent" in suffixes
    assert spec.thinking == thinking
    assert spec.search == ("search" in suffixes)
    assert spec.silent == silent
    assert spec.fold == ("fold" in suffixes and thinking and not silent)
    assert spec.model_type == {"deepseek-v4-pro": "expert", "deepseek-v4-vision": "vision"}.get(
        base, "default"
    )
    assert flags(parse_model("-".join([base, *suffixes]))) == flags(spec)  # order never matters


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
