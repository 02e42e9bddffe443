"""Quiet hours in the recipient's own time, under a legal floor that settings cannot loosen (DESIGN invariant 2).

Every check uses a fixed UTC instant built from a recipient-local wall time, so no test depends on the clock.
A reference model written here from the rules (not from the code) cross-checks is_quiet, and next_open is
checked against a minute-by-minute brute force.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers import timezone as phone_timezones

from chalicelib.domain.quiet_hours import FEDERAL, Recipient, is_quiet, legal_window, next_open, us_state_of
from chalicelib.domain.shops import QuietHours

NY_NUMBER = "+12125550100"  # New York, NY
TOLL_FREE = "+18005550100"  # no area: every NANP timezone from Guam to Pago Pago
FICTIONAL = "+15555550100"  # 555 is fiction: the number says nothing, the store's timezone is used
IDAHO = "+12085550100"  # Boise (Mountain) or the panhandle (Pacific)
STRICT_8_TO_20 = {
    "FL": ("+13055550100", "America/New_York"),
    "OK": ("+14055550100", "America/Chicago"),
    "MD": ("+14105550100", "America/New_York"),
    "MS": ("+16015550100", "America/Chicago"),
    "NJ": ("+12015550100", "America/New_York"),
    "WA": ("+12065550100", "America/Los_Angeles"),
}
CT_NUMBER, TX_DALLAS, TX_EL_PASO = "+12035550100", "+12145550100", "+19155550100"
STORE = "America/New_York"

OFF = QuietHours(enabled=False)
DEFAULT = QuietHours()  # 21:00-09:00, wraps midnight
WINTER_WEDNESDAY, SUMMER_WEDNESDAY = "2026-01-14", "2026-07-15"
SATURDAY, SUNDAY, MONDAY = "2026-11-21", "2026-11-22", "2026-11-23"


def _at(day: str, hhmm: str, zone: str) -> datetime:
    """The UTC instant when ``zone``'s wall clock reads ``day hhmm``."""
    wall = datetime.fromisoformat(f"{day}T{hhmm}")
    return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def _quiet(e164: str, settings: QuietHours, day: str, hhmm: str, zone: str, store: str = STORE) -> bool:
    return is_quiet(Recipient.of(e164, store), settings, _at(day, hhmm, zone))


# --- reference model, from the rules in DESIGN.md / issue 3 ---------------------------------------------------

_REF_WINDOWS = {"FL": (8, 20), "OK": (8, 20), "MD": (8, 20), "MS": (8, 20), "NJ": (8, 20), "WA": (8, 20), "CT": (9, 20)}
_REF_STATE = {NY_NUMBER: "NY", CT_NUMBER: "CT", TX_DALLAS: "TX", TX_EL_PASO: "TX", IDAHO: "ID", "+13125550100": "IL"}
_REF_STATE.update({number: state for state, (number, _) in STRICT_8_TO_20.items()})


def _ref_quiet(e164: str, settings: QuietHours, store: str, at: datetime) -> bool:
    zones = [z for z in phone_timezones.time_zones_for_number(phonenumbers.parse(e164)) if z != "Etc/Unknown"] or [store]
    state = _REF_STATE.get(e164)
    for zone in zones:
        local = at.astimezone(ZoneInfo(zone))
        minutes = local.hour * 60 + local.minute
        start, end = _REF_WINDOWS.get(state or "", (8, 21))
        if state == "TX":
            start = 12 if local.weekday() == 6 else 9
        if not start * 60 <= minutes < end * 60:
            return True
        if settings.enabled and settings.start != settings.end:
            s = settings.start.hour * 60 + settings.start.minute
            e = settings.end.hour * 60 + settings.end.minute
            inside = s <= minutes < e if s < e else (minutes >= s or minutes < e)
            if inside:
                return True
    return False


