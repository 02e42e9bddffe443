"""parse_send_at: "now", or a store-local wall time that exists once, at least a minute and at most a year ahead."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.campaigns import MAX_LEAD, MIN_LEAD, parse_send_at
from chalicelib.domain.errors import InvalidInput

NY, LORD_HOWE = "America/New_York", "Australia/Lord_Howe"
# 2026-06-01 12:00 UTC is 08:00 in New York (EDT) and 22:30 in Lord Howe (+10:30, standard time).
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def _refused(value: object, zone: str = NY, now: datetime = NOW) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_send_at(value, zone, now)
    return caught.value


def _wall(instant: datetime, zone: str) -> str:
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat()


def test_now_means_send_now() -> None:
    assert parse_send_at("now", NY, NOW) is None


def test_a_future_store_local_time_comes_back_as_that_naive_wall_time() -> None:
    assert parse_send_at("2026-11-27T09:00", NY, NOW) == datetime(2026, 11, 27, 9, 0)
    assert parse_send_at("2026-11-27T09:00:00", NY, NOW) == datetime(2026, 11, 27, 9, 0)


@pytest.mark.parametrize("zone", [NY, LORD_HOWE, "Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_the_lead_is_measured_from_the_instant_in_the_store_timezone(zone: str) -> None:
    exactly_a_minute = _wall(NOW + MIN_LEAD, zone)
    assert parse_send_at(exactly_a_minute, zone, NOW) == datetime.fromisoformat(exactly_a_minute)
    assert _refused(_wall(NOW + MIN_LEAD - timedelta(seconds=1), zone), zone).code == "send_at_in_past"
    assert _refused(_wall(NOW, zone), zone).code == "send_at_in_past"
    a_year = _wall(NOW + MAX_LEAD, zone)
    assert parse_send_at(a_year, zone, NOW) == datetime.fromisoformat(a_year)
    assert _refused(_wall(NOW + MAX_LEAD + timedelta(minutes=1), zone), zone).code == "send_at_too_far"


def test_the_same_wall_time_is_past_in_one_store_and_future_in_another() -> None:
    # 10:00 on June 1 already happened in Lord Howe (it is 22:30 there) but is two hours off in New York.
    assert parse_send_at("2026-06-01T10:00", NY, NOW) == datetime(2026, 6, 1, 10, 0)
    assert _refused("2026-06-01T10:00", LORD_HOWE).code == "send_at_in_past"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2020-01-01T10:00", "send_at_in_past"),
        ("0001-01-01T00:00", "send_at_in_past"),  # moving year 1 between zones overflows: must not be a 500
        ("9999-12-31T23:59", "send_at_too_far"),  # likewise for year 9999
        ("2030-01-01T10:00", "send_at_too_far"),
    ],
)
@pytest.mark.parametrize("zone", [NY, "Asia/Tokyo", "Pacific/Kiritimati", "Etc/GMT+12"])
def test_dates_out_of_range_are_refused_by_reason(value: str, code: str, zone: str) -> None:
    assert _refused(value, zone).code == code


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-27T09:00Z",
        "2026-11-27T09:00+00:00",
        "2026-11-27T09:00-05:00",  # even when the offset is the store's own
        "2026-11-27T09:00:00.000+09:00",
    ],
)
def test_an_offset_is_refused_because_the_date_is_store_local(value: str) -> None:
    error = _refused(value)
    assert error.code == "invalid_send_at" and "offset" in error.message


@pytest.mark.parametrize(
    "value",
    ["", " ", "tomorrow", "NOW", " now", "now ", "Now", "2026-13-01T10:00", "2026-02-30T10:00", "2026-11-27T25:00",
     "27/11/2026 09:00", "2026-11-27T09:00 America/New_York", "\x00", "2026-11-27T09:00\n"],
)  # fmt: skip
def test_garbage_is_refused(value: str) -> None:
    assert _refused(value).code == "invalid_send_at"


@pytest.mark.parametrize("value", [None, 0, 1790000000, 1.5, True, False, ["now"], {"at": "now"}, b"now"])
def test_a_non_string_is_refused(value: object) -> None:
    assert _refused(value).code == "invalid_send_at"


def test_a_wall_time_skipped_by_dst_is_refused() -> None:
    # 2027-03-14: New York clocks go from 02:00 EST straight to 03:00 EDT.
    error = _refused("2027-03-14T02:30")
    assert error.code == "invalid_send_at" and "does not exist" in error.message
    assert parse_send_at("2027-03-14T01:59", NY, NOW) == datetime(2027, 3, 14, 1, 59)
    assert parse_send_at("2027-03-14T03:00", NY, NOW) == datetime(2027, 3, 14, 3, 0)


def test_a_wall_time_repeated_by_dst_is_refused() -> None:
    # 2026-11-01: New York clocks go from 02:00 EDT back to 01:00 EST, so 01:30 happens twice.
    error = _refused("2026-11-01T01:30")
    assert error.code == "invalid_send_at" and "twice" in error.message
    assert _refused("2026-11-01T01:00").code == "invalid_send_at"
    assert parse_send_at("2026-11-01T00:59", NY, NOW) == datetime(2026, 11, 1, 0, 59)
    assert parse_send_at("2026-11-01T02:00", NY, NOW) == datetime(2026, 11, 1, 2, 0)


def test_lord_howe_half_hour_dst_gap_and_overlap() -> None:
    # Lord Howe moves its clocks by 30 minutes: 02:00 -> 02:30 on 2026-10-04, 02:00 -> 01:30 on 2027-04-04.
    gap = _refused("2026-10-04T02:15", LORD_HOWE)
    assert gap.code == "invalid_send_at" and "does not exist" in gap.message
    assert parse_send_at("2026-10-04T02:30", LORD_HOWE, NOW) == datetime(2026, 10, 4, 2, 30)
    overlap = _refused("2027-04-04T01:45", LORD_HOWE)
    assert overlap.code == "invalid_send_at" and "twice" in overlap.message
    # A whole-hour zone would call 01:15 ambiguous too; in Lord Howe it happens once.
    assert parse_send_at("2027-04-04T01:15", LORD_HOWE, NOW) == datetime(2027, 4, 4, 1, 15)
