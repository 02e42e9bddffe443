"""Shop settings: every field validated, a patch applied whole or not at all, quiet hours that may wrap."""

from __future__ import annotations

import json
from datetime import time
from typing import Any

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.shops import FrequencyCap, QuietHours, ShopSettings, apply_patch, validate_shop_id

DEFAULT = ShopSettings()
TEXT_FIELDS = ["welcome_text", "confirm_text", "stop_text", "help_text"]
UCS2 = "á"  # one UCS-2 unit, outside the GSM alphabet
EMOJI = "😀"  # two UCS-2 units


def _refused(
    patch: Any,
    field: str | None = None,
    *,
    current: ShopSettings = DEFAULT,
    code: str = "invalid_settings",
    compliance: bool = True,
) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        apply_patch(current, patch, check_compliance=compliance)
    assert caught.value.code == code
    if field is not None:
        assert caught.value.details.get("field") == field
    return caught.value


def test_defaults_are_themselves_valid() -> None:
    assert apply_patch(DEFAULT, {}) == DEFAULT
    assert apply_patch(DEFAULT, DEFAULT.to_dict()) == DEFAULT
    assert DEFAULT.quiet_hours.enabled


# --- shop_name ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("Acme", "Acme"), ("  Acme Co  ", "Acme Co"), ("x" * 60, "x" * 60), ("Café", "Café")]
)
def test_shop_name_valid(value: str, expected: str) -> None:
    assert apply_patch(DEFAULT, {"shop_name": value}).shop_name == expected


@pytest.mark.parametrize("value", ["", "   ", "\n", "x" * 61, None, 5, ["Acme"], "Acme\ud83d"])
def test_shop_name_invalid(value: Any) -> None:
    _refused({"shop_name": value}, "shop_name")


# --- timezone ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["America/New_York", "America/Los_Angeles", "Europe/Paris", "Asia/Kolkata", "UTC", "Pacific/Honolulu"]
)
def test_timezone_valid(value: str) -> None:
    assert apply_patch(DEFAULT, {"timezone": value}).timezone == value


@pytest.mark.parametrize(
    "value",
    [
        "Mars/Olympus_Mons",
        "america/new_york",
        "America/New_York ",
        " America/New_York",
        "",
        "New York",
        "+05:00",
        "../../../etc/passwd",
        "/usr/share/zoneinfo/UTC",
        "America/New_York\x00",
        None,
        5,
        ["UTC"],
    ],
)
def test_timezone_invalid(value: Any) -> None:
    _refused({"timezone": value}, "timezone")


# --- quiet hours ---------------------------------------------------------------------------------------


def test_quiet_hours_patch_changes_only_the_given_keys() -> None:
    result = apply_patch(DEFAULT, {"quiet_hours": {"start": "22:30"}}).quiet_hours
    assert result == QuietHours(enabled=True, start=time(22, 30), end=time(9, 0))
    result = apply_patch(DEFAULT, {"quiet_hours": {"enabled": False}}).quiet_hours
    assert result == QuietHours(enabled=False, start=time(21, 0), end=time(9, 0))
    result = apply_patch(DEFAULT, {"quiet_hours": {"enabled": True, "start": "00:00", "end": "11:00"}}).quiet_hours
    assert result == QuietHours(enabled=True, start=time(0, 0), end=time(11, 0))
    assert apply_patch(DEFAULT, {"quiet_hours": {}}).quiet_hours == DEFAULT.quiet_hours


@pytest.mark.parametrize(
    "window",
    [
        {"start": "00:00", "end": "23:59"},  # all day
        {"start": "08:00", "end": "21:00"},  # inverted by mistake: quiet exactly when the law allows sending
        {"start": "12:30", "end": "20:00"},  # 30 minutes left in 12:00-20:00
        {"start": "11:00", "end": "10:00"},  # wraps almost all the way round
    ],
)
def test_quiet_hours_that_leave_no_legal_sending_time_are_refused(window: dict[str, str]) -> None:
    _refused({"quiet_hours": window}, "quiet_hours")


def test_disabled_quiet_hours_may_hold_any_window() -> None:
    result = apply_patch(DEFAULT, {"quiet_hours": {"enabled": False, "start": "08:00", "end": "21:00"}}).quiet_hours
    assert not result.enabled
    with pytest.raises(InvalidInput):
        apply_patch(
            apply_patch(DEFAULT, {"quiet_hours": {"enabled": False, "start": "08:00", "end": "21:00"}}),
            {"quiet_hours": {"enabled": True}},
        )


