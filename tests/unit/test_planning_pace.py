"""Planning keeps pace with sending: a big campaign keeps only about PLAN_AHEAD of sending on the shared sends
queue, for its audience pages and its quiet-hours waves, and still never stalls, loses or doubles a recipient."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.campaigns import CampaignStats, CampaignStatus
from chalicelib.domain.jobs import Job, PlanPage, ReleaseWave, job_from_json, job_to_json
from chalicelib.domain.sending import SendBatch
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberStatus
from chalicelib.services import campaigns, planning
from chalicelib.services.planning import MAX_QUEUE_DELAY_SECONDS, PLAN_AHEAD, PLAN_PAGE_SIZE, plan_ahead_delay, queued
from chalicelib.services.ports import Ports
from tests.commands import new_campaign
from tests.engine import Engine
from tests.fakes import FakeJobs, FakeSms, FrozenClock, WorkerCrash, fake_ports
from tests.numbers import create_shop

SHOP = "demo.myshopify.com"
SENDER = "+15550100000"
DAYTIME = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York
LATE = datetime(2026, 11, 19, 3, 30, tzinfo=timezone.utc)  # 22:30 in New York: quiet until 09:00
AHEAD = PLAN_AHEAD.total_seconds()


class RecordingJobs(FakeJobs):
    """FakeJobs that also keeps every planning job with its delay (the engine empties the live lists)."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[tuple[Job, int]] = []

    def enqueue(self, job: Job, *, delay_seconds: int = 0) -> None:
        self.history.append((job, delay_seconds))
        super().enqueue(job, delay_seconds=delay_seconds)


def make_ports(at: datetime = DAYTIME, mps: int = 5) -> Ports:
    ports = fake_ports(FrozenClock(at))
    ports.jobs = RecordingJobs()
    create_shop(ports, shop_id=SHOP, settings={"shop_name": "Demo"}, numbers={SENDER: mps})
    return ports


def seed(ports: Ports, phones: Sequence[str]) -> None:
    # Straight into the fake store: the planner only reads it, and a few thousand adds through the service are slow.
    joined = DAYTIME - timedelta(days=30)
    for phone in phones:
        ports.subscribers.rows[(SHOP, phone)] = Subscriber(  # type: ignore[attr-defined]
            SHOP, phone, SubscriberStatus.ACTIVE, Source.CHECKOUT, joined, joined, version=1
        )


def new_york(n: int) -> list[str]:
    return [f"+1212555{i:04d}" for i in range(1000, 1000 + n)]


def send_now(ports: Ports) -> str:
    command = new_campaign({"name": "Sale", "message": "Sale today at {shop_name}", "segment_id": "all", "send_at": "now"})
    campaign = campaigns.create_campaign(ports, SHOP, command)
    assert campaign.status is CampaignStatus.IN_PROGRESS
    return campaign.campaign_id


def jobs(ports: Ports) -> RecordingJobs:
    assert isinstance(ports.jobs, RecordingJobs)
    return ports.jobs


def sent_to(ports: Ports) -> list[str]:
    assert isinstance(ports.sms, FakeSms)
    return [s.sms.to_number for s in ports.sms.sent]


def on_sends_queue(engine: Engine) -> int:
    """Recipients in send batches waiting on the sends queue (delivered or not yet)."""
    waiting = [m.body for m in engine.queue] + [batch for batch, _ in jobs(engine.ports).sends]
    return sum(len(b.phones) for b in waiting if isinstance(b, SendBatch))


def run_watching_backlog(ports: Ports, campaign_id: str, until: datetime, engine: Engine | None = None) -> int:
    """Run the engine a second at a time until the campaign completes (at the latest ``until``); the most
    recipients it ever had on the sends queue."""
    engine = engine or Engine(ports)
    clock = ports.clock
    assert isinstance(clock, FrozenClock)
    worst = 0
    while ports.campaigns.get(SHOP, campaign_id).status is CampaignStatus.IN_PROGRESS:
        assert clock.now() < until, "the campaign did not finish in time"
        while engine.step():
            worst = max(worst, on_sends_queue(engine))
        clock.advance(seconds=1)
    return worst


