"""Shopify orders as attribution sees them, and money in integer minor units."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# ISO 4217 currencies whose minor unit is not the usual 2 decimals (Shopify's shop currencies among them).
_ZERO_DECIMALS = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"}
)
_THREE_DECIMALS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")  # ASCII digits only: Python's \d takes any script's


@dataclass(frozen=True)
class Order:
    """A Shopify order as attribution sees it."""

    shop_id: str
    order_id: str  # Shopify's numeric order id, as a string
    at: datetime  # the order's created_at, UTC
    total: int  # total_price_set.shop_money.amount in minor units of `currency`
    currency: str  # total_price_set.shop_money.currency_code (ISO 4217)
    phone: str | None  # E.164 of the customer's SMS number: order.phone, customer.phone, then billing/shipping phone
    customer_id: str | None  # customer.id as a string
    discount_codes: tuple[str, ...]  # discount_codes[].code, upper-cased


def exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has."""
    code = currency.upper()
    if code in _ZERO_DECIMALS:
        return 0
    if code in _THREE_DECIMALS:
        return 3
    return 2


def minor_units(amount: str, currency: str) -> int:
    """A Shopify decimal string ("42.50") in the currency's minor units (exponent 0 for JPY/KRW..., 3 for BHD/KWD..., else 2); ValueError when it is not a plain non-negative decimal, or has more places than that (trailing zeros aside)."""  # noqa: E501
    match = _DECIMAL.fullmatch(amount)
    if match is None:
        raise ValueError(f"not a non-negative decimal amount: {amount!r}")
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    places = exponent(currency)
    if len(fraction) > places:
        raise ValueError(f"{amount!r} has more decimals than {currency} has minor units ({places})")
    minor: int = int(whole) * 10**places + (int(fraction.ljust(places, "0")) if places else 0)
    return minor
