"""The patch engine applies DeepSeek's SET / APPEND / BATCH frames exactly (PROTOCOL.md §5.3)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepseek_free_api.upstream import patch
from deepseek_free_api.upstream.patch import PatchError, PatchState, TextBuffer


def applied(*frames: dict[str, Any]) -> PatchState:
    state = PatchState()
    for frame in frames:
        state.apply(frame)
    return state


def snapshot() -> dict[str, Any]:
    return {"v": {"response": {"status": "WIP", "fragments": [{"id": 1, "type": "THINK", "content": "a"}]}}}


def test_first_frame_without_path_or_op_sets_the_whole_state() -> None:
    assert applied(snapshot()).root == snapshot()["v"]


def test_path_and_op_are_sticky() -> None:
    state = applied(
        snapshot(),
        {"p": "response/fragments/-1/content", "o": "APPEND", "v": "b"},
        {"v": "c"},
        {"p": "response/fragments/0/content", "v": "d"},  # inherits APPEND, positive index
    )
    assert state.get("response/fragments/0/content") == "abcd"


def test_op_without_path_reuses_the_path() -> None:
    state = applied(
        {"v": {"response": {"content": ""}}}, {"p": "response/content", "v": "x"}, {"o": "APPEND", "v": "y"}
    )
    assert state.get("response/content") == "xy"


def test_batch_paths_are_relative_and_start_with_a_fresh_sticky_state() -> None:
    state = applied(
        snapshot(),
        {"p": "response/fragments/-1/content", "o": "APPEND", "v": "b"},
        {
            "p": "response",
            "o": "BATCH",
            # "usage" has no o: inside the batch the fresh state says SET, not the outer APPEND.
            "v": [
                {"p": "usage", "v": 5},
                {"p": "fragments", "o": "APPEND", "v": [{"id": 2, "type": "RESPONSE"}]},
            ],
        },
    )
    assert state.get("response/usage") == 5
    assert [f["id"] for f in state.get("response/fragments")] == [1, 2]
    assert state.get("response/fragments/0/content") == "ab"


def test_sub_frames_inherit_the_op_of_earlier_sub_frames() -> None:
    state = applied(
        {"v": {"response": {"fragments": [{"content": "x", "references": [{"id": 1}]}]}}},
        {
            "p": "response/fragments/-1",
            "o": "BATCH",
            "v": [
                {"p": "content", "o": "APPEND", "v": "[reference:1]"},
                {"p": "references", "v": [{"id": 2}]},
            ],
        },
    )
    assert state.get("response/fragments/0/content") == "x[reference:1]"
    assert state.get("response/fragments/0/references") == [{"id": 1}, {"id": 2}]


def test_bare_list_frame_after_a_batch_is_another_batch_on_the_same_path() -> None:
    state = applied(
        {"v": {"response": {"status": "WIP", "fragments": [{"type": "RESPONSE", "content": "hi"}]}}},
        {"p": "response", "o": "BATCH", "v": [{"p": "accumulated_token_usage", "v": 1269}]},
        {
            "v": [
                {"p": "status", "v": "CONTENT_FILTER"},
                {"p": "fragments", "v": [{"type": "TEMPLATE_RESPONSE"}]},
            ]
        },
    )
    assert state.get("response/status") == "CONTENT_FILTER"
    # A SET of an array replaces it: the answer is gone, only the template is left.
    assert state.get("response/fragments") == [{"type": "TEMPLATE_RESPONSE"}]


def test_scalar_after_a_batch_without_op_is_a_set() -> None:
    state = applied(
        {"v": {"response": {"status": "WIP"}}},
        {"p": "response", "o": "BATCH", "v": [{"p": "quasi_status", "v": "INCOMPLETE"}]},
        {"p": "response/status", "v": "INCOMPLETE"},
        {"p": "response/x", "v": "y"},
    )
    assert state.get("response/status") == "INCOMPLETE"
    assert state.get("response/x") == "y"


def test_nested_batch() -> None:
    state = applied(
        {"v": {"response": {"fragments": [{"content": ""}]}}},
        {
            "p": "response",
            "o": "BATCH",
            "v": [{"p": "fragments/-1", "o": "BATCH", "v": [{"p": "content", "o": "APPEND", "v": "z"}]}],
        },
    )
    assert state.get("response/fragments/0/content") == "z"


def test_negative_index_counts_from_the_end() -> None:
    fragments = [{"status": "WIP"} for _ in range(7)]
    state = applied(
        {"v": {"response": {"fragments": fragments}}}, {"p": "response/fragments/-7/status", "v": "FINISHED"}
    )
    assert state.get("response/fragments/0/status") == "FINISHED"
    assert state.get("response/fragments/6/status") == "WIP"


def test_append_to_a_list_pushes_a_value_and_extends_with_a_list() -> None:
    state = applied({"v": {"items": [1]}}, {"p": "items", "o": "APPEND", "v": 2}, {"v": [3, 4]})
    assert state.get("items") == [1, 2, 3, 4]


def test_append_to_null_or_missing_starts_the_value() -> None:
    state = applied(
        {"v": {"response": {"thinking_content": None}}},
        {"p": "response/thinking_content", "o": "APPEND", "v": "a"},
    )
    state.apply({"p": "response/new_field", "v": "b"})
    assert state.get("response/thinking_content") == "a"
    assert state.get("response/new_field") == "b"


def test_set_creates_missing_objects_on_the_way() -> None:
    state = applied({"p": "response/status", "o": "SET", "v": "FINISHED"})
    assert state.root == {"response": {"status": "FINISHED"}}


@pytest.mark.parametrize(
    "frame",
    [
        {"p": "response/fragments/5/content", "o": "APPEND", "v": "x"},  # index out of range
        {"p": "response/fragments/-2/content", "o": "APPEND", "v": "x"},
        {"p": "response/fragments/last/content", "o": "APPEND", "v": "x"},  # not an index
        {"p": "response/fragments/0/content", "o": "APPEND", "v": 3},  # int onto a string
        {"p": "response/fragments", "o": "REMOVE", "v": []},  # unknown op
        {"p": "response/fragments"},  # no value
        {"p": "response", "o": "BATCH", "v": "not a list"},
        {"p": "response/fragments/0/content/x", "v": "through a string"},
    ],
)
def test_frames_that_make_no_sense_raise_patch_error(frame: dict[str, Any]) -> None:
    state = applied({"v": {"response": {"fragments": [{"content": "a"}]}}})
    with pytest.raises(PatchError):
        state.apply(frame)
    assert state.get("response/fragments/0/content") == "a"


def test_appended_text_reads_back_as_plain_strings() -> None:
    state = applied(snapshot(), {"p": "response/fragments/-1/content", "o": "APPEND", "v": "b"}, {"v": "ç"})
    assert state.get("response/fragments/0/content") == "abç"
    assert type(state.get("response/fragments/0/content")) is str
    assert type(state.root["response"]["fragments"][0]["content"]) is str


@given(
    start=st.text(max_size=50),
    pieces=st.lists(st.text(max_size=30), max_size=300),
    offsets=st.lists(st.integers(-5, 10_000), max_size=10),
)
def test_text_buffer_reads_any_suffix_as_the_joined_string_would(
    start: str, pieces: list[str], offsets: list[int]
) -> None:
    buffer = TextBuffer(start)
    for piece in pieces:
        buffer.append(piece)
    whole = start + "".join(pieces)
    assert len(buffer) == len(whole)
    for offset in offsets:
        assert buffer.since(offset % (len(whole) + 2)) == whole[offset % (len(whole) + 2) :]
    assert buffer.since(-1) == whole
    assert str(buffer) == whole
    buffer.append("z")
    assert buffer.since(len(whole)) == "z"


def test_the_path_cache_keeps_a_bounded_amount_of_what_the_upstream_sent() -> None:
    # The cache of split paths outlives every stream; the paths are the upstream's to choose and
    # an SSE line has no length limit: long paths are split every time, not kept.
    long_paths = [f"response/{i}/" + "k" * 10_000 for i in range(300)]
    for path in long_paths:
        state = PatchState()
        assert state.apply({"p": path, "o": "SET", "v": 1}) is None
        assert state.get(path) == 1
    kept = sum(len(path) for path in patch._SPLITS)
    assert kept <= 256 * 128, f"{kept} characters of upstream paths kept"
