"""The shop's campaign totals on moto: moved in the same transactions as every campaign counter (planning,
sends, deferrals, clicks, orders, cancellations), so they always equal the sum over the shop's campaigns,
also under concurrent clicks and orders; redeliveries that count nothing on a campaign count nothing here."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import timedelta

import pytest

from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.ledger import DynamoSendLedger
from chalicelib.adapters.dynamo.links import DynamoLinkStore
from chalicelib.adapters.dynamo.orders import DynamoOrderStore
from chalicelib.domain.attribution import AttributedBy, Attribution
from chalicelib.domain.campaigns import CampaignStats
from chalicelib.domain.links import Link
from chalicelib.domain.orders import Order
from chalicelib.domain.sending import Claim, Deferral, LedgerEntry, SendState, Settlement
from chalicelib.services import campaigns as campaign_service
from tests.fakes import fake_ports
from tests.integration.conftest import Race
from tests.integration.test_dynamo_ledger import OTHER_SHOP, SHOP, T0, add_subscriber, new_campaign

pytestmark = pytest.mark.integration

PHONES = [f"+1555555{i:04d}" for i in range(6)]
COUNTERS = [f.name for f in fields(CampaignStats) if f.name != "currency"]


@pytest.fixture
def repo(aws: None) -> DynamoCampaignRepository:
    repo = DynamoCampaignRepository()
    for campaign_id in ("c001", "c002"):
        repo.save(repo.create(new_campaign(campaign_id)).start(T0, {"all": []}))
    repo.create(new_campaign("c009", shop_id=OTHER_SHOP))
    for phone in PHONES:
        add_subscriber(phone)
    return repo


def summed(repo: DynamoCampaignRepository, shop_id: str = SHOP) -> dict[str, int]:
    every = list(repo.all(shop_id))
    return {name: sum(getattr(c.stats, name) for c in every) for name in COUNTERS}


def as_dict(stats: CampaignStats) -> dict[str, int]:
    return {name: getattr(stats, name) for name in COUNTERS}


def test_every_counter_change_moves_the_totals_with_it(repo: DynamoCampaignRepository) -> None:
    ledger, links, orders = DynamoSendLedger(), DynamoLinkStore(), DynamoOrderStore()
    assert repo.checkpoint_plan(SHOP, "c001", page=0, next_cursor=None, planned=4)
    assert not repo.checkpoint_plan(SHOP, "c001", page=0, next_cursor=None, planned=4)  # a duplicate plan job
    assert repo.checkpoint_plan(SHOP, "c002", page=0, next_cursor=None, planned=2)
    groups = {"c001": [PHONES[0], PHONES[1]], "c002": [PHONES[2]]}
    for campaign_id, phones in groups.items():
        assert ledger.claim(SHOP, campaign_id, [Claim(phone, None) for phone in phones], T0).claimed == tuple(phones)
        entries = [
            LedgerEntry(SHOP, campaign_id, phone, SendState.SENT, T0, provider_message_id="pm", parts=2) for phone in phones
        ]
        group = [Settlement(entry, SendState.CLAIMED) for entry in entries]
        assert ledger.settle(SHOP, campaign_id, group) == set(phones)
        assert ledger.settle(SHOP, campaign_id, group) == frozenset()  # a redelivered record counts nothing
    skip = LedgerEntry(SHOP, "c001", PHONES[3], SendState.SKIPPED, T0, reason="not_subscribed")
    assert ledger.settle(SHOP, "c001", [Settlement(skip, None)]) == {PHONES[3]}
    assert ledger.defer(SHOP, "c002", [Deferral(PHONES[4], T0 + timedelta(hours=8), None)], T0) == 1
    assert ledger.defer(SHOP, "c002", [Deferral(PHONES[4], T0 + timedelta(hours=9), SendState.DEFERRED)], T0) == 0
    for i, campaign_id in enumerate(("c001", "c002")):
        links.create([(f"slot-{i}", Link(f"CODE{i:05d}", SHOP, PHONES[0], "https://shop.com", T0, campaign_id=campaign_id))])
        link = links.get(f"CODE{i:05d}")
        assert link is not None
        links.record_click(link, T0 + timedelta(minutes=i))
        links.record_click(link, T0 + timedelta(minutes=i + 1))
    by_click = Attribution("c002", AttributedBy.CLICK)
    orders.record(Order(SHOP, "1", T0, 4250, "USD", PHONES[0], None, ()), by_click)
    orders.record(Order(SHOP, "1", T0, 4250, "USD", PHONES[0], None, ()), by_click)  # replayed
    orders.record(Order(SHOP, "2", T0, 1000, "USD", PHONES[0], None, ()), by_click)
    orders.cancel(SHOP, "2", T0 + timedelta(hours=1))
    orders.cancel(SHOP, "2", T0 + timedelta(hours=2))

    totals = repo.totals(SHOP)
    assert as_dict(totals) == summed(repo)
    assert (totals.planned, totals.sent, totals.skipped, totals.parts, totals.deferred) == (6, 3, 1, 6, 1)
    assert (totals.clicks, totals.unique_clicks, totals.orders, totals.revenue, totals.currency) == (4, 2, 1, 4250, "USD")
    assert repo.totals(OTHER_SHOP) == CampaignStats()  # another shop's totals are its own


def test_totals_stay_exact_under_concurrent_clicks_and_orders(repo: DynamoCampaignRepository, race: Race) -> None:
    links, orders = DynamoLinkStore(), DynamoOrderStore()
    for i in range(20):
        made = Link(f"CODE{i:05d}", SHOP, PHONES[i % 6], "https://shop.com", T0, campaign_id=("c001", "c002")[i % 2])
        links.create([(f"slot-{i}", made)])

    def act(i: int) -> object:
        if i < 30:
            link = links.get(f"CODE{i % 20:05d}")
            assert link is not None
            return links.record_click(link, T0 + timedelta(seconds=i))
        order = Order(SHOP, str(i % 5), T0, 100 * (i % 5 + 1), "USD", PHONES[0], None, ())
        return orders.record(order, Attribution(("c001", "c002")[i % 2], AttributedBy.CLICK))

    race(40, act)
    totals = repo.totals(SHOP)
    assert as_dict(totals) == summed(repo)
    assert (totals.clicks, totals.unique_clicks, totals.orders, totals.revenue) == (30, 20, 5, 1500)


def test_list_campaigns_reads_the_aggregate(repo: DynamoCampaignRepository) -> None:
    repo.checkpoint_plan(SHOP, "c001", page=0, next_cursor=None, planned=3)
    ports = replace(fake_ports(), campaigns=repo)
    listing = campaign_service.list_campaigns(ports, SHOP, limit=1)
    assert len(listing.page.items) == 1 and listing.totals.planned == 3