@pytest.mark.parametrize(
    "value",
    [
        "24:00",
        "9:5",
        "9:05",
        "09:5",
        "21:60",
        "-1:00",
        "21:00:00",
        "21.00",
        "2100",
        "21h00",
        " 21:00",
        "21:00 ",
        "21:00\n",
        "２１:００",
        "0９:00",
        "1٢:00",
        "",
        2100,
        21.0,
        None,
        True,
        ["21", "00"],
    ],
)
@pytest.mark.parametrize("key", ["start", "end"])
def test_quiet_hours_bad_times(key: str, value: Any) -> None:
    _refused({"quiet_hours": {key: value}}, f"quiet_hours.{key}")


@pytest.mark.parametrize("value", ["true", "false", 1, 0, None, "yes"])
def test_quiet_hours_enabled_must_be_a_bool(value: Any) -> None:
    _refused({"quiet_hours": {"enabled": value}}, "quiet_hours.enabled")


@pytest.mark.parametrize(
    "value",
    [
        {"enabled": True, "timezone": "UTC"},
        {"Start": "21:00"},
        {"start": "21:00", "days": [1, 2]},
        {"override_legal_floor": True},
    ],
)
def test_quiet_hours_unknown_nested_fields(value: dict[str, Any]) -> None:
    _refused({"quiet_hours": value}, "quiet_hours")


@pytest.mark.parametrize("value", [None, [], "21:00-09:00", True, 5])
def test_quiet_hours_must_be_an_object(value: Any) -> None:
    _refused({"quiet_hours": value}, "quiet_hours")


# --- sender number -------------------------------------------------------------------------------------


def test_sender_number_is_normalised_and_can_be_cleared() -> None:
    with_sender = apply_patch(DEFAULT, {"sender_number": "+1 (212) 555-1234"})
    assert with_sender.sender_number == "+12125551234"
    assert apply_patch(with_sender, {"sender_number": None}).sender_number is None


def test_fictional_sender_number_only_when_allowed() -> None:
    _refused({"sender_number": "+15551230000"}, "sender_number")
    assert apply_patch(DEFAULT, {"sender_number": "+15551230000"}, allow_fictional=True).sender_number == "+15551230000"


@pytest.mark.parametrize("value", ["", "abc", "+1212555123", "call 2125551234", 12125551234, ["+12125551234"], True])
def test_sender_number_invalid(value: Any) -> None:
    _refused({"sender_number": value}, "sender_number")


# --- integers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "low", "high"), [("attribution_window_days", 1, 30)])
def test_integer_fields_accept_their_range(name: str, low: int, high: int) -> None:
    assert getattr(apply_patch(DEFAULT, {name: low}), name) == low
    assert getattr(apply_patch(DEFAULT, {name: high}), name) == high


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (name, value)
        for name, low, high in [("attribution_window_days", 1, 30)]
        for value in [low - 1, high + 1, -1, 10**18, str(low), float(low), True, False, None, [low]]
    ],
)
def test_integer_fields_refuse_out_of_range_and_wrong_types(name: str, value: Any) -> None:
    _refused({name: value}, name)


# --- keyword -----------------------------------------------------------------------------------------------


def test_opt_in_keyword_is_canonical() -> None:
    assert apply_patch(DEFAULT, {"opt_in_keyword": " deals "}).opt_in_keyword == "DEALS"


@pytest.mark.parametrize("value", ["STOP", "stop", "Help", "yes", "START", "", "A", "JOIN NOW", "x" * 21, None, 5, ["JOIN"]])
def test_opt_in_keyword_invalid_or_reserved(value: Any) -> None:
    _refused({"opt_in_keyword": value}, "opt_in_keyword")


# --- compliance texts ------------------------------------------------------------------------------------


def _sized(current: ShopSettings, patch: dict[str, Any]) -> ShopSettings:
    # The size rules alone: filler text of an exact length cannot also carry the STOP/HELP wording (tested below).
    return apply_patch(current, patch, check_compliance=False)


@pytest.mark.parametrize("name", TEXT_FIELDS)
def test_text_up_to_two_gsm_parts(name: str) -> None:
    assert getattr(_sized(DEFAULT, {name: "a" * 306}), name) == "a" * 306
    _refused({name: "a" * 307}, name, compliance=False)
    assert getattr(_sized(DEFAULT, {name: "€" * 152}), name) == "€" * 152  # 304 septets, 76 a part
    _refused({name: "€" * 153}, name, compliance=False)


