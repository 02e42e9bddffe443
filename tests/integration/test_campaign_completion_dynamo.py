"""On moto: a planning page is read once (its plan kept, first read wins, even between racing copies), and a
campaign whose planner crashed and re-read its page after a STOP completes only once every planned recipient
is settled, with the real campaign, ledger and subscriber adapters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository, plan_key
from chalicelib.adapters.dynamo.privacy import DynamoShopData
from chalicelib.adapters.dynamo.tables import DedupeRow
from chalicelib.composition import Container, use_container
from chalicelib.domain.campaigns import CampaignStatus, PagePlan
from chalicelib.domain.sending import SendState
from chalicelib.services import campaigns, planning, subscribers
from chalicelib.services.ports import Ports
from chalicelib.settings import Settings
from tests.commands import add_subscriber, new_campaign
from tests.engine import Engine
from tests.fakes import FakeJobs, FakeSchedules, FrozenClock, WorkerCrash
from tests.integration.conftest import TEST_PREFIX, TEST_REGION, Race
from tests.numbers import create_shop

pytestmark = pytest.mark.integration

SHOP, OTHER = "alpha.myshopify.com", "beta.myshopify.com"
AT = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York: no quiet hours
NY = [f"+1212555{n:04d}" for n in range(1000, 1006)]


class TestKeptPagePlans:
    def test_first_plan_kept_wins_and_reads_back(self, aws: None) -> None:
        repo = DynamoCampaignRepository()
        assert repo.page_plan(SHOP, "c001", 0) is None
        first = PagePlan(page=0, phones=(NY[0], NY[1]), next_cursor="cur-1")
        assert repo.keep_page_plan(SHOP, "c001", first, AT) == first
        second = PagePlan(page=0, phones=(NY[0],), next_cursor="cur-2")  # a re-read that found less
        assert repo.keep_page_plan(SHOP, "c001", second, AT) == first
        assert repo.page_plan(SHOP, "c001", 0) == first
        last = PagePlan(page=1, phones=(), next_cursor=None)
        assert repo.keep_page_plan(SHOP, "c001", last, AT) == last
        assert repo.page_plan(SHOP, "c001", 1) == last
        assert repo.page_plan(SHOP, "c002", 0) is None and repo.page_plan(OTHER, "c001", 0) is None
        row = DedupeRow.get(plan_key(SHOP, "c001", 0))
        assert row.expires_at is not None and row.expires_at > AT.timestamp()  # TTL: it holds phone numbers

    def test_racing_copies_of_a_page_all_get_the_same_plan(self, aws: None, race: Race) -> None:
        repo = DynamoCampaignRepository()
        kept = race(4, lambda i: repo.keep_page_plan(SHOP, "c001", PagePlan(0, tuple(NY[: i + 1]), f"c{i}"), AT))
        assert len(set(kept)) == 1 and repo.page_plan(SHOP, "c001", 0) == kept[0]

    def test_shop_erasure_removes_its_kept_plans_only(self, aws: None) -> None:
        repo = DynamoCampaignRepository()
        repo.keep_page_plan(SHOP, "c001", PagePlan(0, (NY[0],), None), AT)
        repo.keep_page_plan(OTHER, "c001", PagePlan(0, (NY[1],), None), AT)
        DynamoShopData().erase_shop(SHOP)
        assert repo.page_plan(SHOP, "c001", 0) is None
        assert repo.page_plan(OTHER, "c001", 0) is not None


class CrashingCampaigns:
    """The real repository, but the next ``crashes`` checkpoints kill the planner first (a Lambda dying)."""

    def __init__(self, inner: Any, crashes: int) -> None:
        self.inner, self.crashes = inner, crashes

    def checkpoint_plan(self, *args: Any, **kwargs: Any) -> bool:
        if self.crashes:
            self.crashes -= 1
            raise WorkerCrash("planner crashed before its checkpoint")
        return bool(self.inner.checkpoint_plan(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def ports(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ports]:
    monkeypatch.setattr(planning, "PLAN_PAGE_SIZE", 2)
    monkeypatch.setattr(planning, "RECIPIENTS_PER_BATCH", 1)
    settings = Settings.from_env(
        {
            "AWS_REGION": TEST_REGION,
            "SMSCAST_RESOURCE_PREFIX": TEST_PREFIX,
            "SMSCAST_SMS_PROVIDER": "sandbox",
            "SMSCAST_ALLOW_FICTIONAL_NUMBERS": "true",
        }
    )
    container = Container(settings, clock=FrozenClock(AT))
    use_container(container)
    real = container.ports
    # Real tables; SQS and Scheduler played by the in-memory engine so crashes and redeliveries are steered.
    ports = replace(real, campaigns=CrashingCampaigns(real.campaigns, 1), jobs=FakeJobs(), schedules=FakeSchedules())
    create_shop(ports, shop_id=SHOP, settings={"sender_number": "+15550100000", "shop_name": "Demo"})
    for phone in NY[:4]:
        subscribers.add_subscriber(ports, SHOP, add_subscriber({"phone": phone, "source": "checkout"}))
    yield ports
    use_container(None)


def test_planner_rerun_after_a_stop_does_not_complete_early_on_dynamodb(ports: Ports) -> None:
    command = new_campaign({"name": "Sale", "message": "Hi {first_name|there}!", "segment_id": "all", "send_at": "now"})
    cid = campaigns.create_campaign(ports, SHOP, command).campaign_id
    engine = Engine(ports)
    assert engine.step() and engine.crashes == 1  # page 0 queued NY0 and NY1, then died before its checkpoint
    subscribers.opt_out(ports, SHOP, NY[1], source=subscribers.ConsentSource.MERCHANT, text="STOP")
    clock = ports.clock
    assert isinstance(clock, FrozenClock)
    for _ in range(30):  # ten minutes past the visibility timeout, one message at a time
        while engine.step():
            c = campaigns.get_campaign(ports, SHOP, cid)
            if c.status is CampaignStatus.COMPLETED:
                pending = {p for m in engine.queue for p in getattr(m.body, "phones", ())}
                sent = {r.phone for r in ports.ledger.get_many(SHOP, cid, NY[:4]).values() if SendState(r.state).final}
                assert not pending - sent, f"completed with {sorted(pending - sent)} still queued"
        clock.at = clock.now() + timedelta(seconds=30)
    c = campaigns.get_campaign(ports, SHOP, cid)
    assert c.status is CampaignStatus.COMPLETED
    assert (c.stats.planned, c.stats.sent, c.stats.skipped, c.stats.done) == (4, 3, 1, 4)
