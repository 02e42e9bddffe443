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


# The sort key of a subscriber's one contact-window item in the contacts table (under ``thread_key``).
CONTACT_WINDOW = "window"


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


def shard_of(text: str, shards: int) -> int:
    """A stable shard in ``range(shards)`` for ``text`` (a phone, an order id...): even over any set of texts."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") % shards


# A campaign's gates (adapters/dynamo/campaigns.py): each send group's claim checks one (a ConditionCheck) and its
# settle ADDs to one, both inside transactions, so a group costs its gate 2 + 2 = 4 WCU (items well under 1 KB).
# At 20,000 MPS in one campaign groups of 49 come ~408 a second: ~1,633 WCU/s over the gates, 204 per gate over 8,
# which leaves room for hash unevenness (a shard at twice its share is still ~408), clicks and orders. Fewer shards
# would do on average (4: ~408 each) with too thin a margin; more cost every status change a wider transaction
# and every campaign read more keys.
GATE_SHARDS = 8


def gate_key(shop_id: str, campaign_id: str, shard: int) -> str:
    """``<shop>#<campaign>#g<shard>``: the partition of one of a campaign's gates."""
    return f"{campaign_key(shop_id, campaign_id)}#g{shard:02d}"


def gate_keys(shop_id: str, campaign_id: str) -> list[str]:
    """Every gate of a campaign, in shard order (a status change writes them all, a campaign read reads them all)."""
    return [gate_key(shop_id, campaign_id, shard) for shard in range(GATE_SHARDS)]


def gate_for(shop_id: str, campaign_id: str, text: str) -> str:
    """The gate a write about ``text`` (a group's first phone, a link's phone, an order id) goes to."""
    return gate_key(shop_id, campaign_id, shard_of(text, GATE_SHARDS))


# A shop's campaign totals (adapters/dynamo/totals.py) move in the same transactions as the gates' counters but only
# on settle and defer (the claim does not touch them): 2 WCU per group, ~816 WCU/s at 20,000 MPS on one item, too
# close to 1,000. Over 8 items that is ~102 WCU/s each, and reading them all is still one BatchGetItem.
TOTALS_SHARDS = 8


def totals_key(shop_id: str, shard: int) -> str:
    """``<shop>#t<shard>``: one of a shop's campaign-totals items."""
    return f"{shop_id}#t{shard:02d}"


def totals_keys(shop_id: str) -> list[str]:
    """Every campaign-totals item of a shop, in shard order."""
    return [totals_key(shop_id, shard) for shard in range(TOTALS_SHARDS)]


def totals_for(shop_id: str, text: str) -> str:
    """The campaign-totals item a write about ``text`` goes to (picked like its gate)."""
    return totals_key(shop_id, shard_of(text, TOTALS_SHARDS))


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