def _brute_next_open(e164: str, settings: QuietHours, store: str, at: datetime) -> datetime | None:
    """The first whole minute at or after ``at`` that the reference calls open (every window edge is on a minute)."""
    if not _ref_quiet(e164, settings, store, at):
        return at
    t = at.replace(second=0, microsecond=0)
    if t < at:
        t += timedelta(minutes=1)
    for _ in range(9 * 24 * 60):
        if not _ref_quiet(e164, settings, store, t):
            return t
        t += timedelta(minutes=1)
    return None


# --- the number -> state and timezones ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "state"),
    [(NY_NUMBER, "NY"), (CT_NUMBER, "CT"), (TX_DALLAS, "TX"), (TX_EL_PASO, "TX"), ("+13125550100", "IL")]
    + [(number, state) for state, (number, _) in STRICT_8_TO_20.items()]
    + [(TOLL_FREE, None), (FICTIONAL, None), ("+14165550100", None), ("+442079460000", None)],
)
def test_state_from_the_area_code(e164: str, state: str | None) -> None:
    assert us_state_of(e164) == state


def test_recipient_timezones_from_the_number_or_the_store() -> None:
    assert Recipient.of(NY_NUMBER, "Australia/Lord_Howe").zones == (ZoneInfo("America/New_York"),)
    assert Recipient.of(FICTIONAL, "Australia/Lord_Howe").zones == (ZoneInfo("Australia/Lord_Howe"),)
    assert {z.key for z in Recipient.of(IDAHO, STORE).zones} == {"America/Boise", "America/Los_Angeles"}
    toll_free = {z.key for z in Recipient.of(TOLL_FREE, STORE).zones}
    assert {"Pacific/Guam", "Pacific/Honolulu", "America/New_York", "America/St_Johns"} <= toll_free


def test_legal_window_table() -> None:
    assert legal_window(None, 6) == FEDERAL == legal_window("NY", 6) == legal_window("ZZ", 0)
    assert (legal_window("FL", 2).start, legal_window("FL", 2).end) == (time(8), time(20))
    assert (legal_window("CT", 6).start, legal_window("CT", 6).end) == (time(9), time(20))
    for weekday in range(6):
        assert (legal_window("TX", weekday).start, legal_window("TX", weekday).end) == (time(9), time(21))
    assert (legal_window("TX", 6).start, legal_window("TX", 6).end) == (time(12), time(21))


# --- the legal floor ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", [WINTER_WEDNESDAY, SUMMER_WEDNESDAY])
def test_new_york_floor_holds_with_quiet_hours_off(day: str) -> None:
    zone = "America/New_York"
    assert _quiet(NY_NUMBER, OFF, day, "07:59", zone)
    assert not _quiet(NY_NUMBER, OFF, day, "08:00", zone)
    assert not _quiet(NY_NUMBER, OFF, day, "20:59", zone)
    assert _quiet(NY_NUMBER, OFF, day, "21:00", zone)
    assert _quiet(NY_NUMBER, OFF, day, "23:59", zone)
    assert _quiet(NY_NUMBER, OFF, day, "00:00", zone)


@pytest.mark.parametrize("state", sorted(STRICT_8_TO_20))
@pytest.mark.parametrize("settings", [OFF, QuietHours(True, time(23, 0), time(6, 0))])
def test_eight_to_eight_states(state: str, settings: QuietHours) -> None:
    number, zone = STRICT_8_TO_20[state]
    assert _quiet(number, settings, WINTER_WEDNESDAY, "07:59", zone)
    assert not _quiet(number, settings, WINTER_WEDNESDAY, "08:00", zone)
    assert not _quiet(number, settings, WINTER_WEDNESDAY, "19:59", zone)
    assert _quiet(number, settings, WINTER_WEDNESDAY, "20:00", zone)
    assert _quiet(number, settings, SUMMER_WEDNESDAY, "20:30", zone)


def test_connecticut_nine_to_eight() -> None:
    zone = "America/New_York"
    for day in (WINTER_WEDNESDAY, SUNDAY):
        assert _quiet(CT_NUMBER, OFF, day, "08:59", zone)
        assert not _quiet(CT_NUMBER, OFF, day, "09:00", zone)
        assert not _quiet(CT_NUMBER, OFF, day, "19:59", zone)
        assert _quiet(CT_NUMBER, OFF, day, "20:00", zone)


