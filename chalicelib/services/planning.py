"""The campaign engine's planning side: start a campaign, page its audience, release quiet-hours waves.

Every step is a job that may be delivered twice or crash half-way; each one reloads the campaign and does
nothing when its work is done or gone (STYLE rule 5). Planning is resumable: the campaign row holds the
checkpoint (page number and cursor), the audience is fixed at start (joined no later than the start, rule
frozen), and send batches go out page by page so sending begins long before planning ends.

Planning keeps pace with sending. All campaigns of all shops share one sends queue, so a planner that queued a
million recipients at once would put a 100-recipient Send Now behind hours of someone else's work. Each page
therefore queues the next one only when the campaign's queued recipients (planned, not yet settled, not waiting
for quiet hours) are down to about PLAN_AHEAD of the sender number's sending; quiet-hours waves are released the
same way. The delay is decided when a step queues the next one and a step always does its page when it runs, so
a campaign whose sending makes no progress still plans on, at least a page per SQS's longest delay: never stalls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from chalicelib.domain.campaigns import Campaign, CampaignStats, CampaignStatus, PagePlan
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.jobs import PlanPage, ReleaseWave, StartCampaign, start_schedule_name
from chalicelib.domain.segments import matches
from chalicelib.domain.sending import GROUP_SIZE, SendBatch
from chalicelib.domain.shops import Shop
from chalicelib.services import audience
from chalicelib.services.optimistic import retry_on_conflict
from chalicelib.services.ports import Ports

# Phones per SQS message: ten full send groups, so the batch's reads (one call per 100 keys) are full and a record
# is seconds of a number's sending. A send worker pipelines the records of an invocation (up to fifty) and idles
# only between invocations (bench/pacing.py); a record is read whole before its first claim, so it stays small
# enough that its reads hide behind the groups still in flight from the record before.
RECIPIENTS_PER_BATCH = 10 * GROUP_SIZE
PLAN_PAGE_SIZE = 2 * RECIPIENTS_PER_BATCH  # subscribers read per planning job: a few store pages, one Lambda run
STORE_PAGE_LIMIT = 200  # the most one page of a store (subscribers, a quiet-hours wave) holds
EARLY_TOLERANCE = timedelta(seconds=60)
NOT_YET_DELAY_SECONDS = 30
# How much of the sender number's sending a campaign may have queued ahead of its progress: enough that the
# send workers never run dry between two planning steps (a step is a few hundred milliseconds), short enough
# that another campaign's first batches wait seconds, not hours.
PLAN_AHEAD = timedelta(seconds=45)
MAX_QUEUE_DELAY_SECONDS = 900  # SQS's longest message delay


def start_campaign(
    ports: Ports,
    shop_id: str,
    campaign_id: str,
    *,
    trigger: Literal["now", "schedule"],
    shop: Shop | None = None,
    known: Campaign | None = None,
) -> Campaign:
    """Move the campaign to In Progress and queue its first planning page; safe to repeat.

    A schedule may only start a Scheduled campaign whose time has come (a firing for a campaign that was
    switched off, deleted or moved later is ignored or re-armed). Send Now starts a Draft.
    """

    # An uninstalled shop starts nothing: Send Now answers 409 shop_uninstalled, a late schedule firing is refused
    # the same way and its job dropped by the worker's error log (uninstall also removed the schedules).
    # ``shop`` and ``known``: what a Send Now caller read a moment ago (the first attempt decides on them, a retry
    # reads again), which spares a campaign's start two reads.
    (shop if shop is not None else ports.shops.get(shop_id)).require_installed()
    fresh = [known] if known is not None and (known.shop_id, known.campaign_id) == (shop_id, campaign_id) else []

    def attempt() -> Campaign:
        campaign = fresh.pop() if fresh else ports.campaigns.get(shop_id, campaign_id)
        now = ports.clock.now()
        if campaign.status in (CampaignStatus.IN_PROGRESS, CampaignStatus.COMPLETED):
            return campaign  # already started (planning is ensured below) or over
        if trigger == "schedule":
            if campaign.status is not CampaignStatus.SCHEDULED:
                return campaign  # switched off after the schedule was made: nothing to start
            due = campaign.send_at_utc
            if due is not None and now < due - EARLY_TOLERANCE:
                # The schedule fired for an older, earlier date (an edit moved it): put it back in place.
                assert campaign.send_at_local is not None
                ports.schedules.at(
                    start_schedule_name(campaign_id),
                    campaign.send_at_local,
                    campaign.timezone,
                    StartCampaign(shop_id, campaign_id),
                )
                return campaign
        elif campaign.status is not CampaignStatus.DRAFT or not campaign.send_now:
            raise Conflict(f"cannot send a {campaign.status.value} campaign now", code="illegal_transition")
        rule = dict(audience.resolve(ports, shop_id, campaign.segment_id).rule)
        return ports.campaigns.save(campaign.start(now, rule))

    # A conflict is a concurrent start (double click, duplicate firing) or an edit: look again.
    campaign = retry_on_conflict(attempt, gave_up="campaign kept changing; try again")
    if campaign.status is CampaignStatus.IN_PROGRESS:
        _ensure_planning(ports, campaign)
    return campaign


def _ensure_planning(ports: Ports, campaign: Campaign) -> None:
    # Re-queueing page 0 is harmless: the checkpoint makes a duplicate page job a no-op. It rescues a
    # start that crashed between saving In Progress and queueing the first page.
    if campaign.plan_page == 0 and not campaign.planning_done:
        ports.jobs.enqueue(PlanPage(campaign.shop_id, campaign.campaign_id, 0))


def plan_page(ports: Ports, job: PlanPage) -> None:
    """Read one page of the audience from the checkpoint, queue its send batches, then move the checkpoint."""
    try:
        campaign = ports.campaigns.get(job.shop_id, job.campaign_id)
    except NotFound:
        return
    if campaign.status is not CampaignStatus.IN_PROGRESS or campaign.planning_done:
        return  # ended, or already planned
    if job.page < campaign.plan_page:
        return  # a duplicate of a page already done
    if job.page > campaign.plan_page:
        # The previous page queued this job but has not checkpointed yet (or crashed and will be redone):
        # come back later rather than read from the wrong cursor. Replacing ourselves keeps one copy.
        ports.jobs.enqueue(job, delay_seconds=NOT_YET_DELAY_SECONDS)
        return
    plan = _read_page(ports, campaign, job.page)
    if plan.phones:
        ports.jobs.enqueue_sends(batches(job.shop_id, job.campaign_id, plan.phones))
    if plan.next_cursor is not None:
        # Queue the next page before the checkpoint, so a crash in between can never stop the chain; it comes
        # when sending has caught up with what is queued now (this page included).
        delay = plan_ahead_delay(queued(campaign.stats, len(plan.phones)), ports.shops.get(job.shop_id).total_mps)
        ports.jobs.enqueue(PlanPage(job.shop_id, job.campaign_id, job.page + 1), delay_seconds=delay)
    ports.campaigns.checkpoint_plan(
        job.shop_id, job.campaign_id, page=job.page, next_cursor=plan.next_cursor, planned=len(plan.phones)
    )
    if plan.next_cursor is None:
        ports.campaigns.complete_if_done(job.shop_id, job.campaign_id, ports.clock.now())


def _read_page(ports: Ports, campaign: Campaign, page_number: int) -> PagePlan:
    """Read the page at the checkpoint and keep what it found before anything is queued: ``planned`` must count
    exactly the recipients whose batches went out, and a second read (after a STOP, an edit, a deletion) may
    find others. A re-run or a duplicate job gets the first read back (one conditional put on the usual path)."""
    assert campaign.started_at is not None and campaign.audience_rule is not None
    started_at, rule = campaign.started_at, campaign.audience_rule
    phones: list[str] = []
    cursor, left = campaign.plan_cursor, PLAN_PAGE_SIZE
    while True:
        page = ports.subscribers.page(campaign.shop_id, limit=min(left, STORE_PAGE_LIMIT), cursor=cursor)
        # fixed at start: nobody who joined afterwards, the rule as it was when the campaign started
        phones.extend(s.phone for s in page.items if s.joined_at <= started_at and matches(rule, s, started_at))
        cursor, left = page.cursor, left - len(page.items)
        if cursor is None or left <= 0:
            break
    read = PagePlan(page=page_number, phones=tuple(phones), next_cursor=cursor)
    return ports.campaigns.keep_page_plan(campaign.shop_id, campaign.campaign_id, read, ports.clock.now())


def queued(stats: CampaignStats, planning: int = 0) -> int:
    """Recipients of a campaign on the sends queue or being sent: planned (plus ``planning`` about to be),
    neither settled nor waiting for quiet hours.

    The deferred counter never goes down, so once a quiet-hours wave has been sent its recipients count as both
    deferred and settled and this reads low by that many: the planner may run ahead by up to the waves' size.
    Reading low is the safe side, it can cost fairness but never progress."""
    return max(stats.planned + planning - stats.done - stats.deferred, 0)


def plan_ahead_delay(queued_recipients: int, mps: int) -> int:
    """Seconds to hold the next planning step so that at most about PLAN_AHEAD of sending stays queued.

    The sender number sends ``mps`` parts a second and a message is at least one part, so ``mps`` recipients a
    second is the fastest the queue can drain: waiting for the excess at that rate never lets it run dry."""
    rate = max(mps, 1)
    excess = queued_recipients - PLAN_AHEAD.total_seconds() * rate
    if excess <= 0:
        return 0
    return min(math.ceil(excess / rate), MAX_QUEUE_DELAY_SECONDS)


def batches(shop_id: str, campaign_id: str, phones: Sequence[str], attempt: int = 0) -> list[SendBatch]:
    """Phones packed into send batches."""
    return [
        SendBatch(shop_id, campaign_id, tuple(phones[i : i + RECIPIENTS_PER_BATCH]), attempt)
        for i in range(0, len(phones), RECIPIENTS_PER_BATCH)
    ]


def release_wave(ports: Ports, job: ReleaseWave) -> None:
    """A quiet-hours wave is due: queue its recipients page by page. The send worker checks quiet hours
    again, so recipients whose window moved in the meantime are deferred again, never sent early."""
    try:
        campaign = ports.campaigns.get(job.shop_id, job.campaign_id)
    except NotFound:
        return
    if campaign.status is not CampaignStatus.IN_PROGRESS:
        return  # ended: the waiting recipients stay unsent
    page = ports.ledger.wave(job.shop_id, job.campaign_id, job.release_at, limit=STORE_PAGE_LIMIT, cursor=job.cursor)
    if page.items:
        ports.jobs.enqueue_sends(batches(job.shop_id, job.campaign_id, list(page.items)))
    if page.cursor is not None:
        released = job.released + len(page.items)
        mps = ports.shops.get(job.shop_id).total_mps
        backlog = queued(campaign.stats) + wave_queued(released, job.release_at, ports.clock.now(), mps)
        next_page = ReleaseWave(job.shop_id, job.campaign_id, job.release_at, page.cursor, released)
        ports.jobs.enqueue(next_page, delay_seconds=plan_ahead_delay(backlog, mps))


def wave_queued(released: int, release_at: datetime, now: datetime, mps: int) -> int:
    """Recipients of a quiet-hours wave still queued, at best: ``released`` so far, less what the sender number
    could have sent since the wave opened. The campaign's counters cannot tell (a released recipient was counted
    deferred), so the wave paces itself on time; a clock that moved back counts as no time gone."""
    elapsed = max((now - release_at).total_seconds(), 0.0)
    return max(released - int(elapsed * max(mps, 1)), 0)
