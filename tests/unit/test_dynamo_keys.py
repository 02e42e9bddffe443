"""The shapes of smscast's DynamoDB keys: stored data depends on them, so a change here is a migration."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo import keys
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.inbox import ConversationStatus

SHOP = "alpha.myshopify.com"
PHONE = "+15555550123"
AT = datetime(2026, 12, 1, 10, 3, 7, 123456, tzinfo=timezone.utc)
BERLIN = timezone(timedelta(hours=1))


def test_stamp_is_fixed_width_utc_with_microseconds() -> None:
    assert keys.stamp(AT) == "2026-12-01T10:03:07.123456Z"
    assert keys.stamp(AT.astimezone(BERLIN)) == "2026-12-01T10:03:07.123456Z"  # one instant, one key
    assert keys.stamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == "2026-01-02T03:04:05.000000Z"


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        keys.stamp(datetime(2026, 12, 1, 10, 0))
    assert caught.value.code == "naive_datetime"


def test_time_keys_sort_as_time_does_and_round_trip() -> None:
    earlier = keys.time_key(AT, "zzz")
    later = keys.time_key(AT + timedelta(microseconds=1), "aaa")
    assert earlier == "2026-12-01T10:03:07.123456Z#zzz"
    assert earlier < later
    assert keys.parse_time_key(earlier) == (AT, "zzz")
    assert keys.parse_time_key(keys.time_key(AT, "sandbox-a#b")) == (AT, "sandbox-a#b")  # an id may hold '#'


def test_partition_keys() -> None:
    assert keys.thread_key(SHOP, PHONE) == "alpha.myshopify.com#+15555550123"
    assert keys.campaign_key(SHOP, "c1") == "alpha.myshopify.com#c1"
    assert keys.wave_key(SHOP, "c1", AT, "+15551230000").startswith("alpha.myshopify.com#c1#2026-12-01T10:03:07.123456Z#")
    assert keys.wave_key(SHOP, "c1", AT, "+15551230000") in keys.wave_keys(SHOP, "c1", AT)
    assert keys.ledger_key(SHOP, "c1", "+15551230000") in keys.ledger_keys(SHOP, "c1")
    assert keys.campaign_of_ledger_key(keys.ledger_key(SHOP, "c1", "+15551230000")) == "c1"


def test_a_campaigns_recipients_spread_evenly_over_its_ledger_and_wave_partitions() -> None:
    phones = [f"+1212555{n:04d}" for n in range(1000, 5000)]
    for key_of, shards in (
        (lambda p: keys.ledger_key(SHOP, "c1", p), keys.LEDGER_SHARDS),
        (lambda p: keys.wave_key(SHOP, "c1", AT, p), keys.WAVE_SHARDS),
    ):
        counts: dict[str, int] = {}
        for phone in phones:
            counts[key_of(phone)] = counts.get(key_of(phone), 0) + 1
        assert len(counts) == shards
        # a hash spreads like chance: the fullest of 128 partitions sits about 3 standard deviations above its share
        assert max(counts.values()) <= 1.75 * len(phones) / shards


def test_activity_key_lists_one_status_in_time_order() -> None:
    key = keys.activity_key(ConversationStatus.UNRESOLVED, AT)
    assert key == "unresolved#2026-12-01T10:03:07.123456Z"
    assert key.startswith(keys.status_prefix(ConversationStatus.UNRESOLVED))
    assert not key.startswith(keys.status_prefix(ConversationStatus.RESOLVED))
    assert key < keys.activity_key(ConversationStatus.UNRESOLVED, AT + timedelta(seconds=1))


def test_shop_key_items() -> None:
    assert keys.sender_key("+15550100000") == "sender#+15550100000"
    assert keys.api_key_key("ab" * 32) == "apikey#" + "ab" * 32
    assert keys.sandbox_opt_out_key("+15550100000", PHONE) == "optout#+15550100000#+15555550123"