@pytest.mark.parametrize(("number", "zone"), [(TX_DALLAS, "America/Chicago"), (TX_EL_PASO, "America/Denver")])
def test_texas_nine_on_weekdays_and_saturday_noon_on_sunday(number: str, zone: str) -> None:
    for day in (MONDAY, WINTER_WEDNESDAY, SATURDAY):
        assert _quiet(number, OFF, day, "08:59", zone)
        assert not _quiet(number, OFF, day, "09:00", zone)
    assert _quiet(number, OFF, SUNDAY, "09:00", zone)
    assert _quiet(number, OFF, SUNDAY, "11:59", zone)
    assert not _quiet(number, OFF, SUNDAY, "12:00", zone)
    for day in (SATURDAY, SUNDAY):
        assert not _quiet(number, OFF, day, "20:59", zone)
        assert _quiet(number, OFF, day, "21:00", zone)


def test_texas_sunday_is_the_recipients_sunday() -> None:
    # Sunday 11:30 in El Paso is already Sunday 17:30 UTC; Monday 00:30 UTC is still Sunday evening there.
    assert _quiet(TX_EL_PASO, OFF, SUNDAY, "11:30", "America/Denver")
    assert not _quiet(TX_EL_PASO, OFF, SUNDAY, "17:30", "America/Denver")


# --- the shop's own quiet hours over the floor ------------------------------------------------------------------


def test_shop_quiet_hours_that_wrap_midnight() -> None:
    zone = "America/New_York"
    assert _quiet(NY_NUMBER, DEFAULT, WINTER_WEDNESDAY, "08:59", zone)
    assert not _quiet(NY_NUMBER, DEFAULT, WINTER_WEDNESDAY, "09:00", zone)
    assert not _quiet(NY_NUMBER, DEFAULT, WINTER_WEDNESDAY, "20:59", zone)
    assert _quiet(NY_NUMBER, DEFAULT, WINTER_WEDNESDAY, "21:00", zone)


def test_shop_quiet_hours_that_do_not_wrap() -> None:
    lunch = QuietHours(True, time(12, 0), time(13, 30))
    zone = "America/New_York"
    assert not _quiet(NY_NUMBER, lunch, WINTER_WEDNESDAY, "11:59", zone)
    assert _quiet(NY_NUMBER, lunch, WINTER_WEDNESDAY, "12:00", zone)
    assert _quiet(NY_NUMBER, lunch, WINTER_WEDNESDAY, "13:29", zone)
    assert not _quiet(NY_NUMBER, lunch, WINTER_WEDNESDAY, "13:30", zone)
    assert _quiet(NY_NUMBER, lunch, WINTER_WEDNESDAY, "07:00", zone)  # the floor still holds outside it


def test_shop_hours_stricter_than_the_floor_are_respected() -> None:
    strict = QuietHours(True, time(19, 0), time(10, 30))
    zone = "America/New_York"
    assert _quiet(NY_NUMBER, strict, WINTER_WEDNESDAY, "10:29", zone)
    assert not _quiet(NY_NUMBER, strict, WINTER_WEDNESDAY, "10:30", zone)
    assert _quiet(NY_NUMBER, strict, WINTER_WEDNESDAY, "19:00", zone)


@pytest.mark.parametrize(
    "loose",
    [QuietHours(True, time(23, 0), time(6, 0)), QuietHours(True, time(2, 0), time(3, 0)), QuietHours(True, time(9), time(9))],
)
def test_shop_hours_looser_than_the_floor_lose_to_it(loose: QuietHours) -> None:
    zone = "America/New_York"
    for hhmm in ("06:00", "07:59", "21:00", "22:30"):
        assert _quiet(NY_NUMBER, loose, WINTER_WEDNESDAY, hhmm, zone)
    assert _quiet(CT_NUMBER, loose, WINTER_WEDNESDAY, "08:30", zone)
    assert _quiet(STRICT_8_TO_20["FL"][0], loose, WINTER_WEDNESDAY, "20:30", zone)


# --- several possible timezones, and none -----------------------------------------------------------------------


