"""Orders from Shopify: attribute each to a campaign once, and take a cancelled one out again.

The webhook worker calls these after verifying, deduping and parsing the webhook; both are safe to call
again with the same order (Shopify redelivers), and in any order (a cancellation may arrive first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from chalicelib.domain.attribution import Attribution, attribute, window
from chalicelib.domain.orders import Order
from chalicelib.observability import INHERIT, SERVICE, phone_ref
from chalicelib.services.ports import OrderOutcome, Ports

logger = Logger(service=SERVICE, child=True, level=INHERIT)


def attribution_for(ports: Ports, order: Order) -> Attribution | None:
    """The campaign the order belongs to: its discount code's campaign, else the phone's latest click in the window."""
    shop = ports.shops.get(order.shop_id)
    code_campaigns = ports.campaigns.by_discount_code(order.shop_id, order.discount_codes) if order.discount_codes else {}
    click = None
    if order.phone is not None and not any(code.upper() in code_campaigns for code in order.discount_codes):
        days = shop.settings.attribution_window_days
        click = ports.links.latest_click(order.shop_id, order.phone, order.at - window(days), order.at)
    return attribute(order, code_campaigns, click, shop.settings.attribution_window_days)


@dataclass(frozen=True)
class Placed:
    """What recording a new order did, and the campaign it now counts for (None: unattributed or not counted)."""

    outcome: OrderOutcome
    attribution: Attribution | None = None


def order_placed(ports: Ports, order: Order) -> OrderOutcome:
    """Attribute and count a new order once (a redelivery, or an order cancelled before it arrived, counts nothing)."""
    return place_order(ports, order).outcome


def place_order(ports: Ports, order: Order) -> Placed:
    """``order_placed``, also telling the attribution it counted (the worker's revenue metric reads it)."""
    if ports.orders.get(order.shop_id, order.order_id) is not None:
        return Placed(OrderOutcome.DUPLICATE)  # the cheap answer to a redelivery; the conditional write is the real guard
    attribution = attribution_for(ports, order)
    outcome = ports.orders.record(order, attribution)
    logger.info(
        "order recorded",
        extra={
            "shop_id": order.shop_id,
            "order_id": order.order_id,
            "outcome": outcome.value,
            "campaign_id": attribution.campaign_id if attribution else None,
            "attributed_by": attribution.by.value if attribution else None,
            "phone_ref": phone_ref(order.phone) if order.phone else None,
        },
    )
    return Placed(outcome, attribution if outcome is OrderOutcome.COUNTED else None)


def order_cancelled(ports: Ports, shop_id: str, order_id: str, at: datetime) -> OrderOutcome:
    """Take a cancelled order out of its campaign's Orders and Revenue, once."""
    outcome = ports.orders.cancel(shop_id, order_id, at)
    logger.info("order cancelled", extra={"shop_id": shop_id, "order_id": order_id, "outcome": outcome.value})
    return outcome
