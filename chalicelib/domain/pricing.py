"""Estimated cost of a campaign: parts times a per-part price by destination country.

The prices are list prices for End User Messaging outbound SMS plus typical carrier fees, in USD micro-
dollars per part, as of 2026. They are an estimate shown in the preview, never a bill. An MMS is one part
whatever its text, priced per message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from chalicelib.domain.phones import region_of

_MICRO_USD_PER_PART = {
    "US": 8_830,  # $0.00581 AWS + ~$0.00302 average US carrier fee (10DLC / toll-free)
    "CA": 7_250,
    "GB": 36_600,
    "AU": 43_700,
}
_DEFAULT_MICRO_USD = 50_000  # conservative for countries not listed

# MMS, per message. Source: the AWS End User Messaging pricing page (aws.amazon.com/end-user-messaging/pricing,
# "MMS" tab) lists outbound MMS to the US and Canada at $0.0200 a message; US carriers add their own MMS
# fees for 10DLC and toll-free traffic (AT&T, T-Mobile and Verizon each about $0.0035-$0.0050 a message,
# ~$0.0040 on average). Canadian carriers charge no per-message fee for A2P MMS at the time of writing.
# Recorded from memory of those pages, not fetched: check them before quoting a price to a merchant.
_MICRO_USD_PER_MMS = {
    "US": 24_000,  # $0.0200 AWS + ~$0.0040 average US carrier fee
    "CA": 20_000,
}
# End User Messaging sends MMS to a few countries only (mainly the US and Canada); elsewhere the estimate
# stays conservative rather than pretending to know.
_DEFAULT_MICRO_USD_MMS = 50_000


@dataclass(frozen=True)
class Cost:
    """An amount in minor units (cents) of ``currency``, with how it was reached."""

    amount: int
    currency: str
    parts: int


def estimate(recipients_by_region: Counter[str], parts_per_message: int, *, mms: bool = False) -> Cost:
    """Parts per message times recipients, priced per destination country, rounded up to a cent. An MMS is
    one part per recipient at the MMS price, whatever ``parts_per_message`` its text would need as SMS."""
    micro = 0
    parts = 0
    for region, count in recipients_by_region.items():
        if mms:
            parts += count
            micro += count * _MICRO_USD_PER_MMS.get(region, _DEFAULT_MICRO_USD_MMS)
            continue
        n = count * parts_per_message
        parts += n
        micro += n * _MICRO_USD_PER_PART.get(region, _DEFAULT_MICRO_USD)
    cents = -(-micro // 10_000)
    return Cost(amount=cents, currency="USD", parts=parts)


def destination(phone: str) -> str:
    """The country a number is priced as ('unknown' when the number does not say)."""
    return region_of(phone) or "unknown"