def test_a_number_in_two_timezones_is_quiet_if_quiet_in_either() -> None:
    # Idaho: 08:30 in Boise is 07:30 in the panhandle; 20:30 in the panhandle is 21:30 in Boise.
    assert _quiet(IDAHO, OFF, WINTER_WEDNESDAY, "08:30", "America/Boise")
    assert _quiet(IDAHO, OFF, WINTER_WEDNESDAY, "20:30", "America/Los_Angeles")
    assert not _quiet(IDAHO, OFF, WINTER_WEDNESDAY, "09:00", "America/Boise")
    assert not _quiet(IDAHO, OFF, WINTER_WEDNESDAY, "19:59", "America/Boise")


def test_a_toll_free_number_is_quiet_at_noon_in_new_york() -> None:
    # Noon in New York is 07:00 in Honolulu and 03:00 (next day) in Guam.
    assert not _quiet(NY_NUMBER, OFF, WINTER_WEDNESDAY, "12:00", "America/New_York")
    assert _quiet(TOLL_FREE, OFF, WINTER_WEDNESDAY, "12:00", "America/New_York")


@pytest.mark.parametrize("settings", [OFF, DEFAULT])
@pytest.mark.parametrize("day", [WINTER_WEDNESDAY, SUMMER_WEDNESDAY])
def test_a_toll_free_number_opens_only_when_every_zone_is_open(settings: QuietHours, day: str) -> None:
    recipient = Recipient.of(TOLL_FREE, STORE)
    at = _at(day, "12:00", "America/New_York")  # quiet: 07:00 in Honolulu
    assert is_quiet(recipient, settings, at)
    opened = next_open(recipient, settings, at)
    for zone in recipient.zones:
        local = opened.astimezone(zone).time()
        assert time(8) <= local < time(21) and not settings.contains(local), zone.key
    assert is_quiet(recipient, settings, opened - timedelta(minutes=1))


def test_a_fictional_number_falls_back_to_the_store_timezone() -> None:
    # 13:30 UTC in January: 08:30 in New York (open), 05:30 in Los Angeles (quiet), 00:30 in Lord Howe (quiet).
    at = datetime(2026, 1, 14, 13, 30, tzinfo=timezone.utc)
    assert not is_quiet(Recipient.of(FICTIONAL, "America/New_York"), OFF, at)
    assert is_quiet(Recipient.of(FICTIONAL, "America/Los_Angeles"), OFF, at)
    assert is_quiet(Recipient.of(FICTIONAL, "Australia/Lord_Howe"), OFF, at)
    # A real number ignores the store: a New York number is open at 08:30 New York time whatever the store.
    assert not is_quiet(Recipient.of(NY_NUMBER, "Australia/Lord_Howe"), OFF, at)


# --- is_quiet against the reference model -------------------------------------------------------------------------

NUMBERS = [NY_NUMBER, CT_NUMBER, TX_DALLAS, TX_EL_PASO, IDAHO, TOLL_FREE, FICTIONAL, "+13125550100"] + [
    number for number, _ in STRICT_8_TO_20.values()
]
SETTINGS = [
    OFF,
    DEFAULT,
    QuietHours(True, time(22, 0), time(7, 0)),
    QuietHours(True, time(12, 0), time(13, 30)),
    QuietHours(True, time(20, 30), time(10, 15)),
    QuietHours(True, time(0, 0), time(11, 0)),
    QuietHours(True, time(9, 0), time(9, 0)),
]
STORES = ["America/New_York", "Australia/Lord_Howe", "Europe/London", "America/Los_Angeles"]


def test_is_quiet_agrees_with_the_reference_model() -> None:
    rng = random.Random(20261120)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for _ in range(3000):
        number, settings, store = rng.choice(NUMBERS), rng.choice(SETTINGS), rng.choice(STORES)
        at = start + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        assert is_quiet(Recipient.of(number, store), settings, at) == _ref_quiet(number, settings, store, at), (
            number,
            settings,
            store,
            at,
        )


# --- next_open ------------------------------------------------------------------------------------------------------


