"""Phone parsing: one E.164 form for every spelling of a number, and a clear refusal for anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.phones import normalize_phone, place_of, region_of, timezones_of

NEW_YORK = "+12125551234"


@pytest.mark.parametrize(
    "raw",
    [
        "+12125551234",
        "(212) 555-1234",
        "+1 212-555-1234",
        "+1 (212) 555-1234",
        "+1.212.555.1234",
        "212.555.1234",
        "212/555-1234",
        "2125551234",
        # NANP's trunk prefix is 1, so eleven digits starting with 1 are the same number dialled nationally.
        "12125551234",
        "1 (212) 555-1234",
        # 011 is the US international prefix.
        "011 1 212 555 1234",
        # As it arrives in a URL path: /subscribers/%2B12125551234.
        "%2B12125551234",
        "%2B1%20212%20555%201234",
        "  +12125551234\n",
        "\t(212) 555-1234 ",
        "+1\u00a0212\u00a0555\u00a01234",  # non-breaking spaces, pasted from a web page
    ],
)
def test_every_spelling_of_one_number_normalises_to_the_same_e164(raw: str) -> None:
    assert normalize_phone(raw) == NEW_YORK


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("011 44 20 7946 0958", "+442079460958"),
        ("+33 6 12 34 56 78", "+33612345678"),
    ],
)
def test_international_numbers_keep_their_country(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


def test_default_region_decides_national_numbers() -> None:
    assert normalize_phone("020 7946 0958", default_region="GB") == "+442079460958"
    with pytest.raises(InvalidInput):
        normalize_phone("020 7946 0958")  # not a US number


def _refused(raw: object, **kwargs: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        normalize_phone(raw, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_phone"
    assert caught.value.message  # something a person can act on
    return caught.value


@pytest.mark.parametrize("raw", [None, 12125551234, 2.5, b"+12125551234", ["+12125551234"], {"phone": "+1"}, True])
def test_non_strings_are_refused(raw: object) -> None:
    _refused(raw)


@pytest.mark.parametrize("raw", ["", " ", "\n\t", "%20"])
def test_empty_is_refused(raw: str) -> None:
    _refused(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "+",
        "++12125551234",
        "phone",
        "%",
        "%%2B",
        "+1212555123",  # one digit short
        "+121255512345",  # one digit long
        "+1 212 555 12345",
        "0044 20 7946 0958",  # 00 is not the US international prefix
        "+0 212 555 1234",
        "+999 1234567",
        "%252B12125551234",  # double-encoded: decoded once only
        # phonenumbers would dig a number out of each of these; a phone field must hold only a phone.
        "call me at 2125551234",
        "2125551234 please",
        "+1 212 555 1234 ext 99",
        "212 555 1234 x",
        "2125551234;ext=5",
        "tel:+12125551234",
        "212-555-CALL",
        "1-800-FLOWERS",
        "+12125551234\x00",
        "+1 (212) 555-1234 \u202e",  # right-to-left override
        "+1 212\n555 1234",
        "２１２５５５１２３４",  # full-width digits
        "+1-212-555-1234%",
        "<script>2125551234</script>",
        "2125551234' OR '1'='1",
    ],
)
def test_garbage_is_refused(raw: str) -> None:
    _refused(raw)


@pytest.mark.parametrize("raw", ["1" * 33, "+1 212 555 1234" + " " * 20 + "0", "%2B" + "1" * 40])
def test_too_long_is_refused(raw: str) -> None:
    _refused(raw)


def test_padding_does_not_count_towards_the_length_limit() -> None:
    assert normalize_phone(" " * 100 + NEW_YORK + " " * 100) == NEW_YORK


@pytest.mark.parametrize("raw", ["+15551230000", "+1 555 123 4567", "(555) 123-0000", "%2B15551230000"])
def test_fictional_555_numbers_need_allow_fictional(raw: str) -> None:
    _refused(raw)
    assert normalize_phone(raw, allow_fictional=True).startswith("+1555")


def test_allow_fictional_opens_only_the_555_area_code() -> None:
    assert normalize_phone("+15551230000", allow_fictional=True) == "+15551230000"
    _refused("+15551230", allow_fictional=True)  # not even a possible number
    _refused("+1555123000000", allow_fictional=True)
    _refused("+11231234567", allow_fictional=True)  # area codes never start with 1
    _refused("+1 999 123 4567", allow_fictional=True)  # invalid, and not 555


def test_real_numbers_still_pass_with_allow_fictional() -> None:
    assert normalize_phone("(212) 555-1234", allow_fictional=True) == NEW_YORK


@given(st.text(max_size=40))
def test_any_text_either_normalises_to_e164_or_is_refused(raw: str) -> None:
    try:
        result = normalize_phone(raw, allow_fictional=True)
    except InvalidInput as exc:
        assert exc.code == "invalid_phone"
        return
    assert result.startswith("+")
    assert result[1:].isdigit() and result[1:].isascii()
    assert 8 <= len(result) <= 16
    # Normalising is idempotent: the E.164 form is its own normal form.
    assert normalize_phone(result, allow_fictional=True) == result


@given(st.from_regex(r"\+1[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True))
def test_normalise_is_idempotent_on_e164(raw: str) -> None:
    try:
        once = normalize_phone(raw)
    except InvalidInput:
        return  # an unassigned area code
    assert once == raw
    assert normalize_phone(once) == once


def test_timezones_of_a_single_zone_number() -> None:
    assert timezones_of(NEW_YORK) == ("America/New_York",)
    assert timezones_of("+18085551234") == ("Pacific/Honolulu",)
    assert timezones_of("+442079460958") == ("Europe/London",)


def test_timezones_of_a_multi_zone_number_lists_every_zone() -> None:
    zones = timezones_of("+18005550100")  # toll-free: anywhere in the NANP
    assert len(zones) > 1
    assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"} <= set(zones)
    ru = timezones_of("+79161234567")
    assert len(ru) > 1 and "Europe/Moscow" in ru


def test_timezones_of_an_unknown_number_is_empty_not_etc_unknown() -> None:
    assert timezones_of("+15551230000") == ()


@pytest.mark.parametrize("e164", [NEW_YORK, "+18005550100", "+79161234567", "+15551230000"])
def test_timezones_are_real_iana_names(e164: str) -> None:
    from zoneinfo import ZoneInfo

    for zone in timezones_of(e164):
        assert zone != "Etc/Unknown"
        ZoneInfo(zone)


def test_region_and_place() -> None:
    assert region_of(NEW_YORK) == "US"
    assert region_of("+442079460958") == "GB"
    assert region_of("+15551230000") is None
    assert "New York" in place_of(NEW_YORK)
    assert place_of("+15551230000") == ""
