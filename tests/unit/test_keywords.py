"""Keyword classification: STOP and friends always win, matching is on the whole message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.keywords import RESERVED_WORDS, Intent, canonical, classify, validate_join_keyword

# DESIGN invariant 1, typed out again here so that a word dropped from the code fails a test.
STOP_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT-OUT", "REMOVE", "ARRET", "TD"]
START_WORDS = ["START", "UNSTOP"]
CONFIRM_WORDS = ["Y", "YES"]


def _spellings(word: str) -> list[str]:
    """The ways a phone keyboard sends one word: any case, padded, with a trailing full stop or bang."""
    return [
        word,
        word.lower(),
        word.capitalize(),
        "".join(ch.lower() if i % 2 else ch for i, ch in enumerate(word)),
        f"  {word.lower()} ",
        f"\n{word}\n",
        f"\t{word}\t\r\n",
        f"\u00a0{word}\u00a0",
        f"{word.capitalize()}.",
        f"{word}!",
        f"{word}!!!",
        f"{word} !",
        f"{word}?",
        f"  {word.lower()}.\n",
    ]


@pytest.mark.parametrize("text", [s for w in STOP_WORDS for s in _spellings(w)])
@pytest.mark.parametrize("join_keyword", [None, "JOIN"])
def test_every_stop_synonym_in_any_spelling_opts_out(text: str, join_keyword: str | None) -> None:
    assert classify(text, join_keyword=join_keyword) is Intent.OPT_OUT


@pytest.mark.parametrize("text", [s for w in START_WORDS for s in _spellings(w)])
def test_start_and_unstop_opt_back_in(text: str) -> None:
    assert classify(text, join_keyword="JOIN") is Intent.OPT_IN


@pytest.mark.parametrize("text", _spellings("HELP") + _spellings("INFO"))
def test_help_is_answered(text: str) -> None:
    assert classify(text, join_keyword="JOIN") is Intent.HELP


@pytest.mark.parametrize("text", [s for w in CONFIRM_WORDS for s in _spellings(w)])
def test_y_and_yes_confirm(text: str) -> None:
    assert classify(text, join_keyword="JOIN") is Intent.CONFIRM


@pytest.mark.parametrize(
    "text",
    [
        "stop sending me these",
        "please stop",
        "STOP STOP",
        "S T O P",
        "STOPP",
        "STO",
        "non-stop deals?",
        "I want to unsubscribe",
        "cancel my order",
        "the END",
        "yes please",
        "Yes, what time do you open?",
        "yeah",
        "help me find my size",
        "start my order",
        '"STOP"',
        "!STOP",
        ".stop",
        "",
        "   ",
        ".",
        "!!!",
        "🛑",
        "Hi, is the blue one back in stock?",
    ],
)
def test_anything_but_the_whole_message_is_a_plain_message(text: str) -> None:
    assert classify(text, join_keyword="JOIN") is Intent.MESSAGE


@pytest.mark.parametrize("text", _spellings("JOIN"))
def test_the_shop_keyword_joins_in_any_case(text: str) -> None:
    assert classify(text, join_keyword="JOIN") is Intent.JOIN


def test_the_shop_keyword_is_matched_case_insensitively_on_both_sides() -> None:
    assert classify("deals", join_keyword="DEALS") is Intent.JOIN
    assert classify("DEALS", join_keyword="deals") is Intent.JOIN
    assert classify("deals!", join_keyword="Deals") is Intent.JOIN


def test_the_shop_keyword_matches_only_itself() -> None:
    assert classify("JOIN", join_keyword="DEALS") is Intent.MESSAGE
    assert classify("JOIN", join_keyword=None) is Intent.MESSAGE
    assert classify("JOIN", join_keyword="") is Intent.MESSAGE
    assert classify("join deals", join_keyword="JOIN") is Intent.MESSAGE
    assert classify("JOINS", join_keyword="JOIN") is Intent.MESSAGE


def test_empty_text_never_matches_an_empty_keyword() -> None:
    assert classify("", join_keyword="") is Intent.MESSAGE
    assert classify("!", join_keyword="") is Intent.MESSAGE


@pytest.mark.parametrize("word", STOP_WORDS)
def test_opt_out_wins_over_a_shop_keyword_that_collides_with_it(word: str) -> None:
    # Such a keyword is refused on the way in; old or hand-made data must still never turn STOP into JOIN.
    assert classify(word.lower(), join_keyword=word) is Intent.OPT_OUT


@pytest.mark.parametrize(
    ("text", "expected"),
    [("  stop! ", "STOP"), ("Opt-Out.", "OPT-OUT"), ("a\n\tb", "A B"), ("STOP ?!", "STOP"), ("", ""), ("?!.", "")],
)
def test_canonical(text: str, expected: str) -> None:
    assert canonical(text) == expected


@given(
    st.sampled_from(STOP_WORDS),
    st.text(alphabet=" \t\n\r\u00a0", max_size=5),
    st.text(alphabet=" \t\n", max_size=5),
    st.text(alphabet=".!?,;:", max_size=3),
)
def test_stop_survives_any_padding_and_trailing_punctuation(word: str, left: str, right: str, punctuation: str) -> None:
    for variant in (word, word.lower(), word.title()):
        assert classify(left + variant + punctuation + right, join_keyword="JOIN") is Intent.OPT_OUT


@given(st.text(max_size=30))
def test_classify_never_raises_and_stop_words_only_match_whole(text: str) -> None:
    intent = classify(text, join_keyword="JOIN")
    if intent is Intent.OPT_OUT:
        assert canonical(text) in STOP_WORDS


@pytest.mark.parametrize(
    ("keyword", "expected"), [("JOIN", "JOIN"), ("deals", "DEALS"), (" Vip2026 ", "VIP2026"), ("GO", "GO"), ("A" * 20, "A" * 20)]
)
def test_valid_join_keywords_are_canonical(keyword: str, expected: str) -> None:
    assert validate_join_keyword(keyword) == expected


@pytest.mark.parametrize("keyword", sorted(RESERVED_WORDS) + [w.lower() for w in STOP_WORDS if "-" not in w] + ["Stop.", " yes "])
def test_a_reserved_word_cannot_be_a_keyword(keyword: str) -> None:
    with pytest.raises(ValueError):
        validate_join_keyword(keyword)


def test_every_design_word_is_reserved() -> None:
    assert set(STOP_WORDS + START_WORDS + CONFIRM_WORDS + ["HELP"]) <= RESERVED_WORDS


@pytest.mark.parametrize(
    "keyword", ["", " ", "J", "A" * 21, "JOIN NOW", "JOIN-NOW", "JO_IN", "ÉTÉ", "日本", "JOIN\nSTOP", "😀😀", "JO\u200bIN"]
)
def test_malformed_keywords_are_refused(keyword: str) -> None:
    with pytest.raises(ValueError):
        validate_join_keyword(keyword)
