"""Estimated cost of a campaign: parts times a per-part price by destination country.

The prices are list prices for End User Messaging outbound SMS plus typical carrier fees, in USD micro-
dollars per part, as of 2026. They are an estimate shown in the preview, never a bill.
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


@dataclass(frozen=True)
class Cost:
    """An amount in minor units (cents) of ``currency``, with how it was reached."""

    amount: int
    currency: str
    parts: int


def estimate(recipients_by_region: Counter[str], parts_per_message: int) -> Cost:
    """Parts per message times recipients, priced per destination country, rounded up to a cent."""
    micro = 0
    parts = 0
    for region, count in recipients_by_region.items():
        n = count * parts_per_message
        parts += n
        micro += n * _MICRO_USD_PER_PART.get(region, _DEFAULT_MICRO_USD)
    cents = -(-micro // 10_000)
    return Cost(amount=cents, currency="USD", parts=parts)


def destination(phone: str) -> str:
    """The country a number is priced as ('unknown' when the number does not say)."""
    return region_of(phone) or "unknown"
