"""A campaign completes only when every planned recipient is settled (sent, skipped or failed), whatever the
planner re-read after a crash or a duplicate job, and never while a recipient waits for quiet hours to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from chalicelib.domain.campaigns import Campaign, CampaignStatus
from chalicelib.domain.jobs import PlanPage
from chalicelib.domain.messages import InboundSms
from chalicelib.domain.sending import SendBatch, SendState
from chalicelib.services import campaigns, planning, subscribers
from chalicelib.services.inbound import receive_sms
from chalicelib.services.ports import Ports
from tests.engine import Engine
from tests.fakes import FakeCampaigns, FakeJobs, FakeLedger, FakeSms
from tests.unit.test_campaign_engine import LATE, NY, SENDER, SHOP, add, make_ports, send_now


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two subscribers a page and one a batch, so a handful of phones exercises several pages and batches."""
    monkeypatch.setattr(planning, "PLAN_PAGE_SIZE", 2)
    monkeypatch.setattr(planning, "RECIPIENTS_PER_BATCH", 1)
    yield


def fake_campaigns(ports: Ports) -> FakeCampaigns:
    assert isinstance(ports.campaigns, FakeCampaigns)
    return ports.campaigns


def received(ports: Ports) -> list[str]:
    assert isinstance(ports.sms, FakeSms)
    return sorted(s.sms.to_number for s in ports.sms.sent if s.sms.campaign_id)


def unsettled(ports: Ports, engine: Engine, campaign_id: str) -> set[str]:
    """Phones of the campaign still in a queued batch or waiting in the ledger (deferred or claimed)."""
    assert isinstance(ports.ledger, FakeLedger)
    settled = {p for (_, cid, p), e in ports.ledger.rows.items() if cid == campaign_id and SendState(e.state).final}
    waiting = {p for (_, cid, p), e in ports.ledger.rows.items() if cid == campaign_id and not SendState(e.state).final}
    batches = [m.body for m in engine.queue if isinstance(m.body, SendBatch) and m.body.campaign_id == campaign_id]
    queued = {p for b in batches for p in b.phones}
    return (waiting | queued) - settled


def run_watching_completion(ports: Ports, engine: Engine, campaign_id: str) -> None:
    """Run the engine one message at a time (moving the clock when idle) and fail the moment the campaign is
    Completed while one of its recipients is not settled."""
    deadline = ports.clock.now() + timedelta(days=1)
    while ports.clock.now() < deadline:
        while engine.step():
            c: Campaign = campaigns.get_campaign(ports, SHOP, campaign_id)
            if c.status is CampaignStatus.COMPLETED and not c.ended_early:
                left = unsettled(ports, engine, campaign_id)
                assert not left, f"completed with {sorted(left)} unsettled (planned {c.stats.planned}, done {c.stats.done})"
        ports.clock.advance(seconds=60)  # type: ignore[attr-defined]
    engine.run()


