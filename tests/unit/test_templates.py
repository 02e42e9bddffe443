"""Campaign templates: placeholders and fallbacks, the opt-out hint, and the size check against a long name."""

from __future__ import annotations

import pytest

from chalicelib.domain import encoding
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.templates import (
    MAX_MESSAGE_CHARACTERS,
    OPT_OUT_HINT,
    Personal,
    check_fits,
    measure_worst_case,
    render,
    validate_template,
)

ANA = Personal(name="Ana María Lopez", shop_name="Acme")
NOBODY = Personal(name=None, shop_name="Acme")
NON_GSM = "á"  # in the BMP but not in GSM 03.38: forces UCS-2, one unit a character
EMOJI = "🎉"  # outside the BMP: UCS-2 and two units


def _refused(text: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_template(text)
    return caught.value


# --- validate_template --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hi {first_name}, 20% off today at {shop_name}",
        "Hi {first_name|there}!",
        "Dear {name|customer}",
        "{ first_name | there }",
        "Hi {first_name|}",  # an empty fallback: the word just disappears
        "{first_name|" + "x" * 30 + "}",
        "x" * MAX_MESSAGE_CHARACTERS,
        "No placeholders at all",
    ],
)
def test_valid_templates_are_returned_unchanged(text: str) -> None:
    assert validate_template(text) == text


@pytest.mark.parametrize("text", [None, 5, ["Hi"], b"Hi", "", "   ", "\n\t"])
def test_empty_or_non_text_is_refused(text: object) -> None:
    assert _refused(text).code == "invalid_message"


@pytest.mark.parametrize("text", ["{first_name}", "{name|}", " {first_name|  } {name} ", "{first_name|\n}"])
def test_a_message_that_is_only_a_name_is_refused(text: str) -> None:
    # A subscriber without a name would get a blank body, which the provider refuses.
    assert _refused(text).code == "invalid_message"


def test_over_the_character_limit_is_refused() -> None:
    assert _refused("x" * (MAX_MESSAGE_CHARACTERS + 1)).code == "message_too_long"


@pytest.mark.parametrize(
    "text",
    [
        "Hi {frist_name}",
        "Hi {}",
        "Hi {FIRST_NAME}",
        "{email}",
        "{first_name.upper}",
        "{__class__}",
        "{ | there}",
        "{there|first_name}",
    ],
)
def test_unknown_placeholders_are_refused(text: str) -> None:
    error = _refused(text)
    assert error.code == "invalid_placeholder" and "unknown placeholder" in error.message


@pytest.mark.parametrize(
    "text",
    [
        "Hi {first_name",
        "Hi first_name}",
        "Hi }first_name{",  # as many { as }, in the wrong order
        "{{first_name}}",  # would reach the phone as "{Ana}"
        "{first_name}}{",
        "{first_name|{shop_name}}",
        "Sale {",
        "} Sale",
    ],
)
def test_unbalanced_braces_are_refused(text: str) -> None:
    assert _refused(text).code == "invalid_placeholder"


def test_a_fallback_over_thirty_characters_is_refused() -> None:
    error = _refused("Hi {first_name|" + "x" * 31 + "}")
    assert error.code == "invalid_placeholder" and "fallback" in error.message


# --- render -------------------------------------------------------------------------------------------------------


def test_first_name_with_and_without_a_name() -> None:
    assert render("Hi {first_name|there}!", ANA, opt_out_hint=False) == "Hi Ana!"
    assert render("Hi {first_name|there}!", NOBODY, opt_out_hint=False) == "Hi there!"
    assert render("Hi {first_name|there}!", Personal(name=""), opt_out_hint=False) == "Hi there!"
    assert render("Hi {name|there}, from {shop_name}", ANA, opt_out_hint=False) == "Hi Ana María Lopez, from Acme"


@pytest.mark.parametrize("blank", [" ", "   ", "\t", "\n", "\u00a0", " \u2003 "])
def test_a_whitespace_only_name_is_no_name(blank: str) -> None:
    who = Personal(name=blank, shop_name="Acme")
    assert who.first_name is None
    assert render("Hi {first_name|there}!", who, opt_out_hint=False) == "Hi there!"
    assert render("Dear {name|customer},", who, opt_out_hint=False) == "Dear customer,"


def test_a_name_with_surrounding_spaces_is_trimmed() -> None:
    who = Personal(name="  Ana  Lopez ")
    assert render("Hi {first_name}!", who, opt_out_hint=False) == "Hi Ana!"
    assert render("Dear {name}.", who, opt_out_hint=False) == "Dear Ana  Lopez."


def test_no_name_and_no_fallback_leaves_nothing_and_no_braces() -> None:
    assert render("Hi {first_name}, sale!", NOBODY, opt_out_hint=False) == "Hi , sale!"
    assert render("{shop_name} sale", Personal(shop_name=""), opt_out_hint=False) == "sale"


def test_a_name_is_inserted_literally_never_expanded_again() -> None:
    sneaky = Personal(name="{shop_name}", shop_name="Acme")
    assert render("Hi {first_name}", sneaky, opt_out_hint=False) == "Hi {shop_name}"


