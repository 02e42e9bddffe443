"""DynamoOrderStore on moto: an order counted once under replays (also racing), cancellation once, a
cancellation before the order, subscriber facts moved with the order, campaigns found by discount code."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.orders import DynamoOrderStore
from chalicelib.adapters.dynamo.tables import OrderRow, SubscriberRow
from chalicelib.domain.attribution import AttributedBy, Attribution
from chalicelib.domain.orders import Order
from chalicelib.services.ports import OrderOutcome
from tests.integration.conftest import Race
from tests.integration.test_dynamo_ledger import SHOP, T0, add_subscriber, new_campaign

pytestmark = pytest.mark.integration

PHONE = "+15555550123"
BY_CLICK = Attribution("c001", AttributedBy.CLICK)


@pytest.fixture
def store(aws: None) -> DynamoOrderStore:
    repo = DynamoCampaignRepository()
    repo.create(new_campaign("c001"))
    repo.create(replace(new_campaign("c002"), discount_code="Save10"))
    repo.create(replace(new_campaign("c003"), discount_code="SAVE10"))
    add_subscriber(PHONE)
    return DynamoOrderStore()


def order(order_id: str = "1001", total: int = 4250, phone: str | None = PHONE) -> Order:
    return Order(SHOP, order_id, T0, total, "USD", phone, "77", ("SAVE10",))


def campaign_money(campaign_id: str = "c001") -> tuple[int, int, str | None]:
    stats = DynamoCampaignRepository().get(SHOP, campaign_id).stats
    return stats.orders, stats.revenue, stats.currency


def test_an_order_is_counted_once_with_its_subscriber_facts(store: DynamoOrderStore) -> None:
    assert store.record(order(), BY_CLICK) is OrderOutcome.COUNTED
    assert store.record(order(), BY_CLICK) is OrderOutcome.DUPLICATE
    assert campaign_money() == (1, 4250, "USD")
    row = SubscriberRow.get(SHOP, PHONE)
    assert (row.orders_count, row.last_order_at) == (1, T0)
    stored = store.get(SHOP, "1001")
    assert stored is not None and stored.attribution == BY_CLICK and stored.order == order()


def test_racing_replays_count_once(store: DynamoOrderStore, race: Race) -> None:
    results = race(10, lambda i: store.record(order(), BY_CLICK))
    assert results.count(OrderOutcome.COUNTED) == 1
    assert campaign_money()[:2] == (1, 4250)
    assert SubscriberRow.get(SHOP, PHONE).orders_count == 1


def test_cancellation_takes_it_out_once(store: DynamoOrderStore, race: Race) -> None:
    store.record(order("1", 1000), BY_CLICK)
    store.record(order("2", 500), BY_CLICK)
    results = race(5, lambda i: store.cancel(SHOP, "1", T0 + timedelta(hours=1)))
    assert results.count(OrderOutcome.CANCELLED) == 1
    assert campaign_money()[:2] == (1, 500)
    assert SubscriberRow.get(SHOP, PHONE).orders_count == 1


def test_a_cancellation_first_stores_a_tombstone_the_order_cannot_pass(store: DynamoOrderStore) -> None:
    assert store.cancel(SHOP, "9", T0) is OrderOutcome.CANCELLED
    assert store.record(order("9"), BY_CLICK) is OrderOutcome.DUPLICATE
    assert campaign_money()[:2] == (0, 0)
    assert SubscriberRow.get(SHOP, PHONE).orders_count == 0


def test_an_order_without_a_subscriber_writes_no_half_subscriber(store: DynamoOrderStore) -> None:
    assert store.record(order(phone="+15555559999"), BY_CLICK) is OrderOutcome.COUNTED
    assert store.record(order("2", phone=None), None) is OrderOutcome.COUNTED
    assert SubscriberRow.count(SHOP) == 1
    assert store.cancel(SHOP, "1001", T0) is OrderOutcome.CANCELLED
    assert campaign_money()[:2] == (0, 0)
    assert OrderRow.get(SHOP, "2").subscriber_key is None


def test_campaigns_by_discount_code_newest_wins(store: DynamoOrderStore) -> None:
    found = DynamoCampaignRepository().by_discount_code(SHOP, ["save10", "NONE"])
    assert found == {"SAVE10": "c003"}
    assert DynamoCampaignRepository().by_discount_code(SHOP, []) == {}


def test_export_and_erase_strip_the_person_but_keep_the_order_counted_once(store: DynamoOrderStore) -> None:
    store.record(order("1"), BY_CLICK)
    store.record(order("2", phone="+15555550999"), BY_CLICK)
    orders = store.export(SHOP, PHONE)["orders"]
    assert isinstance(orders, list) and [o["order_id"] for o in orders] == ["1"]

    assert store.erase(SHOP, PHONE) == 1
    row = OrderRow.get(SHOP, "1")
    assert (row.phone, row.customer_id, row.subscriber_key) == (None, None, None)
    assert OrderRow.get(SHOP, "2").phone == "+15555550999"
    assert store.export(SHOP, PHONE) == {"orders": []}
    assert store.record(order("1"), BY_CLICK) is OrderOutcome.DUPLICATE  # a redelivery still counts nothing
    assert store.cancel(SHOP, "1", T0) is OrderOutcome.CANCELLED
    assert campaign_money()[:2] == (1, 4250)