class TestPlanAheadDelay:
    def test_nothing_waits_while_the_queue_is_within_plan_ahead(self) -> None:
        assert plan_ahead_delay(0, 100) == 0
        assert plan_ahead_delay(int(AHEAD * 100), 100) == 0

    def test_the_excess_waits_for_the_sender_number_to_send_it(self) -> None:
        assert plan_ahead_delay(int(AHEAD * 100) + 1000, 100) == 10
        assert plan_ahead_delay(int(AHEAD * 3) + 10, 3) == 4  # rounded up: never back before the room is there

    def test_the_wait_is_capped_at_sqs_longest_delay(self) -> None:
        assert plan_ahead_delay(10**9, 1) == MAX_QUEUE_DELAY_SECONDS

    def test_queued_leaves_out_settled_and_waiting_recipients(self) -> None:
        stats = CampaignStats(planned=1000, sent=300, skipped=20, failed=5, deferred=100)
        assert queued(stats) == 575
        assert queued(stats, planning=200) == 775
        assert queued(CampaignStats(planned=10, sent=10, deferred=10)) == 0  # reads low after a wave, never below 0


class TestAudiencePages:
    def test_small_campaigns_plan_without_waiting(self) -> None:
        ports = make_ports(mps=100)
        seed(ports, new_york(3 * PLAN_PAGE_SIZE))
        cid = send_now(ports)
        Engine(ports).run()
        assert all(delay == 0 for job, delay in jobs(ports).history if isinstance(job, PlanPage))
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED

    def test_the_next_page_waits_until_sending_catches_up(self) -> None:
        mps = 25  # 1,125 recipients of sending in PLAN_AHEAD: one page (980) fits, two do not
        assert PLAN_PAGE_SIZE <= AHEAD * mps < 2 * PLAN_PAGE_SIZE
        ports = make_ports(mps=mps)
        seed(ports, new_york(3 * PLAN_PAGE_SIZE))
        cid = send_now(ports)
        planning.plan_page(ports, PlanPage(SHOP, cid, 0))  # one page queued: within
        planning.plan_page(ports, PlanPage(SHOP, cid, 1))  # two pages queued: the excess waits for the number
        pages = [(job, delay) for job, delay in jobs(ports).history if isinstance(job, PlanPage)]
        wait = math.ceil((2 * PLAN_PAGE_SIZE - AHEAD * mps) / mps)  # 835 too many: 34 s at 25 a second
        assert pages == [(PlanPage(SHOP, cid, 0), 0), (PlanPage(SHOP, cid, 1), 0), (PlanPage(SHOP, cid, 2), wait)]

    def test_the_queue_stays_bounded_and_the_campaign_runs_at_the_limit(self) -> None:
        mps, audience = 5, 3000
        ports = make_ports(mps=mps)
        phones = new_york(audience)
        seed(ports, phones)
        cid = send_now(ports)
        worst = run_watching_backlog(ports, cid, DAYTIME + timedelta(seconds=audience / mps + 60))
        assert worst <= AHEAD * mps + PLAN_PAGE_SIZE  # what was queued when a page came, plus that page
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert c.status is CampaignStatus.COMPLETED and c.stats.sent == audience
        assert sorted(sent_to(ports)) == phones
        # Planning never starved the sender: done within 2% of audience / MPS.
        assert c.completed_at is not None
        assert (c.completed_at - DAYTIME).total_seconds() <= audience / mps * 1.02

    def test_planning_goes_on_when_sending_makes_no_progress(self) -> None:
        ports = make_ports(mps=1)
        seed(ports, new_york(2000))
        cid = send_now(ports)
        clock = ports.clock
        assert isinstance(clock, FrozenClock)
        # Nobody ever sends (the send worker is down): run planning jobs only, each when its delay is over.
        for _ in range(20):
            job, delay = jobs(ports).jobs.pop(0)
            assert 0 <= delay <= MAX_QUEUE_DELAY_SECONDS
            clock.advance(seconds=delay)
            assert isinstance(job, PlanPage)
            planning.plan_page(ports, job)
            if not jobs(ports).jobs:
                break
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert c.planning_done and c.stats.planned == 2000 and c.stats.done == 0

    def test_a_late_duplicate_of_a_delayed_page_is_a_no_op(self) -> None:
        ports = make_ports(mps=1)
        seed(ports, new_york(3 * PLAN_PAGE_SIZE + 1))
        cid = send_now(ports)
        for page in range(3):
            planning.plan_page(ports, PlanPage(SHOP, cid, page))
        sends_before = len(jobs(ports).sends)
        planning.plan_page(ports, PlanPage(SHOP, cid, 1))  # redelivered long after its page was done
        assert len(jobs(ports).sends) == sends_before
        assert campaigns.get_campaign(ports, SHOP, cid).plan_page == 3

    def test_a_crash_between_queueing_the_next_page_and_the_checkpoint_loses_and_doubles_nobody(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(planning, "PLAN_PAGE_SIZE", 300)  # five pages, so pages 2 and 4 exist to crash in
        mps, audience = 5, 1500
        ports = make_ports(mps=mps)
        phones = new_york(audience)
        seed(ports, phones)
        cid = send_now(ports)
        crashes = {"left": 2}
        checkpoint = ports.campaigns.checkpoint_plan

        def crash_twice(shop_id: str, campaign_id: str, *, page: int, next_cursor: str | None, planned: int) -> bool:
            if page in (2, 4) and crashes["left"]:
                crashes["left"] -= 1
                raise WorkerCrash(f"died before checkpointing page {page}")
            return checkpoint(shop_id, campaign_id, page=page, next_cursor=next_cursor, planned=planned)

        ports.campaigns.checkpoint_plan = crash_twice  # type: ignore[method-assign]
        engine = Engine(ports)
        run_watching_backlog(ports, cid, DAYTIME + timedelta(seconds=audience / mps + 900), engine)
        assert engine.crashes == 2
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert c.status is CampaignStatus.COMPLETED and c.stats.planned == c.stats.sent == audience
        assert sorted(sent_to(ports)) == phones


class TestReleaseWaves:
    def test_a_big_wave_is_released_at_the_pace_of_the_sender_number(self) -> None:
        mps, audience = 2, 1200
        ports = make_ports(LATE, mps=mps)
        phones = new_york(audience)
        seed(ports, phones)
        cid = send_now(ports)
        engine = Engine(ports)
        engine.run_until(LATE + timedelta(hours=10), tick=timedelta(minutes=10))  # everyone deferred; wave at 09:00
        assert sent_to(ports) == []
        assert campaigns.get_campaign(ports, SHOP, cid).stats.deferred == audience
        opens = datetime(2026, 11, 19, 14, 0, tzinfo=timezone.utc)
        engine.run_until(opens, tick=timedelta(minutes=1))
        worst = run_watching_backlog(ports, cid, opens + timedelta(hours=1), engine)
        waves = [(job, delay) for job, delay in jobs(ports).history if isinstance(job, ReleaseWave)]
        assert len(waves) >= audience // PLAN_PAGE_SIZE - 1 and any(delay > 0 for _, delay in waves)
        assert worst <= AHEAD * mps + PLAN_PAGE_SIZE
        assert sorted(sent_to(ports)) == phones
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert c.completed_at is not None and (c.completed_at - opens).total_seconds() <= audience / mps * 1.02


def test_a_wave_page_carries_how_many_earlier_pages_released() -> None:
    release_at = datetime(2026, 11, 19, 14, 0, tzinfo=timezone.utc)
    job = ReleaseWave(SHOP, "c-1", release_at, "cursor", released=400)
    assert job_from_json(job_to_json(job)) == job
    assert "released" not in job_to_json(ReleaseWave(SHOP, "c-1", release_at))  # the first page's wire form is as before
    odd = {**job_to_json(job), "released": "many"}
    assert job_from_json(odd) == ReleaseWave(SHOP, "c-1", release_at, "cursor", 0)  # paced from nought, not dropped
