"""DynamoLinkStore on moto: links never overwritten, slots taken once, clicks counted exactly under 50
concurrent clicks (total, unique, campaign and subscriber), and the latest click found for attribution."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.keys import thread_key
from chalicelib.adapters.dynamo.links import DynamoLinkStore
from chalicelib.adapters.dynamo.tables import ClickRow, LinkRow, SubscriberRow
from chalicelib.domain.links import Link, Visit
from chalicelib.services.links import LinkOwner, follow, shorten_many
from tests.fakes import FrozenClock, fake_ports
from tests.integration.conftest import Race
from tests.integration.test_dynamo_ledger import SHOP, T0, add_subscriber, new_campaign

pytestmark = pytest.mark.integration

PHONE = "+15555550123"


@pytest.fixture
def store(aws: None) -> DynamoLinkStore:
    DynamoCampaignRepository().create(new_campaign("c001"))
    DynamoCampaignRepository().create(new_campaign("c002"))
    return DynamoLinkStore()


def link(code: str, phone: str = PHONE, campaign_id: str | None = "c001", target: str = "https://shop.com/a") -> Link:
    return Link(code=code, shop_id=SHOP, phone=phone, target=target, created_at=T0, campaign_id=campaign_id)


def make(store: DynamoLinkStore, made: Link) -> None:
    """Store a link under a slot of its own."""
    assert store.create([(f"slot-of-{made.code}", made)]) == {f"slot-of-{made.code}": made.code}


def stats(campaign_id: str = "c001") -> tuple[int, int]:
    c = DynamoCampaignRepository().get(SHOP, campaign_id)
    return c.stats.clicks, c.stats.unique_clicks


class TestLinks:
    def test_a_taken_code_is_never_overwritten(self, store: DynamoLinkStore) -> None:
        assert store.create([("s#1", link("AAAAAAAAA"))]) == {"s#1": "AAAAAAAAA"}
        # another recipient drawing the same code gets nothing written: its slot stays empty, to try again
        assert store.create([("s#2", link("AAAAAAAAA", target="https://evil.example"))]) == {}
        stored = store.get("AAAAAAAAA")
        assert stored is not None and stored.target == "https://shop.com/a"
        assert store.slots(["s#1", "s#2"]) == {"s#1": "AAAAAAAAA"}
        assert store.get("BBBBBBBBB") is None

    def test_a_slot_keeps_its_first_code(self, store: DynamoLinkStore) -> None:
        assert store.slots(["s#1"]) == {}
        assert store.create([("s#1", link("AAAAAAAAA"))]) == {"s#1": "AAAAAAAAA"}
        assert store.create([("s#1", link("BBBBBBBBB"))]) == {"s#1": "AAAAAAAAA"}
        assert store.slots(["s#1"]) == {"s#1": "AAAAAAAAA"}
        assert store.get("BBBBBBBBB") is None  # the loser's link was never stored: no code without a slot
        assert store.get("slot#s#1") is None  # a slot is not a link

    def test_one_taken_slot_or_code_leaves_the_rest_of_the_batch_written(self, store: DynamoLinkStore) -> None:
        store.create([("s#1", link("AAAAAAAAA")), ("s#99", link("ZZZZZZZZZ"))])
        batch = [
            ("s#1", link("CCCCCCCCC")),
            ("s#2", link("ZZZZZZZZZ")),
            *((f"s#{n}", link(f"CODE{n:05d}")) for n in range(3, 60)),
        ]
        held = store.create(batch)
        assert held["s#1"] == "AAAAAAAAA" and "s#2" not in held
        assert all(held[f"s#{n}"] == f"CODE{n:05d}" for n in range(3, 60))  # two transactions' worth
        assert store.slots([f"s#{n}" for n in range(1, 60)]) == held
        assert store.get("CCCCCCCCC") is None  # the loser of a taken slot stored no link

    def test_racing_slot_takers_agree(self, store: DynamoLinkStore, race: Race) -> None:
        results = race(8, lambda i: store.create([("s#1", link(f"CODE{i:05d}"))])["s#1"])
        assert len(set(results)) == 1
        assert store.slots(["s#1"]) == {"s#1": results[0]}


class TestClicks:
    def test_first_click_is_unique_and_updates_the_subscriber(self, store: DynamoLinkStore) -> None:
        add_subscriber(PHONE)
        make(store, link("AAAAAAAAA"))
        first = store.get("AAAAAAAAA")
        assert first is not None
        assert store.record_click(first, T0 + timedelta(minutes=1))
        again = store.get("AAAAAAAAA")
        assert again is not None and again.clicks == 1
        assert not store.record_click(again, T0 + timedelta(minutes=2))
        assert stats() == (2, 1)
        row = SubscriberRow.get(SHOP, PHONE)
        assert row.last_clicked_at == T0 + timedelta(minutes=2)
        assert row.version == 3  # each fact moves the version, so a stale consent write retries
        assert not store.record_click(again, T0)  # an older click never moves the fact back
        assert SubscriberRow.get(SHOP, PHONE).last_clicked_at == T0 + timedelta(minutes=2)

    def test_a_click_without_a_subscriber_still_counts_and_creates_no_half_subscriber(self, store: DynamoLinkStore) -> None:
        make(store, link("AAAAAAAAA"))
        stored = store.get("AAAAAAAAA")
        assert stored is not None and store.record_click(stored, T0)
        assert stats() == (1, 1)
        assert SubscriberRow.count(SHOP) == 0

    def test_fifty_concurrent_clicks_on_one_link_count_exactly(self, store: DynamoLinkStore, race: Race) -> None:
        add_subscriber(PHONE)
        make(store, link("AAAAAAAAA"))
        ports = fake_ports(FrozenClock(T0))
        ports.links = store
        results = race(50, lambda i: follow(ports, "AAAAAAAAA", Visit.CLICK))
        assert all(r is not None and r.counted for r in results)
        assert sum(1 for r in results if r is not None and r.first) == 1
        assert stats() == (50, 1)
        stored = store.get("AAAAAAAAA")
        assert stored is not None and stored.clicks == 50

    def test_fifty_concurrent_recipients_count_fifty_unique(self, store: DynamoLinkStore, race: Race) -> None:
        phones = [f"+1555555{i:04d}" for i in range(50)]
        for i, phone in enumerate(phones):
            add_subscriber(phone)
            make(store, link(f"CODE{i:05d}", phone=phone))
        ports = fake_ports(FrozenClock(T0))
        ports.links = store
        results = race(50, lambda i: follow(ports, f"CODE{i:05d}", Visit.CLICK))
        assert all(r is not None and r.first for r in results)
        assert stats() == (50, 50)
        assert all(SubscriberRow.get(SHOP, p).last_clicked_at == T0 for p in phones)

    def test_latest_click_within_the_window_on_a_campaign_link(self, store: DynamoLinkStore) -> None:
        make(store, link("AAAAAAAAA", campaign_id="c001"))
        make(store, link("BBBBBBBBB", campaign_id="c002"))
        make(store, link("RRRRRRRRR", campaign_id=None))  # an inbox reply's link
        for code, minutes in (("AAAAAAAAA", 0), ("BBBBBBBBB", 10), ("RRRRRRRRR", 20)):
            stored = store.get(code)
            assert stored is not None
            store.record_click(stored, T0 + timedelta(minutes=minutes))
        found = store.latest_click(SHOP, PHONE, T0 - timedelta(days=5), T0 + timedelta(hours=1))
        assert found is not None and (found.campaign_id, found.code) == ("c002", "BBBBBBBBB")
        found = store.latest_click(SHOP, PHONE, T0, T0 + timedelta(minutes=9))
        assert found is not None and found.campaign_id == "c001"
        # both edges are inside
        assert store.latest_click(SHOP, PHONE, T0 + timedelta(minutes=10), T0 + timedelta(minutes=10)) is not None
        assert store.latest_click(SHOP, PHONE, T0 + timedelta(minutes=11), T0 + timedelta(hours=1)) is None
        assert store.latest_click(SHOP, "+15555559999", T0 - timedelta(days=5), T0 + timedelta(hours=1)) is None
        row = next(iter(ClickRow.query(thread_key(SHOP, PHONE))))
        assert row.expires_at is not None and row.expires_at > int(datetime(2025, 5, 1, tzinfo=timezone.utc).timestamp())
        assert LinkRow.count() == 6  # three links and their three slots


class TestPersonalData:
    def test_export_then_erase_removes_links_slots_and_clicks_of_that_person_only(self, store: DynamoLinkStore) -> None:
        other = "+15555550999"
        for code, phone in (("AAAAAAAAA", PHONE), ("BBBBBBBBB", PHONE), ("OOOOOOOOO", other)):
            store.create([(f"{SHOP}#campaign:c001#{phone}#{code[0]}", link(code, phone=phone))])
            stored = store.get(code)
            assert stored is not None
            store.record_click(stored, T0)
        exported = store.export(SHOP, PHONE)
        links, clicks = exported["links"], exported["clicks"]
        assert isinstance(links, list) and isinstance(clicks, list)
        assert sorted(entry["code"] for entry in links) == ["AAAAAAAAA", "BBBBBBBBB"]
        assert len(clicks) == 2

        assert store.erase(SHOP, PHONE) == 2 + 2 + 2  # links, slots, clicks
        remaining = {row.key for row in LinkRow.scan()}
        assert remaining == {"OOOOOOOOO", f"slot#{SHOP}#campaign:c001#{other}#O"}
        assert [row.subscriber_key for row in ClickRow.scan()] == [thread_key(SHOP, other)]
        assert store.get("AAAAAAAAA") is None  # the erased person's link no longer resolves
        assert store.erase(SHOP, PHONE) == 0
        assert stats() == (3, 3)  # the campaign's counts are not personal: they stay


class TestShortenABatch:
    def test_a_redelivered_batch_gets_the_codes_the_first_attempt_stored_without_reading_first(
        self, store: DynamoLinkStore
    ) -> None:
        ports = fake_ports(FrozenClock(T0))
        ports.links = store
        owners = [LinkOwner(SHOP, f"+1555555{n:04d}", campaign_id="c001") for n in range(60)]
        messages = [("Sale! https://shop.com/a and https://shop.com/b", owner) for owner in owners]
        first = shorten_many(ports, messages)
        assert len(set(first)) == 60 and LinkRow.count() == 2 * 120  # a link and a slot per URL per recipient
        again = shorten_many(ports, messages)  # the slots are taken: their codes come back, nothing new is stored
        assert again == first and LinkRow.count() == 2 * 120