def test_next_open_is_the_same_instant_when_not_quiet() -> None:
    at = datetime(2026, 1, 14, 17, 0, 42, 123456, tzinfo=timezone.utc)  # 12:00:42 in New York
    assert next_open(Recipient.of(NY_NUMBER, STORE), DEFAULT, at) == at


def _sample_cases() -> list[tuple[str, QuietHours, str, datetime]]:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    cases = []
    for _ in range(40):
        at = start + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60), seconds=rng.choice([0, 0, 17]))
        cases.append((rng.choice(NUMBERS), rng.choice(SETTINGS), rng.choice(STORES), at))
    # Around every DST change the tests care about (US spring/fall 2026 and 2027, Lord Howe), at night.
    for day in ("2026-03-07", "2026-10-31", "2027-03-13", "2026-10-03", "2027-04-03"):
        for number in (NY_NUMBER, TX_DALLAS, FICTIONAL, IDAHO):
            for store in ("America/New_York", "Australia/Lord_Howe"):
                cases.append((number, DEFAULT, store, _at(day, "22:00", "America/New_York")))
    return cases


@pytest.mark.parametrize(("number", "settings", "store", "at"), _sample_cases())
def test_next_open_is_the_earliest_open_instant(number: str, settings: QuietHours, store: str, at: datetime) -> None:
    recipient = Recipient.of(number, store)
    expected = _brute_next_open(number, settings, store, at)
    assert expected is not None  # every sample has a window within nine days
    opened = next_open(recipient, settings, at)
    assert opened == expected
    assert opened >= at and not is_quiet(recipient, settings, opened)


@pytest.mark.parametrize(
    ("number", "store", "at", "opens"),
    [
        # US spring forward (Sun 2026-03-08): 09:00 EDT is 13:00 UTC, not 14:00 as it was the day before.
        (NY_NUMBER, STORE, "2026-03-07T22:00:00-05:00", "2026-03-08T13:00:00+00:00"),
        # US fall back (Sun 2026-11-01): 09:00 EST is 14:00 UTC.
        (NY_NUMBER, STORE, "2026-10-31T22:00:00-04:00", "2026-11-01T14:00:00+00:00"),
        # Texas on the spring-forward Sunday: noon CDT.
        (TX_DALLAS, STORE, "2026-03-08T01:00:00-06:00", "2026-03-08T17:00:00+00:00"),
        # Lord Howe store (+10:30 -> +11 on 2026-10-04 at 02:00): 09:00 +11 is 22:00 UTC the day before.
        (FICTIONAL, "Australia/Lord_Howe", "2026-10-03T22:00:00+10:30", "2026-10-03T22:00:00+00:00"),
        # And back (+11 -> +10:30 on 2027-04-04): 09:00 +10:30 is 22:30 UTC.
        (FICTIONAL, "Australia/Lord_Howe", "2027-04-03T22:00:00+11:00", "2027-04-03T22:30:00+00:00"),
    ],
)
def test_next_open_across_dst_changes(number: str, store: str, at: str, opens: str) -> None:
    assert next_open(Recipient.of(number, store), DEFAULT, datetime.fromisoformat(at)) == datetime.fromisoformat(opens)


def test_next_open_of_a_deferred_recipient_is_after_the_floor_and_the_shop_window() -> None:
    # Florida at 19:30 with shop hours 21:00-09:00: the floor closes at 20:00, the shop opens at 09:00.
    at = _at(WINTER_WEDNESDAY, "20:00", "America/New_York")
    assert next_open(Recipient.of(STRICT_8_TO_20["FL"][0], STORE), DEFAULT, at) == _at("2026-01-15", "09:00", "America/New_York")


def test_next_open_when_settings_leave_no_window_at_all() -> None:
    # Quiet 08:00-21:00 plus the floor's 21:00-08:00 is quiet all day: there is no instant to return.
    with pytest.raises(ValueError):
        next_open(Recipient.of(NY_NUMBER, STORE), QuietHours(True, time(8), time(21)), _at(WINTER_WEDNESDAY, "12:00", STORE))
