"""Orders in DynamoDB: each counted once, with the counters they move written in the same transaction.

Placing: the order row is put on condition that it does not exist (the dedupe on shop + order id), its
campaign's orders/revenue are ADDed and the subscriber's orders_count/last_order_at moved, all in one
TransactWriteItems, so a redelivered webhook finds the row and counts nothing. Cancelling: cancelled_at is
set on condition it was not, and the same amounts are ADDed back negative, in one transaction too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo._transactions import LabelledTransaction, commit_with_retries
from chalicelib.adapters.dynamo.keys import gate_for, thread_key, utc
from chalicelib.adapters.dynamo.tables import CampaignGateRow, OrderRow, SubscriberRow
from chalicelib.adapters.dynamo.totals import add_to_totals
from chalicelib.domain.attribution import AttributedBy, Attribution
from chalicelib.domain.orders import Order
from chalicelib.services.ports import OrderOutcome, StoredOrder

_BUSY = "orders are busy with concurrent transactions; retry"


def row_to_stored(row: OrderRow) -> StoredOrder:
    """The stored order a row holds (a cancellation seen before its order has an empty order)."""
    order = Order(
        shop_id=row.shop_id,
        order_id=row.order_id,
        at=utc(row.at) if row.at else utc(row.cancelled_at),
        total=int(row.total or 0),
        currency=row.currency or "",
        phone=row.phone,
        customer_id=row.customer_id,
        discount_codes=tuple(str(code) for code in row.discount_codes or ()),
    )
    attribution = Attribution(row.campaign_id, AttributedBy(row.attributed_by)) if row.campaign_id and row.attributed_by else None
    return StoredOrder(order=order, attribution=attribution, cancelled=row.cancelled_at is not None)


class DynamoOrderStore:
    """``OrderStore`` on the orders, campaigns and subscribers tables."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def get(self, shop_id: str, order_id: str) -> StoredOrder | None:
        """The stored order, or None."""
        try:
            return row_to_stored(OrderRow.get(shop_id, order_id, consistent_read=True))
        except OrderRow.DoesNotExist:
            return None

    def record(self, order: Order, attribution: Attribution | None) -> OrderOutcome:
        """Store once; count on the campaign and the subscriber in the same transaction."""
        at = utc(order.at)
        subscriber = self._subscriber(order.shop_id, order.phone)
        # An older order arriving late never moves last_order_at back (read here: a transaction item
        # cannot carry a condition that only skips its own write).
        last_order_at = max(at, utc(subscriber.last_order_at)) if subscriber and subscriber.last_order_at else at

        def build(with_subscriber: bool) -> Callable[[LabelledTransaction], None]:
            row = OrderRow(
                order.shop_id,
                order.order_id,
                subscriber_key=thread_key(order.shop_id, order.phone) if order.phone else None,
                placed=True,
                at=at,
                total=order.total,
                currency=order.currency,
                phone=order.phone,
                customer_id=order.customer_id,
                discount_codes=list(order.discount_codes) or None,
                campaign_id=attribution.campaign_id if attribution else None,
                attributed_by=attribution.by.value if attribution else None,
                counted_for_subscriber=with_subscriber,
            )

            def fill(tx: LabelledTransaction) -> None:
                tx.put("order", row, condition=OrderRow.order_id.does_not_exist())
                if attribution is not None:
                    actions: list[Action] = [
                        CampaignGateRow.orders.add(1),
                        CampaignGateRow.revenue.add(order.total),
                        # the shop's currency: every order of the shop is in it (shop_money)
                        CampaignGateRow.currency.set(CampaignGateRow.currency | order.currency),
                    ]
                    # One of the campaign's gates, picked by the order id (its cancellation picks the same one).
                    tx.update(
                        "campaign",
                        CampaignGateRow(gate_for(order.shop_id, attribution.campaign_id, order.order_id)),
                        actions=actions,
                        condition=CampaignGateRow.gate_key.exists(),
                    )
                    add_to_totals(
                        tx, order.shop_id, {"orders": 1, "revenue": order.total}, by=order.order_id, currency=order.currency
                    )
                if with_subscriber and order.phone is not None:
                    tx.update(
                        "subscriber",
                        SubscriberRow(order.shop_id, order.phone),
                        actions=[
                            SubscriberRow.orders_count.add(1),
                            SubscriberRow.last_order_at.set(last_order_at),
                            SubscriberRow.version.add(1),  # a consent write that read before this retries
                        ],
                        condition=SubscriberRow.phone.exists(),
                    )

            return fill

        failed = commit_with_retries(build(subscriber is not None), sleep=self._sleep, busy=_BUSY)
        if "order" in failed:
            return OrderOutcome.DUPLICATE
        if "subscriber" in failed:
            failed = commit_with_retries(build(False), sleep=self._sleep, busy=_BUSY)  # erased meanwhile
            if "order" in failed:
                return OrderOutcome.DUPLICATE
        if "campaign" in failed:
            # The campaign is gone (never for a sent one: those cannot be deleted); keep the order unattributed.
            return self.record(order, None)
        return OrderOutcome.COUNTED

    def cancel(self, shop_id: str, order_id: str, at: datetime) -> OrderOutcome:
        """Cancel once; an unseen order is stored cancelled so its late orders/create counts nothing."""
        when = utc(at)
        stored = self.get(shop_id, order_id)
        if stored is None:
            tombstone = OrderRow(shop_id, order_id, placed=False, cancelled_at=when)

            def first(tx: LabelledTransaction) -> None:
                tx.put("order", tombstone, condition=OrderRow.order_id.does_not_exist())

            if not commit_with_retries(first, sleep=self._sleep, busy=_BUSY):
                return OrderOutcome.CANCELLED
            stored = self.get(shop_id, order_id)  # placed meanwhile: cancel that
            assert stored is not None
        if stored.cancelled:
            return OrderOutcome.ALREADY_CANCELLED
        order, attribution = stored.order, stored.attribution
        counted_for_subscriber = bool(OrderRow.get(shop_id, order_id, consistent_read=True).counted_for_subscriber)

        def build(with_campaign: bool, with_subscriber: bool) -> Callable[[LabelledTransaction], None]:
            def fill(tx: LabelledTransaction) -> None:
                tx.update(
                    "order",
                    OrderRow(shop_id, order_id),
                    actions=[OrderRow.cancelled_at.set(when)],
                    condition=OrderRow.cancelled_at.does_not_exist(),
                )
                if with_campaign and attribution is not None:
                    tx.update(
                        "campaign",
                        CampaignGateRow(gate_for(shop_id, attribution.campaign_id, order_id)),
                        actions=[CampaignGateRow.orders.add(-1), CampaignGateRow.revenue.add(-order.total)],
                        condition=CampaignGateRow.gate_key.exists(),
                    )
                    add_to_totals(tx, shop_id, {"orders": -1, "revenue": -order.total}, by=order_id)
                if with_subscriber and order.phone is not None:
                    tx.update(
                        "subscriber",
                        SubscriberRow(shop_id, order.phone),
                        actions=[SubscriberRow.orders_count.add(-1), SubscriberRow.version.add(1)],
                        condition=SubscriberRow.phone.exists() & (SubscriberRow.orders_count > 0),
                    )

            return fill

        with_campaign, with_subscriber = True, counted_for_subscriber
        while True:
            failed = commit_with_retries(build(with_campaign, with_subscriber), sleep=self._sleep, busy=_BUSY)
            if "order" in failed:
                return OrderOutcome.ALREADY_CANCELLED
            if not failed:
                return OrderOutcome.CANCELLED
            # What is gone (an erased subscriber, a deleted campaign) has nothing to take the order out of.
            with_campaign = with_campaign and "campaign" not in failed
            with_subscriber = with_subscriber and "subscriber" not in failed

    # --- PersonalData (customers/data_request, customers/redact) ---------------------------------------

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        """The person's orders as attribution saw them, JSON-ready."""
        orders = []
        for row in OrderRow.by_subscriber.query(thread_key(shop_id, phone)):
            stored = row_to_stored(row)
            orders.append(
                {
                    "order_id": row.order_id,
                    "at": stored.order.at.isoformat(),
                    "total": stored.order.total,
                    "currency": stored.order.currency,
                    "customer_id": stored.order.customer_id,
                    "discount_codes": list(stored.order.discount_codes),
                    "campaign_id": stored.attribution.campaign_id if stored.attribution else None,
                    "attributed_by": stored.attribution.by.value if stored.attribution else None,
                    "cancelled": stored.cancelled,
                }
            )
        return {"orders": orders}

    def erase(self, shop_id: str, phone: str) -> int:
        """Strip the person from their orders (phone, customer id); how many orders.

        The rows stay, with order id, amount and campaign only: they are what keeps a redelivered order from
        counting twice and lets a later cancellation leave the campaign's revenue, and they name nobody."""
        erased = 0
        for row in OrderRow.by_subscriber.query(thread_key(shop_id, phone)):
            OrderRow(shop_id, row.order_id).update(
                actions=[OrderRow.phone.remove(), OrderRow.customer_id.remove(), OrderRow.subscriber_key.remove()]
            )
            erased += 1
        return erased

    @staticmethod
    def _subscriber(shop_id: str, phone: str | None) -> SubscriberRow | None:
        if phone is None:
            return None
        try:
            return SubscriberRow.get(shop_id, phone, consistent_read=True)
        except SubscriberRow.DoesNotExist:
            return None