class TestNoEarlyCompletion:
    def test_planner_rerun_after_a_stop_does_not_complete_the_campaign_early(self) -> None:
        # Page 0 (NY0, NY1) queues its batches, then the planner dies before its checkpoint. NY1 texts STOP.
        # The redone page reads only NY0: planned must still count what the first read queued, or NY0 + NY1
        # settling makes done reach planned while page 1's recipients are still on their way.
        ports = make_ports()
        add(ports, *NY[:4])
        fake_campaigns(ports).crash_before_checkpoint = 1
        cid = send_now(ports)
        engine = Engine(ports)
        assert engine.step() and engine.crashes == 1  # page 0 queued two batches and crashed
        subscribers.opt_out(ports, SHOP, NY[1], source=subscribers.ConsentSource.MERCHANT, text="STOP")
        run_watching_completion(ports, engine, cid)
        assert received(ports) == [NY[0], NY[2], NY[3]]
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert c.status is CampaignStatus.COMPLETED and not c.ended_early
        assert (c.stats.planned, c.stats.sent, c.stats.skipped, c.stats.done) == (4, 3, 1, 4)

    def test_planner_rerun_after_a_resubscribe_counts_only_what_was_queued(self) -> None:
        # The other way round: a subscriber who was out at the first read and back at the re-read must not be
        # planned without being queued (the campaign would then never complete).
        ports = make_ports()
        add(ports, *NY[:4])
        subscribers.opt_out(ports, SHOP, NY[1], source=subscribers.ConsentSource.MERCHANT, text="STOP")
        fake_campaigns(ports).crash_before_checkpoint = 1
        cid = send_now(ports)
        engine = Engine(ports)
        assert engine.step() and engine.crashes == 1
        receive_sms(ports, InboundSms("in-start", NY[1], SENDER, "START", ports.clock.now()))
        run_watching_completion(ports, engine, cid)
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert c.status is CampaignStatus.COMPLETED
        assert c.stats.done == c.stats.planned == len(received(ports)) + c.stats.skipped

    def test_duplicate_page_jobs_read_once_even_when_the_audience_moves_between_them(self) -> None:
        # Two copies of page 0 in flight: the second one runs after a STOP but before the first one's
        # checkpoint is visible to it. Both must queue (and the checkpoint count) the same recipients.
        ports = make_ports()
        add(ports, *NY[:4])
        cid = send_now(ports)
        assert isinstance(ports.jobs, FakeJobs)
        ports.jobs.jobs.clear()
        job = PlanPage(SHOP, cid, 0)
        fake_campaigns(ports).crash_before_checkpoint = 1
        with pytest.raises(BaseException, match="crashed before checkpointing"):
            planning.plan_page(ports, job)  # the first copy: read, queued, died
        subscribers.opt_out(ports, SHOP, NY[0], source=subscribers.ConsentSource.MERCHANT, text="STOP")
        planning.plan_page(ports, job)  # the second copy
        queued = [p for b, _ in ports.jobs.sends for p in b.phones]
        assert queued == [NY[0], NY[1], NY[0], NY[1]]  # the same two recipients, twice (the ledger dedupes)
        assert campaigns.get_campaign(ports, SHOP, cid).stats.planned == 2

    def test_deferred_recipients_do_not_count_as_settled(self) -> None:
        # 22:30 in New York: every recipient waits for 09:00. The crash-and-STOP re-read must not let the one
        # skip complete a campaign whose other recipients are deferred.
        ports = make_ports(LATE)
        add(ports, *NY[:3])
        fake_campaigns(ports).crash_before_checkpoint = 1
        cid = send_now(ports)
        engine = Engine(ports)
        assert engine.step() and engine.crashes == 1
        subscribers.opt_out(ports, SHOP, NY[0], source=subscribers.ConsentSource.MERCHANT, text="STOP")
        engine.run_until(LATE + timedelta(minutes=15))  # the page is redone; still night in New York
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert c.status is CampaignStatus.IN_PROGRESS  # two recipients wait for their quiet hours to end
        assert (c.stats.planned, c.stats.done, c.stats.deferred) == (3, 1, 2)
        run_watching_completion(ports, engine, cid)
        assert received(ports) == NY[1:3]
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED

    def test_every_message_twice_and_a_crash_still_completes_once_all_are_settled(self) -> None:
        ports = make_ports()
        add(ports, *NY[:6])
        fake_campaigns(ports).crash_before_checkpoint = 2
        cid = send_now(ports)
        engine = Engine(ports, duplicate_every_message=True)
        assert engine.step()
        subscribers.opt_out(ports, SHOP, NY[1], source=subscribers.ConsentSource.MERCHANT, text="STOP")
        run_watching_completion(ports, engine, cid)
        assert received(ports) == [NY[0], *NY[2:6]]
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert (c.status, c.stats.planned, c.stats.done) == (CampaignStatus.COMPLETED, 6, 6)
