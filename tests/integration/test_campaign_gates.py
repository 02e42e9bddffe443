"""Campaign gates and sharded shop totals on moto, attacked: End Campaign against claims on every shard, counters
summed over shards against the ledger, completion decided on the gates' sum (once, never early), the shop's totals
against the sum over its campaigns, clicks and orders on gates, and deletion leaving no gate behind."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.keys import GATE_SHARDS, TOTALS_SHARDS, gate_keys, shard_of, totals_keys
from chalicelib.adapters.dynamo.ledger import DynamoSendLedger
from chalicelib.adapters.dynamo.links import DynamoLinkStore
from chalicelib.adapters.dynamo.orders import DynamoOrderStore
from chalicelib.adapters.dynamo.tables import CampaignGateRow, CampaignRow, CampaignTotalsRow
from chalicelib.domain.attribution import AttributedBy, Attribution
from chalicelib.domain.campaigns import Campaign, CampaignStats, CampaignStatus
from chalicelib.domain.links import Link
from chalicelib.domain.orders import Order
from chalicelib.domain.sending import Claim, ClaimRefusal, Deferral, LedgerEntry, SendState, Settlement, SkipReason
from chalicelib.services.ports import OrderOutcome
from tests.integration.conftest import Race
from tests.integration.test_dynamo_ledger import new_campaign

SHOP = "alpha.myshopify.com"  # test_dynamo_ledger's shop, whose new_campaign these tests use
T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)

pytestmark = pytest.mark.integration


def phone_on(shard: int, *, skip: int = 0) -> str:
    """A phone whose writes go to gate ``shard`` (the ``skip``-th such phone)."""
    found = (f"+1555700{i:04d}" for i in range(10_000) if shard_of(f"+1555700{i:04d}", GATE_SHARDS) == shard)
    for _ in range(skip):
        next(found)
    return next(found)


def group_on(shard: int, size: int, start: int = 0) -> list[str]:
    """``size`` phones, the first of them on gate ``shard`` (a group's gate is its first phone's)."""
    first = phone_on(shard, skip=start)
    return [first, *(f"+1555800{shard}{start:02d}{i:02d}" for i in range(size - 1))]


@pytest.fixture
def repo(aws: None) -> DynamoCampaignRepository:
    return DynamoCampaignRepository(sleep=lambda seconds: None)


@pytest.fixture
def ledger(aws: None) -> DynamoSendLedger:
    return DynamoSendLedger(sleep=lambda seconds: None)


def start(repo: DynamoCampaignRepository, campaign_id: str = "c001") -> Campaign:
    return repo.save(repo.create(new_campaign(campaign_id)).start(T0, {"all": []}))


def send_group(ledger: DynamoSendLedger, campaign_id: str, phones: list[str], *, state: SendState = SendState.SENT) -> None:
    """Claim and settle a group as the send path does (one claim transaction, one settle transaction)."""
    got = ledger.claim(SHOP, campaign_id, [Claim(p, None) for p in phones], T0)
    assert got.claimed == tuple(phones)
    reason = SkipReason.NOT_SUBSCRIBED.value if state is SendState.SKIPPED else None
    settlements = [
        Settlement(
            LedgerEntry(SHOP, campaign_id, p, state, T0, reason=reason, parts=2 if state is SendState.SENT else 0),
            SendState.CLAIMED,
        )
        for p in phones
    ]
    assert ledger.settle(SHOP, campaign_id, settlements) == frozenset(phones)


def gates(campaign_id: str = "c001") -> list[CampaignGateRow]:
    return list(CampaignGateRow.batch_get(gate_keys(SHOP, campaign_id), consistent_read=True))


class TestEndMeansEnd:
    def test_after_end_returns_a_claim_on_every_shard_is_refused(
        self, repo: DynamoCampaignRepository, ledger: DynamoSendLedger
    ) -> None:
        running = start(repo)
        send_group(ledger, "c001", group_on(0, 3))  # it was running: shard 0's gate let a claim through

        repo.save(running.end(T0))

        assert {gate.status for gate in gates()} == {CampaignStatus.COMPLETED.value}
        for shard in range(GATE_SHARDS):
            phones = group_on(shard, 2, start=1)
            got = ledger.claim(SHOP, "c001", [Claim(p, None) for p in phones], T0)
            assert got.claimed == () and set(got.refused.values()) == {ClaimRefusal.CAMPAIGN_NOT_RUNNING}

    def test_end_racing_claims_on_other_shards_leaves_no_claim_after_it(
        self, repo: DynamoCampaignRepository, ledger: DynamoSendLedger, race: Race
    ) -> None:
        running = start(repo)

        def act(i: int) -> object:
            if i == 0:
                return repo.save(running.end(T0))
            return ledger.claim(SHOP, "c001", [Claim(phone_on(i % GATE_SHARDS, skip=i), None)], T0)

        race(GATE_SHARDS + 1, act)

        # Whatever got through did so before End's transaction; after it, no shard lets anything through.
        assert {gate.status for gate in gates()} == {CampaignStatus.COMPLETED.value}
        for shard in range(GATE_SHARDS):
            late = ledger.claim(SHOP, "c001", [Claim(phone_on(shard, skip=50), None)], T0)
            assert late.refused == {phone_on(shard, skip=50): ClaimRefusal.CAMPAIGN_NOT_RUNNING}

    def test_pausing_a_scheduled_campaign_and_restarting_moves_every_gate(self, repo: DynamoCampaignRepository) -> None:
        draft = repo.create(new_campaign())
        assert {gate.status for gate in gates()} == {CampaignStatus.DRAFT.value}
        assert len(gates()) == GATE_SHARDS
        running = repo.save(draft.start(T0, {"all": []}))
        assert {gate.status for gate in gates()} == {CampaignStatus.IN_PROGRESS.value}
        assert running.status is CampaignStatus.IN_PROGRESS


class TestCounters:
    def test_counters_summed_over_shards_equal_the_ledger(self, repo: DynamoCampaignRepository, ledger: DynamoSendLedger) -> None:
        start(repo)
        repo.checkpoint_plan(SHOP, "c001", page=0, next_cursor=None, planned=40)
        for i in range(10):
            send_group(
                ledger, "c001", group_on(i % GATE_SHARDS, 3, start=i), state=SendState.SENT if i % 3 else SendState.SKIPPED
            )
        deferred = [Deferral(phone_on(5, skip=200 + i), T0 + timedelta(hours=9), None) for i in range(4)]
        assert ledger.defer(SHOP, "c001", deferred, T0) == 4

        rows = Counter(entry.state for entry in ledger.rows(SHOP, "c001"))
        stats = repo.get(SHOP, "c001").stats
        assert (stats.sent, stats.skipped, stats.deferred, stats.planned) == (
            rows[SendState.SENT],
            rows[SendState.SKIPPED],
            rows[SendState.DEFERRED],
            40,
        )
        assert stats.parts == 2 * rows[SendState.SENT]
        assert sum(int(gate.done) for gate in gates()) == rows[SendState.SENT] + rows[SendState.SKIPPED] == 30
        assert sum(1 for gate in gates() if gate.done) >= 4  # the groups really were spread over shards
        assert int(CampaignRow.get(SHOP, "c001").sent or 0) == 0  # the row is no longer written by the send path
        # the same sums on every read of the campaign
        assert repo.page(SHOP).items[0].stats == stats
        assert next(iter(repo.all(SHOP))).stats == stats

    def test_a_page_of_many_campaigns_reads_each_ones_own_gates(
        self, repo: DynamoCampaignRepository, ledger: DynamoSendLedger
    ) -> None:
        for n in range(15):  # more than one BatchGetItem's 100 keys of gates
            start(repo, f"c{n:03d}")
            send_group(ledger, f"c{n:03d}", group_on(n % GATE_SHARDS, n + 1, start=n))  # new phones: no contact cap
        calls: list[str] = []

        def count(**kwargs: object) -> None:
            calls.append(str(kwargs.get("event_name", "")).rpartition(".")[2])

        clients = (model._get_connection().connection.client for model in (CampaignRow, CampaignGateRow))
        emitters = {id(c.meta.events): c.meta.events for c in clients}.values()
        for events in emitters:
            events.register("before-call.dynamodb", count)
        try:
            page = repo.page(SHOP, limit=15)
        finally:
            for events in emitters:
                events.unregister("before-call.dynamodb", count)
        # One query, and 120 gates in BatchGetItems of at most 100 keys: never a call per campaign.
        assert calls == ["Query", "BatchGetItem", "BatchGetItem"]
        assert {c.campaign_id: c.stats.sent for c in page.items} == {f"c{n:03d}": n + 1 for n in range(15)}
        assert {c.campaign_id: c.stats.sent for c in repo.all(SHOP)} == {f"c{n:03d}": n + 1 for n in range(15)}

    def test_the_shops_totals_equal_the_sum_over_its_campaigns(
        self, repo: DynamoCampaignRepository, ledger: DynamoSendLedger
    ) -> None:
        for campaign_id in ("c001", "c002"):
            start(repo, campaign_id)
            repo.checkpoint_plan(SHOP, campaign_id, page=0, next_cursor=None, planned=20)
        for i in range(6):
            send_group(ledger, "c001" if i % 2 else "c002", group_on(i, 2, start=i))
        ledger.defer(SHOP, "c002", [Deferral(phone_on(3, skip=300), T0 + timedelta(hours=9), None)], T0)

        total = CampaignStats()
        for c in repo.all(SHOP):
            s = c.stats
            total = replace(
                total,
                planned=total.planned + s.planned,
                sent=total.sent + s.sent,
                deferred=total.deferred + s.deferred,
                parts=total.parts + s.parts,
            )
        assert repo.totals(SHOP) == total
        assert total.sent == 12
        items = list(CampaignTotalsRow.batch_get(totals_keys(SHOP), consistent_read=True))
        assert 2 <= len(items) <= TOTALS_SHARDS  # spread, and only under the shop's shard keys
        assert not list(CampaignTotalsRow.batch_get([SHOP]))  # nothing under the unsharded key


class TestCompletion:
    def test_the_last_group_on_another_shard_completes_once(
        self, repo: DynamoCampaignRepository, ledger: DynamoSendLedger
    ) -> None:
        start(repo)
        repo.checkpoint_plan(SHOP, "c001", page=0, next_cursor=None, planned=9)
        send_group(ledger, "c001", group_on(1, 3))
        send_group(ledger, "c001", group_on(2, 3))
        assert not repo.complete_if_done(SHOP, "c001", T0)

        send_group(ledger, "c001", group_on(6, 3))  # the last one, on a shard no other group touched
        done_at = T0 + timedelta(minutes=3)
        assert repo.complete_if_done(SHOP, "c001", done_at)
        assert not repo.complete_if_done(SHOP, "c001", done_at)
        got = repo.get(SHOP, "c001")
        assert (got.status, got.completed_at, got.stats.sent) == (CampaignStatus.COMPLETED, done_at, 9)
        assert {gate.status for gate in gates()} == {CampaignStatus.COMPLETED.value}  # and claims stop

    def test_completers_racing_complete_it_exactly_once(
        self, repo: DynamoCampaignRepository, ledger: DynamoSendLedger, race: Race
    ) -> None:
        start(repo)
        repo.checkpoint_plan(SHOP, "c001", page=0, next_cursor=None, planned=4)
        for shard in range(4):
            send_group(ledger, "c001", [phone_on(shard)])
        assert sum(race(6, lambda i: repo.complete_if_done(SHOP, "c001", T0))) == 1

    def test_never_while_planning_is_not_done(self, repo: DynamoCampaignRepository, ledger: DynamoSendLedger) -> None:
        start(repo)
        repo.checkpoint_plan(SHOP, "c001", page=0, next_cursor="more", planned=2)
        send_group(ledger, "c001", group_on(0, 2))
        assert not repo.complete_if_done(SHOP, "c001", T0)
        repo.checkpoint_plan(SHOP, "c001", page=1, next_cursor=None, planned=1)
        assert not repo.complete_if_done(SHOP, "c001", T0)  # planned 3 > done 2
        send_group(ledger, "c001", group_on(7, 1))
        assert repo.complete_if_done(SHOP, "c001", T0)

    def test_planned_growing_after_the_read_refuses_the_write(
        self, repo: DynamoCampaignRepository, ledger: DynamoSendLedger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        start(repo)
        repo.checkpoint_plan(SHOP, "c001", page=0, next_cursor=None, planned=2)
        send_group(ledger, "c001", group_on(3, 2))
        read = repo._read

        def read_then_planned_grows(shop_id: str, campaign_id: str) -> tuple[CampaignRow | None, list[CampaignGateRow]]:
            got = read(shop_id, campaign_id)
            # Between the read and the write the row's planned grows (the write's condition must see it).
            CampaignRow(shop_id, campaign_id).update(actions=[CampaignRow.planned.add(1)])
            return got

        monkeypatch.setattr(repo, "_read", read_then_planned_grows)
        assert not repo.complete_if_done(SHOP, "c001", T0)
        assert repo.get(SHOP, "c001").status is CampaignStatus.IN_PROGRESS


class TestAttribution:
    def test_clicks_and_orders_on_many_shards_land_in_stats_and_totals(self, repo: DynamoCampaignRepository) -> None:
        start(repo)
        links = DynamoLinkStore(sleep=lambda seconds: None)
        for i in range(6):
            code = f"CODE{i:05d}"
            made = Link(
                code=code, shop_id=SHOP, phone=phone_on(i), target="https://shop.com/a", created_at=T0, campaign_id="c001"
            )
            assert links.create([(f"slot-{code}", made)]) == {f"slot-{code}": code}
            stored = links.get(code)
            assert stored is not None and links.record_click(stored, T0)
        orders = DynamoOrderStore(sleep=lambda seconds: None)
        by_click = Attribution("c001", AttributedBy.CLICK)
        for i in range(5):
            order = Order(SHOP, f"{1000 + i}", T0, 100 * (i + 1), "USD", None, None, ())
            assert orders.record(order, by_click) is OrderOutcome.COUNTED
        assert orders.cancel(SHOP, "1004", T0) is OrderOutcome.CANCELLED

        stats = repo.get(SHOP, "c001").stats
        assert (stats.clicks, stats.unique_clicks, stats.orders, stats.revenue, stats.currency) == (6, 6, 4, 1000, "USD")
        totals = repo.totals(SHOP)
        assert (totals.clicks, totals.unique_clicks, totals.orders, totals.revenue, totals.currency) == (6, 6, 4, 1000, "USD")
        assert sum(1 for gate in gates() if gate.clicks) >= 3


class TestDeletion:
    def test_deleting_a_campaign_leaves_no_gate_and_a_stale_settle_creates_none(
        self, repo: DynamoCampaignRepository, ledger: DynamoSendLedger
    ) -> None:
        draft = repo.create(new_campaign())
        repo.create(new_campaign("c002"))
        repo.delete(draft)

        assert gates() == []
        assert len(gates("c002")) == GATE_SHARDS
        entry = LedgerEntry(SHOP, "c001", phone_on(4), SendState.SENT, T0, parts=1)
        assert ledger.settle(SHOP, "c001", [Settlement(entry, None)]) == frozenset()
        assert gates() == []
        assert {gate.gate_key for gate in CampaignGateRow.scan()} == set(gate_keys(SHOP, "c002"))
