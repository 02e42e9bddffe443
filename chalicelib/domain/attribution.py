"""Which campaign an order belongs to: pure rules, table-tested.

The campaign whose discount code the order used wins; otherwise the latest click by the customer's phone on
any campaign's link within the shop's attribution window before the order (both edges inside); otherwise none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from chalicelib.domain.links import Click
from chalicelib.domain.orders import Order


class AttributedBy(str, Enum):
    """Why an order belongs to a campaign."""

    DISCOUNT_CODE = "discount_code"
    CLICK = "click"


@dataclass(frozen=True)
class Attribution:
    """The campaign an order belongs to, and why."""

    campaign_id: str
    by: AttributedBy


def window(days: int) -> timedelta:
    """The attribution window a shop's setting stands for."""
    return timedelta(days=days)


def attribute(
    order: Order, code_campaigns: Mapping[str, str], latest_click: Click | None, window_days: int
) -> Attribution | None:
    """The campaign ``order`` belongs to. ``code_campaigns`` maps upper-cased discount codes to the campaign that
    carries each; ``latest_click`` is the phone's latest campaign-link click at or before the order."""
    for code in order.discount_codes:
        campaign_id = code_campaigns.get(code.upper())
        if campaign_id is not None:
            return Attribution(campaign_id, AttributedBy.DISCOUNT_CODE)
    if latest_click is None or latest_click.campaign_id is None or order.phone is None:
        return None
    if latest_click.shop_id != order.shop_id or latest_click.phone != order.phone:
        return None
    if not order.at - window(window_days) <= latest_click.at <= order.at:
        return None
    return Attribution(latest_click.campaign_id, AttributedBy.CLICK)