@pytest.mark.parametrize("name", TEXT_FIELDS)
def test_text_up_to_two_ucs2_parts(name: str) -> None:
    assert getattr(_sized(DEFAULT, {name: UCS2 * 134}), name) == UCS2 * 134
    _refused({name: UCS2 * 135}, name, compliance=False)
    # One curly apostrophe turns 200 GSM characters (2 parts) into 200 UCS-2 units (3 parts).
    _refused({name: "a" * 199 + "’"}, name, compliance=False)
    assert _sized(DEFAULT, {name: EMOJI * 66})
    _refused({name: EMOJI * 67}, name, compliance=False)


@pytest.mark.parametrize("name", TEXT_FIELDS)
@pytest.mark.parametrize("value", ["", "   ", "\n\t", None, 5, ["hi"], {"text": "hi"}, "Hi \ud83d there"])
def test_text_invalid(name: str, value: Any) -> None:
    _refused({name: value}, name)


@pytest.mark.parametrize("name", TEXT_FIELDS)
def test_text_length_counts_the_rendered_shop_name(name: str) -> None:
    shop = apply_patch(DEFAULT, {"shop_name": "x" * 50})
    fits_exactly = "{shop_name}" + "a" * (306 - 50)
    assert len(fits_exactly) < 306 - 50 + 12
    assert getattr(_sized(shop, {name: fits_exactly}), name) == fits_exactly  # stored unrendered
    _refused({name: fits_exactly + "a"}, name, current=shop, compliance=False)


@pytest.mark.parametrize("name", TEXT_FIELDS)
def test_text_length_uses_the_shop_name_from_the_same_patch(name: str) -> None:
    text = "{shop_name}" + "a" * (306 - 50)
    assert _sized(DEFAULT, {"shop_name": "x" * 50, name: text})
    _refused({"shop_name": "x" * 51, name: text}, name)


def test_a_ucs2_shop_name_makes_every_text_ucs2() -> None:
    # The default welcome text renders to 104 characters plus the name: 30 UCS-2 characters fit two parts.
    assert len(DEFAULT.render(DEFAULT.welcome_text)) - len(DEFAULT.shop_name) == 104
    assert apply_patch(DEFAULT, {"shop_name": "☕" * 30}).shop_name == "☕" * 30
    _refused({"shop_name": "☕" * 31}, "welcome_text")


def test_renaming_the_shop_rechecks_the_texts_it_does_not_change() -> None:
    current = apply_patch(DEFAULT, {"stop_text": "{shop_name} START " + "a" * 289})  # "Our store" (9): 305 septets
    assert apply_patch(current, {"shop_name": "Our stores"}).shop_name == "Our stores"  # 306: still fits
    _refused({"shop_name": "Our stores!"}, "stop_text", current=current)  # 307: three parts
    _refused({"shop_name": "Our store €"}, "stop_text", current=current)  # the euro is two septets


def test_renaming_the_shop_together_with_a_shorter_text_is_fine() -> None:
    current = apply_patch(DEFAULT, {"stop_text": "{shop_name} START " + "a" * 289})
    result = apply_patch(current, {"shop_name": "x" * 60, "stop_text": "{shop_name}: unsubscribed"})
    assert result.render(result.stop_text) == "x" * 60 + ": unsubscribed"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("stop_text", "You will get no more messages. Reply START to resubscribe."),  # which shop?
        ("stop_text", "{shop_name}: thanks!"),  # neither confirms the opt-out nor says how to come back
        ("stop_text", "ok"),
        ("help_text", "Help: reply to this message. Reply STOP to opt out."),  # which shop?
        ("help_text", "{shop_name}: help at help@example.com"),  # how to opt out?
        ("help_text", "{shop_name}: Reply STOP to opt out."),  # how to get help?
        ("help_text", "Christopher"),
    ],
)
def test_stop_and_help_texts_keep_what_carriers_require(name: str, value: str) -> None:
    _refused({name: value}, name)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("stop_text", DEFAULT.stop_text),
        ("stop_text", "Our Store: you are unsubscribed."),  # the literal name, any case
        ("stop_text", "{shop_name}: reply START to get our texts again"),
        ("help_text", DEFAULT.help_text),
        ("help_text", "{shop_name} support: call 212-555-0100. Text STOP to quit."),
    ],
)
def test_stop_and_help_texts_that_keep_it_are_accepted(name: str, value: str) -> None:
    assert getattr(apply_patch(DEFAULT, {name: value}), name) == value


