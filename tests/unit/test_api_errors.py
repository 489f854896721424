"""The API's 422 replies and text bounds: short, escaped, always encodable, naming the field."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_monitor.api.errors import EXCERPT_CHARS, error_entry, excerpt, validation_error_response
from batch_monitor.api.limits import clean_text

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=300)  # NUL and lone surrogates included
ANY_INPUT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT | st.binary(max_size=100),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(ANY_TEXT)
def test_an_excerpt_is_short_printable_and_encodable(text: str) -> None:
    shown = excerpt(text)
    shown.encode("utf-8")
    assert all(ch.isprintable() for ch in shown)
    assert len(shown) <= 4 * EXCERPT_CHARS + 40  # each shown char escaped at most as \\Uxxxxxxxx, plus the length
    if len(text) > EXCERPT_CHARS:
        assert shown.endswith(f"({len(text):,} characters)")
    elif all(ch.isprintable() for ch in text):
        assert shown == text


@given(loc=st.lists(ANY_TEXT | st.integers(0, 10), min_size=1, max_size=3), value=ANY_INPUT, msg=ANY_TEXT)
def test_any_refused_input_gives_a_short_json_reply_that_keeps_the_field(
    loc: list[object], value: object, msg: str
) -> None:
    response = validation_error_response([{"type": "value_error", "loc": ("query", *loc), "msg": msg, "input": value}])
    assert response.status_code == 422
    assert len(response.body) < 2_500
    [entry] = json.loads(response.body)["detail"]
    assert entry["loc"][0] == "query" and len(entry["loc"]) == len(loc) + 1
    assert entry["loc"][1:] == [p if isinstance(p, int) else excerpt(str(p)) for p in loc]


def test_numbers_stay_numbers_and_the_rest_becomes_an_excerpt() -> None:
    entry = error_entry(
        {"type": "t", "loc": ("body", "comment"), "msg": "m", "input": 7, "ctx": {"error": ValueError("x")}}
    )
    assert (entry["input"], entry["ctx"]) == (7, {"error": "x"})
    assert error_entry({"loc": (), "input": math.inf})["input"] == "inf"
    assert error_entry({"loc": (), "input": {"comment": "x" * 10_000}})["input"].endswith("(10,015 characters)")


@pytest.mark.parametrize("text", ["a\x00b", "\x00", "x\ud800y", "\udfff"])
def test_text_with_nul_or_a_lone_surrogate_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"NUL|surrogate"):
        clean_text(text)


@given(st.text())  # hypothesis' default: no lone surrogates
def test_other_text_passes_unchanged(text: str) -> None:
    if "\x00" not in text:
        assert clean_text(text) == text
