"""Orders as attribution sees them (the shape both the webhook edge and attribution share)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# ISO 4217 exponents that are not 2; every other currency has cents.
_ZERO = ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF")
_EXPONENT = {
    **dict.fromkeys(_ZERO, 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


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


def minor_units(amount: str, currency: str) -> int:
    """A Shopify decimal string ("42.50") in the currency's minor units (exponent 0 for JPY/KRW..., 3 for
    BHD/KWD..., else 2); ValueError when it is not a non-negative decimal with at most that many places."""
    exponent = _EXPONENT.get(currency.upper(), 2)
    match = _DECIMAL.fullmatch(amount) if isinstance(amount, str) else None
    if match is None:
        raise ValueError(f"not a non-negative decimal amount: {amount!r}")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > exponent:
        raise ValueError(f"{amount!r} has more than {exponent} decimal places for {currency}")
    return int(whole + fraction.ljust(exponent, "0"))