def test_renaming_the_shop_rechecks_that_the_texts_still_name_it() -> None:
    current = apply_patch(DEFAULT, {"shop_name": "Acme", "stop_text": "Acme: you are unsubscribed."})
    _refused({"shop_name": "Bolt"}, "stop_text", current=current)
    assert apply_patch(current, {"shop_name": "Bolt", "stop_text": "{shop_name}: unsubscribed."}).shop_name == "Bolt"


def test_stored_texts_from_before_the_rule_still_load() -> None:
    assert ShopSettings.from_dict({**DEFAULT.to_dict(), "stop_text": "Bye"}).stop_text == "Bye"


# --- bools and the frequency cap -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False])
def test_opt_out_hint_valid(value: bool) -> None:
    assert apply_patch(DEFAULT, {"opt_out_hint": value}).opt_out_hint is value


@pytest.mark.parametrize("value", ["false", "true", 0, 1, None, "no"])
def test_opt_out_hint_must_be_a_bool(value: Any) -> None:
    _refused({"opt_out_hint": value}, "opt_out_hint")


def test_frequency_cap_valid() -> None:
    assert apply_patch(DEFAULT, {"frequency_cap": {"messages": 3, "days": 7}}).frequency_cap == FrequencyCap(3, 7)
    assert apply_patch(DEFAULT, {"frequency_cap": {"messages": 1, "days": 1}}).frequency_cap == FrequencyCap(1, 1)
    assert apply_patch(DEFAULT, {"frequency_cap": {"messages": 100, "days": 90}}).frequency_cap == FrequencyCap(100, 90)
    capped = apply_patch(DEFAULT, {"frequency_cap": {"messages": 3, "days": 7}})
    assert apply_patch(capped, {"frequency_cap": None}).frequency_cap is None


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"messages": 3}, "frequency_cap"),
        ({"days": 7}, "frequency_cap"),
        ({"messages": 3, "days": 7, "per": "week"}, "frequency_cap"),
        ([3, 7], "frequency_cap"),
        ("3/7", "frequency_cap"),
        ({}, "frequency_cap"),
        ({"messages": 0, "days": 7}, "frequency_cap.messages"),
        ({"messages": 101, "days": 7}, "frequency_cap.messages"),
        ({"messages": "3", "days": 7}, "frequency_cap.messages"),
        ({"messages": True, "days": 7}, "frequency_cap.messages"),
        ({"messages": 3, "days": 0}, "frequency_cap.days"),
        ({"messages": 3, "days": 91}, "frequency_cap.days"),
        ({"messages": 3, "days": 7.0}, "frequency_cap.days"),
    ],
)
def test_frequency_cap_invalid(value: Any, field: str) -> None:
    _refused({"frequency_cap": value}, field)


# --- the patch as a whole ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "patch",
    [
        {"foo": 1},
        {"shopName": "x"},
        {"quiet_hours": {}, "legal_floor": False},
        {"version": 2},
        {"shop_id": "other.myshopify.com"},
    ],
)
def test_unknown_fields_are_refused_by_name(patch: dict[str, Any]) -> None:
    error = _refused(patch, code="unknown_field")
    assert error.details["fields"] == sorted(set(patch) - {"quiet_hours"})


@pytest.mark.parametrize("patch", [None, [], "shop_name", 5, [("shop_name", "x")]])
def test_a_patch_must_be_an_object(patch: Any) -> None:
    _refused(patch)


_GOOD = {
    "shop_name": "Acme",
    "timezone": "Europe/Paris",
    "quiet_hours": {"enabled": False, "start": "22:00", "end": "08:00"},
    "sender_number": "+12125551234",
    "opt_in_keyword": "DEALS",
    "welcome_text": "Hi from {shop_name}",
    "confirm_text": "Reply Y",
    "stop_text": "{shop_name}: you are unsubscribed.",
    "help_text": "{shop_name}: help at acme.example. Reply STOP to opt out.",
    "opt_out_hint": False,
    "attribution_window_days": 7,
    "frequency_cap": {"messages": 2, "days": 7},
    "signup_countries": ["FR", "BE"],
    "signup_consent_text": "Texts from {shop_name}, 4 msgs/month. Msg&data rates may apply. Reply STOP to cancel.",
}
_BAD = {
    "shop_name": "",
    "timezone": "Nowhere/Land",
    "quiet_hours": {"start": "24:00"},
    "sender_number": "nope",
    "opt_in_keyword": "STOP",
    "welcome_text": "a" * 307,
    "confirm_text": "",
    "stop_text": None,
    "help_text": UCS2 * 135,
    "opt_out_hint": "false",
    "attribution_window_days": 31,
    "frequency_cap": {"messages": 0, "days": 7},
    "signup_countries": ["XX"],
    "signup_consent_text": "Join {shop_name} texts!",
}