# --- the opt-out hint ---------------------------------------------------------------------------------------------


def test_the_hint_is_added_once_at_the_end() -> None:
    text = render("Sale today!", ANA, opt_out_hint=True)
    assert text == f"Sale today!\n{OPT_OUT_HINT}"
    assert text.count(OPT_OUT_HINT) == 1


def test_no_hint_when_the_settings_do_not_ask_for_it() -> None:
    assert render("Sale today!", ANA, opt_out_hint=False) == "Sale today!"


@pytest.mark.parametrize(
    "template",
    [
        "Sale today! Reply STOP to opt out",
        "Sale today! Text stop to unsubscribe",
        "Sale today! Stop=end",
        "Sale today!\nSTOP",
        f"Sale today!\n{OPT_OUT_HINT}",
        "STOP.",
    ],
)
def test_no_hint_when_the_template_already_says_stop_in_any_case(template: str) -> None:
    text = render(template, ANA, opt_out_hint=True)
    assert OPT_OUT_HINT not in text.replace(template, "")
    assert text == template.strip()


@pytest.mark.parametrize(
    ("template", "who"),
    [
        ("Hi {first_name}, sale today!", Personal(name="Christopher")),  # CHRISTOPHER contains STOP
        ("Hi {name}, sale today!", Personal(name="Stop")),  # the subscriber's name is not the merchant's wording
        ("{shop_name}: sale today!", Personal(shop_name="Stop & Shop")),
        ("Hi {first_name|stop}, sale today!", Personal()),
        ("Unstoppable deals today!", Personal()),
    ],
)
def test_stop_inside_a_name_or_another_word_does_not_suppress_the_hint(template: str, who: Personal) -> None:
    text = render(template, who, opt_out_hint=True)
    assert text.endswith(f"\n{OPT_OUT_HINT}") and text.count(OPT_OUT_HINT) == 1


def test_every_recipient_gets_the_same_hint_decision() -> None:
    template = "Hi {first_name|there}, sale today!"
    names = [None, "Christopher", "Stop", "Ana", "STOPALL", " "]
    assert {render(template, Personal(name=n), opt_out_hint=True).endswith(OPT_OUT_HINT) for n in names} == {True}


# --- size and encoding --------------------------------------------------------------------------------------------


def test_a_template_that_fits_only_without_a_long_name_is_refused() -> None:
    template = NON_GSM * 660 + "{first_name}"  # UCS-2: 670 units make ten parts of 67
    short = encoding.measure(render(template, Personal(name="Ann"), opt_out_hint=False))
    assert (short.encoding, short.units, short.parts) == (encoding.Encoding.UCS2, 663, encoding.MAX_PARTS)
    with pytest.raises(InvalidInput) as caught:
        check_fits(template, "Acme", opt_out_hint=False)
    assert caught.value.code == "message_too_long"
    assert caught.value.details == {"parts": 11, "encoding": "UCS-2"}
    # Without the placeholder the same body fits.
    assert check_fits(NON_GSM * 663, "Acme", opt_out_hint=False).parts == encoding.MAX_PARTS


def test_the_opt_out_hint_counts_towards_the_size() -> None:
    body = NON_GSM * 670  # exactly ten UCS-2 parts
    assert check_fits(body, "Acme", opt_out_hint=False).parts == 10
    with pytest.raises(InvalidInput):
        check_fits(body, "Acme", opt_out_hint=True)


def test_a_long_shop_name_counts_towards_the_size() -> None:
    template = NON_GSM * 660 + "{shop_name}"
    assert check_fits(template, "Acme", opt_out_hint=False).parts == 10
    with pytest.raises(InvalidInput):
        check_fits(template, "A Very Long Shop Name Indeed", opt_out_hint=False)


def test_gsm_extension_characters_count_double() -> None:
    # 1000 euro signs are 2000 septets (14 parts) though only 1000 characters.
    with pytest.raises(InvalidInput) as caught:
        check_fits("€" * MAX_MESSAGE_CHARACTERS, "Acme", opt_out_hint=False)
    assert caught.value.details["encoding"] == "GSM-7"


def test_an_emoji_switches_to_ucs2_and_changes_the_part_count() -> None:
    plain = "x" * 100
    assert measure_worst_case(plain, "Acme", opt_out_hint=False) == encoding.SmsShape(100, encoding.Encoding.GSM7, 100, 1)
    with_emoji = measure_worst_case(plain + EMOJI, "Acme", opt_out_hint=False)
    assert with_emoji == encoding.SmsShape(101, encoding.Encoding.UCS2, 102, 2)
    assert check_fits(plain + EMOJI, "Acme", opt_out_hint=False) == with_emoji


def test_the_worst_case_uses_a_long_first_name() -> None:
    shape = measure_worst_case("Hi {first_name|there}", "Acme", opt_out_hint=False)
    assert shape.characters == len("Hi ") + 20
    assert shape.characters > encoding.measure(render("Hi {first_name|there}", NOBODY, opt_out_hint=False)).characters
