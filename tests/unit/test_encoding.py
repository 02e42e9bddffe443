"""SMS encoding and segment counting, checked against GSM 03.38 / 3GPP 23.038 and 23.040 by hand.

The numbers: a single SMS carries 140 octets. GSM-7 packs 7 bits a character: 140 * 8 / 7 = 160. A part of a
concatenated message spends 6 octets on the user data header (length, IEI, IEDL, reference, total, index),
leaving 134 octets = 1072 bits, i.e. 153 whole septets. UCS-2 spends 2 octets a code unit: 140 / 2 = 70 and
134 / 2 = 67. An extension-table character is ESC + septet (2 septets) and a character outside the BMP is a
surrogate pair (2 code units); a handset cannot rebuild either if a part boundary cuts it, so it moves whole.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.encoding import MAX_CHARACTERS, MAX_PARTS, Encoding, fits, measure

# The GSM 03.38 default alphabet as the spec prints it: 8 columns of 16 (column = high nibble). ESC (0x1B)
# leads into the extension table and is not a character of its own; it is written here as None.
_COLUMNS: list[list[str | None]] = [
    ["@", "Δ", " ", "0", "¡", "P", "¿", "p"],
    ["£", "_", "!", "1", "A", "Q", "a", "q"],
    ["$", "Φ", '"', "2", "B", "R", "b", "r"],
    ["¥", "Γ", "#", "3", "C", "S", "c", "s"],
    ["è", "Λ", "¤", "4", "D", "T", "d", "t"],
    ["é", "Ω", "%", "5", "E", "U", "e", "u"],
    ["ù", "Π", "&", "6", "F", "V", "f", "v"],
    ["ì", "Ψ", "'", "7", "G", "W", "g", "w"],
    ["ò", "Σ", "(", "8", "H", "X", "h", "x"],
    ["Ç", "Θ", ")", "9", "I", "Y", "i", "y"],
    ["\n", "Ξ", "*", ":", "J", "Z", "j", "z"],
    ["Ø", None, "+", ";", "K", "Ä", "k", "ä"],
    ["ø", "Æ", ",", "<", "L", "Ö", "l", "ö"],
    ["\r", "æ", "-", "=", "M", "Ñ", "m", "ñ"],
    ["Å", "ß", ".", ">", "N", "Ü", "n", "ü"],
    ["å", "É", "/", "?", "O", "§", "o", "à"],
]
GSM_BASIC = [ch for row in _COLUMNS for ch in row if ch is not None]
# The extension table: form feed, ^ { } \ [ ~ ] | and the euro sign.
GSM_EXTENSION = ["\f", "^", "{", "}", "\\", "[", "~", "]", "|", "€"]

EMOJI = "😀"  # U+1F600: outside the BMP, a surrogate pair in UTF-16
NON_GSM = "á"  # BMP, not in the GSM alphabet (only à è é ù ì ò carry accents there)


def test_the_reference_alphabet_is_complete() -> None:
    assert len(GSM_BASIC) == 127 and len(set(GSM_BASIC)) == 127


@pytest.mark.parametrize("ch", GSM_BASIC)
def test_every_basic_gsm_character_is_one_septet(ch: str) -> None:
    shape = measure(ch)
    assert (shape.encoding, shape.units, shape.parts, shape.characters) == (Encoding.GSM7, 1, 1, 1)


@pytest.mark.parametrize("ch", GSM_EXTENSION)
def test_every_extension_character_is_two_septets(ch: str) -> None:
    shape = measure(ch)
    assert (shape.encoding, shape.units, shape.parts, shape.characters) == (Encoding.GSM7, 2, 1, 1)


@pytest.mark.parametrize(
    "ch",
    [
        "á",
        "í",
        "ó",
        "ú",
        "â",
        "ê",
        "ç",
        "ã",
        "õ",
        "Á",
        "È",
        "œ",
        "’",
        "‘",
        "“",
        "”",
        "…",
        "–",
        "—",  # smart punctuation from phones and word processors
        "`",
        "\t",
        "\u00a0",
        "\u200b",
        "\x1b",  # ESC alone is not a character
        "Α",  # Greek capital alpha: looks like A, is not the GSM A
        "д",
        "中",
        "ا",
        "™",
        "©",
        "•",
        EMOJI,
    ],
)
def test_anything_outside_the_gsm_alphabet_makes_the_message_ucs2(ch: str) -> None:
    assert measure("Hello " + ch).encoding is Encoding.UCS2


def test_empty_text_is_zero_parts() -> None:
    shape = measure("")
    assert (shape.characters, shape.units, shape.parts) == (0, 0, 0)


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4), (1530, 10), (1531, 11)],
)
def test_gsm7_boundaries(length: int, parts: int) -> None:
    shape = measure("a" * length)
    assert shape.encoding is Encoding.GSM7
    assert (shape.units, shape.parts) == (length, parts)


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4), (670, 10), (671, 11)],
)
def test_ucs2_boundaries(length: int, parts: int) -> None:
    shape = measure(NON_GSM * length)
    assert shape.encoding is Encoding.UCS2
    assert (shape.units, shape.parts) == (length, parts)


def test_one_ucs2_character_turns_the_whole_message_ucs2() -> None:
    assert measure("a" * 69 + "’").parts == 1
    assert measure("a" * 70 + "’").parts == 2  # 71 GSM characters would have been 1 part
    assert measure("a" * 160).parts == 1 and measure("a" * 159 + "’").parts == 3


def test_extension_characters_count_two_against_the_single_part_limit() -> None:
    assert measure("€" * 80).parts == 1  # 160 septets
    assert measure("€" * 80 + "a").parts == 2
    assert measure("a" * 158 + "[").parts == 1
    assert measure("a" * 159 + "[").parts == 2
    assert measure("{" * 5).units == 10


def test_an_escape_pair_is_never_split_across_parts() -> None:
    # Part 1 holds 152 'a'; the euro (2 septets) would end at septet 154, so it opens part 2 instead.
    # 306 septets fit two parts by arithmetic, but not when the pair moves whole: three parts.
    text = "a" * 152 + "€" + "a" * 152
    shape = measure(text)
    assert shape.units == 306
    assert shape.parts == 3
    # With the pair moved one septet left it fits exactly: 151 + 2 = 153, then 153.
    assert measure("a" * 151 + "€" + "a" * 153).parts == 2


def test_extension_characters_packed_into_parts() -> None:
    # 76 euros fill 152 of a part's 153 septets; the 77th opens the next part.
    assert measure("€" * 153).parts == 3  # 76 + 76 + 1
    assert measure("€" * 152).parts == 2


def test_extension_characters_count_one_in_ucs2() -> None:
    shape = measure("€" * 69 + NON_GSM)
    assert (shape.encoding, shape.units, shape.parts) == (Encoding.UCS2, 70, 1)


def test_emoji_are_two_ucs2_units() -> None:
    shape = measure(EMOJI)
    assert (shape.encoding, shape.characters, shape.units, shape.parts) == (Encoding.UCS2, 1, 2, 1)
    assert measure(EMOJI * 35).parts == 1  # 70 units
    assert measure(EMOJI * 35 + "a").parts == 2
    # Multipart: 33 pairs take 66 of 67 units; the 34th pair opens a new part.
    assert measure(EMOJI * 36).parts == 2
    assert measure(EMOJI * 66).parts == 2
    assert measure(EMOJI * 67).parts == 3


def test_a_surrogate_pair_is_never_split_across_parts() -> None:
    # 134 units fit two 67-unit parts by arithmetic; the pair at units 67-68 moves whole, so three.
    text = "a" * 66 + EMOJI + "a" * 66
    assert measure(text).units == 134
    assert measure(text).parts == 3
    assert measure("a" * 65 + EMOJI + "a" * 67).parts == 2


def test_grapheme_clusters_count_every_code_unit() -> None:
    family = "👨\u200d👩\u200d👧"  # man ZWJ woman ZWJ girl: 2 + 1 + 2 + 1 + 2
    assert measure(family).units == 8
    assert measure("🇺🇸").units == 4  # a flag is two regional indicators


def test_a_lone_surrogate_is_measured_not_crashed_on() -> None:
    # JSON can carry "\ud83d" on its own; measuring it must not raise UnicodeEncodeError.
    shape = measure("a\ud83db")
    assert (shape.encoding, shape.units, shape.parts) == (Encoding.UCS2, 3, 1)


def test_fits_at_ten_parts() -> None:
    assert MAX_PARTS == 10 and MAX_CHARACTERS == 1600
    assert fits("a" * 1530)
    assert not fits("a" * 1531)
    assert fits(NON_GSM * 670)
    assert not fits(NON_GSM * 671)
    assert fits(EMOJI * 330)  # 33 pairs a part
    assert not fits(EMOJI * 331)


def test_fits_at_1600_characters_even_when_more_parts_are_allowed() -> None:
    assert fits("a" * 1600, max_parts=11)
    assert not fits("a" * 1601, max_parts=11)
    assert not fits("a" * 1601, max_parts=1000)


@pytest.mark.parametrize(
    ("text", "max_parts", "expected"),
    [
        ("a" * 160, 1, True),
        ("a" * 161, 1, False),
        ("a" * 306, 2, True),
        ("a" * 307, 2, False),
        (NON_GSM * 134, 2, True),
        (NON_GSM * 135, 2, False),
    ],
)
def test_fits_with_a_part_limit(text: str, max_parts: int, expected: bool) -> None:
    assert fits(text, max_parts=max_parts) is expected


_ANY_SMS = st.text(alphabet=st.sampled_from(["a", "€", "[", NON_GSM, EMOJI, "é", " ", "\n"]), max_size=400)


@given(_ANY_SMS)
def test_segment_count_is_consistent_with_part_sizes(text: str) -> None:
    shape = measure(text)
    assert shape.characters == len(text)
    single, multi = (160, 153) if shape.encoding is Encoding.GSM7 else (70, 67)
    if shape.units == 0:
        assert shape.parts == 0
    elif shape.units <= single:
        assert shape.parts == 1
    else:
        # Every part is at most full, and an unsplittable pair wastes at most one unit a part.
        assert shape.units <= shape.parts * multi
        assert shape.units > (shape.parts - 1) * (multi - 1)


@given(_ANY_SMS, st.sampled_from(["a", "€", NON_GSM, EMOJI]))
def test_adding_a_character_never_makes_a_message_cheaper(text: str, extra: str) -> None:
    assert measure(text + extra).parts >= measure(text).parts


@given(st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXTENSION), max_size=200))
def test_gsm_text_units_are_septets(text: str) -> None:
    shape = measure(text)
    assert shape.encoding is Encoding.GSM7
    assert shape.units == len(text) + sum(ch in GSM_EXTENSION for ch in text)