def test_every_field_is_covered_by_the_all_or_nothing_fixtures() -> None:
    assert set(_GOOD) == set(_BAD) == set(DEFAULT.to_dict())


@pytest.mark.parametrize("bad_field", sorted(_BAD))
def test_a_patch_with_one_bad_field_changes_nothing(bad_field: str) -> None:
    current = apply_patch(DEFAULT, {"shop_name": "Before", "attribution_window_days": 5})
    snapshot = current.to_dict()
    patch = {**_GOOD, bad_field: _BAD[bad_field]}
    with pytest.raises(InvalidInput):
        apply_patch(current, patch)
    assert current.to_dict() == snapshot
    # ... and the same patch without the bad field goes through whole.
    result = apply_patch(current, {**_GOOD})
    assert result.to_dict()["quiet_hours"] == _GOOD["quiet_hours"]
    assert result.attribution_window_days == 7 and result.shop_name == "Acme"


def test_an_unknown_field_alongside_good_ones_changes_nothing() -> None:
    with pytest.raises(InvalidInput):
        apply_patch(DEFAULT, {**_GOOD, "surprise": True})


# --- to_dict / from_dict -------------------------------------------------------------------------------------


def test_to_dict_is_plain_json() -> None:
    settings = apply_patch(DEFAULT, _GOOD)
    data = settings.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["quiet_hours"] == {"enabled": False, "start": "22:00", "end": "08:00"}
    assert data["frequency_cap"] == {"messages": 2, "days": 7}
    assert DEFAULT.to_dict()["frequency_cap"] is None
    assert DEFAULT.to_dict()["sender_number"] is None


@pytest.mark.parametrize(
    "settings",
    [
        DEFAULT,
        apply_patch(DEFAULT, _GOOD),
        apply_patch(DEFAULT, {"sender_number": "+15551230000"}, allow_fictional=True),
        apply_patch(DEFAULT, {"shop_name": "Café ☕", "quiet_hours": {"start": "00:00", "end": "12:00"}}),
    ],
)
def test_round_trip(settings: ShopSettings) -> None:
    assert ShopSettings.from_dict(settings.to_dict()) == settings
    assert ShopSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def test_from_dict_refuses_corrupt_data() -> None:
    with pytest.raises(InvalidInput):
        ShopSettings.from_dict({**DEFAULT.to_dict(), "attribution_window_days": -1})


def test_a_merchant_set_mps_is_no_setting_any_more() -> None:
    # The rate is the operator's, per number (services/numbers.py): a patch naming it is refused ...
    _refused({"mps": 5}, code="unknown_field")
    # ... and settings stored before that still load, without it.
    assert ShopSettings.from_dict({**DEFAULT.to_dict(), "mps": 50}) == DEFAULT


def test_render_fills_in_the_shop_name_everywhere() -> None:
    settings = apply_patch(DEFAULT, {"shop_name": "Acme", "help_text": "{shop_name} / {shop_name}: help? STOP"})
    assert settings.render(settings.help_text) == "Acme / Acme: help? STOP"


# --- QuietHours.contains -----------------------------------------------------------------------------------

WRAPPING = QuietHours(enabled=True, start=time(21, 0), end=time(9, 0))
DAYTIME = QuietHours(enabled=True, start=time(13, 0), end=time(14, 0))


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        (time(21, 0), True),
        (time(20, 59, 59, 999999), False),
        (time(23, 59, 59), True),
        (time(0, 0), True),
        (time(3, 0), True),
        (time(8, 59, 59, 999999), True),
        (time(9, 0), False),  # end is exclusive
        (time(12, 0), False),
    ],
)
def test_wrapping_window(local: time, quiet: bool) -> None:
    assert WRAPPING.contains(local) is quiet


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        (time(12, 59, 59), False),
        (time(13, 0), True),
        (time(13, 30), True),
        (time(13, 59, 59, 999999), True),
        (time(14, 0), False),
        (time(0, 0), False),
        (time(23, 59), False),
    ],
)
def test_non_wrapping_window(local: time, quiet: bool) -> None:
    assert DAYTIME.contains(local) is quiet


