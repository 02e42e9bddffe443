"""Every DynamoDB key smscast builds from parts, in one place, so each shape is written once.

Time parts are fixed-width UTC with microseconds (``2026-12-01T10:03:07.123456Z``), so a key's string
order is time order and one instant always makes one key.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.inbox import ConversationStatus

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive datetime is refused because its zone is a guess."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput("datetimes must carry a timezone", code="naive_datetime")
    return at.astimezone(timezone.utc)


def stamp(at: datetime) -> str:
    """The fixed-width UTC time part of a key."""
    return utc(at).strftime(_TIME_FORMAT)


def time_key(at: datetime, item_id: str) -> str:
    """``<stamp>#<id>``: sort key of time-ordered items (consent events, thread lines, contacts, sandbox sends)."""
    return f"{stamp(at)}#{item_id}"


def parse_time_key(key: str) -> tuple[datetime, str]:
    """Split a key made by ``time_key`` back into its UTC time and id."""
    at, _, item_id = key.partition("#")
    return datetime.strptime(at, _TIME_FORMAT).replace(tzinfo=timezone.utc), item_id


def thread_key(shop_id: str, phone: str) -> str:
    """``<shop>#<phone>``: partition of one subscriber's consent events, conversation lines and contacts."""
    return f"{shop_id}#{phone}"


def customer_key(shop_id: str, customer_id: str) -> str:
    """``<shop>#<customer id>``: the subscribers' by-customer index key (Shopify customer ids)."""
    return f"{shop_id}#{customer_id}"


def campaign_key(shop_id: str, campaign_id: str) -> str:
    """``<shop>#<campaign>``: partition of one campaign's send ledger."""
    return f"{shop_id}#{campaign_id}"


# The send ledger's partitions per campaign. At 1,000 MPS a campaign writes about 4 WCU per recipient (claim and
# outcome, both transactional) to its ledger: 4,000 WCU/s, and 80,000 at 20,000 MPS over a pool of numbers.
# Spread over 128 partition keys that is at most 625 WCU/s each, under DynamoDB's 1,000 per partition key.
LEDGER_SHARDS = 128


def ledger_shard(phone: str) -> int:
    """The ledger partition a recipient's row lives in: stable, and even over any set of numbers."""
    return int.from_bytes(hashlib.blake2b(phone.encode(), digest_size=4).digest(), "big") % LEDGER_SHARDS


def ledger_key(shop_id: str, campaign_id: str, phone: str) -> str:
    """``<shop>#<campaign>#<shard>``: the partition of one recipient's send-ledger row."""
    return f"{campaign_key(shop_id, campaign_id)}#{ledger_shard(phone):03d}"


def ledger_keys(shop_id: str, campaign_id: str) -> list[str]:
    """Every send-ledger partition of a campaign (to read or erase all of it)."""
    return [f"{campaign_key(shop_id, campaign_id)}#{shard:03d}" for shard in range(LEDGER_SHARDS)]


def campaign_of_ledger_key(key: str) -> str:
    """The campaign id in a key made by ``ledger_key`` (shop domains and campaign ids contain no ``#``)."""
    return key.split("#")[1]


# A release wave's partitions: every recipient deferred to one instant used to share one partition key, which a
# deferral burst (half of a big audience at 21:30) writes past 1,000 WCU/s: each deferral writes its wave entry in a
# transaction (2 WCU), so 2,000 deferrals a second are 1,000 WCU/s per partition over 4. Reading a wave costs a
# query per partition, so no more than that.
WAVE_SHARDS = 4


def wave_key(shop_id: str, campaign_id: str, release_at: datetime, phone: str) -> str:
    """``<shop>#<campaign>#<stamp>#<shard>``: the partition of one recipient waiting for one release time."""
    return f"{campaign_key(shop_id, campaign_id)}#{stamp(release_at)}#{ledger_shard(phone) % WAVE_SHARDS:02d}"


def wave_keys(shop_id: str, campaign_id: str, release_at: datetime) -> list[str]:
    """Every partition of one release wave, in the order the wave is read."""
    return [f"{campaign_key(shop_id, campaign_id)}#{stamp(release_at)}#{shard:02d}" for shard in range(WAVE_SHARDS)]


def status_prefix(status: ConversationStatus) -> str:
    """``<status>#``: the part of ``activity_key`` that lists one Inbox status."""
    return f"{ConversationStatus(status).value}#"


def activity_key(status: ConversationStatus, last_activity_at: datetime) -> str:
    """``<status>#<stamp>``: the by-status index sort key, newest activity last."""
    return f"{status_prefix(status)}{stamp(last_activity_at)}"


def sender_key(number: str) -> str:
    """``sender#<number>``: the shop-keys item that routes inbound SMS for a sender number."""
    return f"sender#{number}"


def api_key_key(api_key_hash: str) -> str:
    """``apikey#<sha256>``: the shop-keys item that lets an API key (by its SHA-256) act for a shop."""
    return f"apikey#{api_key_hash}"


def sandbox_opt_out_key(sender_number: str, phone: str) -> str:
    """``optout#<sender>#<phone>``: the sandbox's stand-in for a number's AWS opt-out list entry."""
    return f"optout#{sender_number}#{phone}"