@pytest.mark.parametrize("local", [time(0, 0), time(10, 0), time(10, 0, 1), time(23, 59)])
def test_start_equal_to_end_is_an_empty_window(local: time) -> None:
    assert not QuietHours(enabled=True, start=time(10, 0), end=time(10, 0)).contains(local)


@pytest.mark.parametrize("local", [time(0, 0), time(22, 0), time(3, 0), time(13, 30)])
def test_disabled_window_is_never_quiet(local: time) -> None:
    assert not QuietHours(enabled=False).contains(local)
    assert not QuietHours(enabled=False, start=time(13, 0), end=time(14, 0)).contains(local)


_MINUTES = st.integers(0, 24 * 60 - 1).map(lambda m: time(m // 60, m % 60))


@given(_MINUTES, _MINUTES, st.times())
def test_a_window_and_its_reverse_split_the_day(start: time, end: time, local: time) -> None:
    if start == end:
        return
    window = QuietHours(enabled=True, start=start, end=end)
    reverse = QuietHours(enabled=True, start=end, end=start)
    assert window.contains(local) != reverse.contains(local)


# --- shop ids ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shop_id", ["demo.myshopify.com", "a1", "shop-1.example.org", "x" * 100])
def test_valid_shop_ids(shop_id: str) -> None:
    assert validate_shop_id(shop_id) == shop_id


@pytest.mark.parametrize(
    "shop_id",
    [
        "",
        "a",
        "Demo.myshopify.com",
        "demo.myshopify.com\n",
        "demo.myshopify.com ",
        " demo.myshopify.com",
        "-demo.com",
        ".demo",
        "demo com",
        "demo/../other",
        "demo_shop",
        "démo.com",
        "x" * 101,
        None,
        5,
    ],
)
def test_invalid_shop_ids(shop_id: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_shop_id(shop_id)
    assert caught.value.code == "invalid_shop"


class TestSignupFormSettings:
    """The sign-up form's countries and wording: checked like the compliance texts."""

    def test_defaults_are_north_america_and_a_compliant_wording(self) -> None:
        assert DEFAULT.signup_countries == ("US", "CA")
        assert apply_patch(DEFAULT, {"signup_consent_text": DEFAULT.signup_consent_text}) == DEFAULT

    @pytest.mark.parametrize("countries", [[], ["us"], ["USA"], ["ZZ"], "US", [1], sorted(phonenumbers.SUPPORTED_REGIONS)[:51]])
    def test_bad_country_lists_are_refused(self, countries: object) -> None:
        with pytest.raises(InvalidInput) as refused:
            apply_patch(DEFAULT, {"signup_countries": countries})
        assert refused.value.details == {"field": "signup_countries"}

    def test_countries_are_kept_once_in_order(self) -> None:
        assert apply_patch(DEFAULT, {"signup_countries": ["GB", "US", "GB"]}).signup_countries == ("GB", "US")

    @pytest.mark.parametrize(
        "text, why",
        [
            ("Msg frequency varies. Msg&data rates may apply. Reply STOP to cancel.", "name the shop"),
            ("{shop_name} texts. Msg&data rates may apply. Reply STOP to cancel.", "recur"),
            ("{shop_name}: msg frequency varies. Reply STOP to cancel.", "rates"),
            ("{shop_name}: msg frequency varies. Msg&data rates may apply.", "opt out"),
            ("x" * 601, "600"),
            ("   ", "1 to 600"),
        ],
    )
    def test_a_wording_without_what_carriers_require_is_refused(self, text: str, why: str) -> None:
        with pytest.raises(InvalidInput) as refused:
            apply_patch(DEFAULT, {"signup_consent_text": text})
        assert why in refused.value.message

    def test_a_wording_naming_the_shop_by_name_must_follow_a_rename(self) -> None:
        named = apply_patch(
            DEFAULT,
            {"shop_name": "Acme", "signup_consent_text": "Acme texts, 4 msgs/month. Msg&data rates may apply. Reply STOP."},
        )
        with pytest.raises(InvalidInput):
            apply_patch(named, {"shop_name": "Zenith"})
        assert ShopSettings.from_dict({**named.to_dict(), "shop_name": "Zenith"}).shop_name == "Zenith"  # stored: loads
