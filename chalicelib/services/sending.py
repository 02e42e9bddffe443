"""The campaign engine's sending side: one batch of recipients, sent group by group, each at most once.

Per batch, everything is read once: the campaign, the shop, and the batch's subscribers, ledger rows and
contact windows (one batched, strongly consistent read each). Each recipient is then decided by one
function (``_decide``): already settled; left claimed by a dead worker (failed "interrupted", never resent);
no longer subscribed or over the frequency cap (skipped); in quiet hours (deferred durably to its release
wave); or to be sent, with its body rendered and its parts counted.

The batch goes out from one number of the shop's pool, chosen by ``senders.choose`` (weighted by each number's
MPS, the same number on every redelivery; why per batch and not per subscriber: see domain/senders.py).
Recipients to send go out in groups of at most GROUP_SIZE, and each group costs three writes whatever its
size: the sender number's pacer grants evenly spaced send instants for the group; one transaction claims
the granted recipients (campaign still running, subscriber still active, row untouched, frequency cap) and
starts a lease of SEND_LEASE; each message is sent at its instant, never after the lease; one transaction
settles the group's outcomes, counters and thread lines. The next groups are granted and claimed while the
last slots of the one sending are still ahead, and the next batch of the invocation is read while its
predecessor's last groups are sending (``_Pipeline``), so a worker alone on a number keeps it at its limit. So
a crash between claim and settle leaves at most ``groups_in_flight`` groups claimed (two up to 196 MPS, under
a second of the number's grants at any rate), and a later delivery settles them as failed "interrupted": at
most once wins.
Provider throttling gives those recipients back and retries them later with backoff, which cannot
double-send because the provider definitely did not accept them.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import ParamSpec, TypeVar

from aws_lambda_powertools import Logger

from chalicelib.domain import templates
from chalicelib.domain.campaigns import Campaign, CampaignStatus
from chalicelib.domain.errors import NotFound
from chalicelib.domain.jobs import ReleaseWave, wave_schedule_name
from chalicelib.domain.messages import ConversationMessage, Direction, MessageKind, OutboundSms
from chalicelib.domain.pacing import epoch_ms, instant, on_time, rebook_at_ms, retry_ms
from chalicelib.domain.quiet_hours import Recipient, is_quiet, next_open
from chalicelib.domain.senders import batch_key, choose
from chalicelib.domain.sending import (
    GROUP_SIZE,
    SEND_LEASE,
    Claim,
    ClaimRefusal,
    ContactWindow,
    Deferral,
    FailReason,
    GroupClaim,
    LedgerEntry,
    Release,
    SendBatch,
    SendState,
    Settlement,
    SkipReason,
    next_group_size,
)
from chalicelib.domain.shops import Shop
from chalicelib.domain.subscribers import Subscriber, SubscriberStatus
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services import links, outbound
from chalicelib.services.links import LinkOwner
from chalicelib.services.outbound import Delivered, Delivery
from chalicelib.services.planning import batches
from chalicelib.services.ports import Ports

logger = Logger(service=SERVICE, child=True, level=INHERIT)

MAX_THROTTLE_ATTEMPTS = 8
MAX_PACING_WAIT = timedelta(seconds=5)  # longer waits hand the rest of the batch back to the queue
# A claim younger than this may belong to a worker that is still sending (a duplicate delivery running in
# parallel); older ones can only be left by a worker that died, since redelivery waits out the visibility
# timeout (six times the worker's own timeout).
CLAIM_STALE_AFTER = timedelta(minutes=2)


@dataclass
class BatchReport:
    """What one batch did, for logs, metrics and tests."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0
    already_done: int = 0
    groups: int = 0  # claim transactions that claimed someone
    requeued: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)  # throttled by the provider, queued again with backoff
    stopped: bool = False  # the campaign ended mid-batch
    deadline: datetime | None = None
    # (SKIPPED or FAILED, reason) -> recipients settled so in this batch: the per-reason metrics read it
    reasons: Counter[tuple[SendState, str]] = field(default_factory=Counter)


def backoff_seconds(attempt: int) -> int:
    """Exponential backoff for provider throttling: 2, 4, 8 ... capped at SQS's 15-minute delay."""
    return int(min(2 ** (attempt + 1), 900))


# --- deciding each recipient -----------------------------------------------------------------------------


class Verdict(str, Enum):
    """What one recipient of a batch needs, decided from what was read for the whole batch."""

    DONE = "done"  # settled already, or another delivery is sending it right now
    SETTLE = "settle"  # a final outcome without sending (skipped, or failed "interrupted")
    DEFER = "defer"  # quiet hours: wait for the release wave
    SEND = "send"


@dataclass(frozen=True)
class Decision:
    """The verdict for one recipient, with what acting on it needs."""

    verdict: Verdict
    previous: SendState | None = None
    state: SendState | None = None  # SETTLE: the outcome
    reason: str | None = None  # SETTLE: why
    release_at: datetime | None = None  # DEFER: when the window opens


def _decide(
    shop: Shop, entry: LedgerEntry | None, subscriber: Subscriber | None, window: ContactWindow, now: datetime
) -> Decision:
    """One recipient's verdict, from the rows read for the batch (pure: no reads, no writes)."""
    if entry is not None and entry.state.final:
        return Decision(Verdict.DONE)
    if entry is not None and entry.state is SendState.CLAIMED:
        if now - entry.at < CLAIM_STALE_AFTER:
            return Decision(Verdict.DONE)  # another delivery of this batch is sending it right now
        # Claimed but never settled: the worker died between claim and settle. We cannot know whether the
        # phone got it, so it is settled as failed and never sent again.
        return Decision(Verdict.SETTLE, SendState.CLAIMED, SendState.FAILED, FailReason.INTERRUPTED.value)
    previous = entry.state if entry is not None else None
    if subscriber is None or subscriber.status is not SubscriberStatus.ACTIVE:
        return Decision(Verdict.SETTLE, previous, SendState.SKIPPED, SkipReason.NOT_SUBSCRIBED.value)
    if subscriber.unreachable:
        return Decision(Verdict.SETTLE, previous, SendState.SKIPPED, SkipReason.UNREACHABLE.value)
    cap = shop.settings.frequency_cap
    if cap is not None and window.count_since(now - timedelta(days=cap.days)) >= cap.messages:
        return Decision(Verdict.SETTLE, previous, SendState.SKIPPED, SkipReason.FREQUENCY_CAP.value)
    recipient = Recipient.of(subscriber.phone, shop.settings.timezone)
    if is_quiet(recipient, shop.settings.quiet_hours, now):
        return Decision(Verdict.DEFER, previous, release_at=next_open(recipient, shop.settings.quiet_hours, now))
    if not shop.numbers:
        return Decision(Verdict.SETTLE, previous, SendState.SKIPPED, SkipReason.NO_SENDER.value)
    return Decision(Verdict.SEND, previous)


@dataclass(frozen=True)
class Outgoing:
    """One message ready to go: who, from which row state, the contact window read, and what to send."""

    phone: str
    previous: SendState | None
    window: ContactWindow
    sms: OutboundSms
    line: ConversationMessage
    parts: int


# --- the batch -------------------------------------------------------------------------------------------


@dataclass
class Invocation:
    """The campaigns and shops one worker invocation has read, shared by the batches it is handed (up to the
    event source mapping's batch size). Nothing goes stale that matters: every group's claim checks the campaign
    is still In Progress, and a shop's settings are as fresh as they were for a batch that runs this long."""

    campaigns: dict[tuple[str, str], Campaign] = field(default_factory=dict)
    shops: dict[str, Shop] = field(default_factory=dict)

    def campaign(self, ports: Ports, shop_id: str, campaign_id: str) -> Campaign:
        """The campaign, read once per invocation (NotFound as the repository raises it)."""
        key = (shop_id, campaign_id)
        if key not in self.campaigns:
            self.campaigns[key] = ports.campaigns.get(shop_id, campaign_id)
        return self.campaigns[key]

    def shop(self, ports: Ports, shop_id: str) -> Shop:
        """The shop, read once per invocation."""
        if shop_id not in self.shops:
            self.shops[shop_id] = ports.shops.get(shop_id)
        return self.shops[shop_id]


def send_batches(
    ports: Ports, batches: Sequence[SendBatch], *, deadline: datetime | None = None, invocation: Invocation | None = None
) -> list[BatchReport | Exception]:
    """Send the batches of one worker invocation through one pipeline; safe under redelivery.

    The next batch is read and its first groups claimed while the last groups of the batch before are still
    sending, so a worker alone on a number keeps it at its limit from one batch to the next and idles only
    between invocations. Each batch comes out as its report, or as the exception that stopped it: its record
    is then delivered again, and the other batches are not held back by it. ``deadline`` bounds the run
    (Lambda's remaining time); ``invocation`` shares the campaign and shop reads of the batches."""
    return _Pipeline(ports, deadline, invocation or Invocation()).run(batches)


def send_batch(
    ports: Ports, batch: SendBatch, *, deadline: datetime | None = None, invocation: Invocation | None = None
) -> BatchReport:
    """Send one batch (``send_batches`` of one); what stopped it is raised."""
    outcome = send_batches(ports, [batch], deadline=deadline, invocation=invocation)[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


@dataclass
class _Unit:
    """One batch in an invocation's pipeline: what it has read and decided, and what is left of it."""

    batch: SendBatch
    report: BatchReport
    number: str = ""
    limit: int = 0
    queue: list[Outgoing] = field(default_factory=list)  # to send, not claimed yet (sorted by parts)
    throttled: list[str] = field(default_factory=list)
    error: Exception | None = None
    done: bool = False  # nothing left to do: finished, or stopped before it sent anything


def _prepare(ports: Ports, unit: _Unit, invocation: Invocation) -> None:
    """Read the batch once, decide every recipient, settle and defer those not to send now, and queue the rest."""
    batch, report = unit.batch, unit.report
    phones = list(dict.fromkeys(batch.phones))
    if report.deadline is not None and ports.clock.now() >= report.deadline:
        report.requeued.extend(phones)  # no time left to start it: handed back whole, nothing read
        return
    try:
        campaign = invocation.campaign(ports, batch.shop_id, batch.campaign_id)
    except NotFound:
        unit.done = True
        return
    if campaign.status is not CampaignStatus.IN_PROGRESS:
        report.stopped = unit.done = True
        _settle_left_claimed(ports, unit, phones)
        return
    shop = invocation.shop(ports, batch.shop_id)
    if not shop.installed:
        # app/uninstalled ends the campaign too; this stops a batch read just before that landed.
        report.stopped = unit.done = True
        return
    # The windows first: a consent change moves a window's version, so one landing after the subscriber read is
    # also after this read, and the claim's condition on the version catches it (see ``_claim_group``).
    windows = ports.contacts.windows(batch.shop_id, phones)
    subscribers = ports.subscribers.get_many(batch.shop_id, phones)
    entries = ports.ledger.get_many(batch.shop_id, batch.campaign_id, phones)
    now = ports.clock.now()
    settlements: list[Settlement] = []
    deferrals: list[Deferral] = []
    sendable: list[tuple[Subscriber, SendState | None]] = []
    for phone in phones:
        decision = _decide(shop, entries.get(phone), subscribers.get(phone), windows.get(phone, ContactWindow()), now)
        if decision.verdict is Verdict.DONE:
            report.already_done += 1
        elif decision.verdict is Verdict.SETTLE:
            assert decision.state is not None
            entry = LedgerEntry(batch.shop_id, batch.campaign_id, phone, decision.state, now, reason=decision.reason)
            settlements.append(Settlement(entry, decision.previous))
        elif decision.verdict is Verdict.DEFER:
            assert decision.release_at is not None
            seen = entries.get(phone)
            moved_from = seen.release_at if seen is not None and seen.release_at != decision.release_at else None
            deferrals.append(Deferral(phone, decision.release_at, decision.previous, moved_from))
        else:
            sendable.append((subscribers[phone], decision.previous))
    if settlements:
        _settle(ports, batch, settlements, report)
    if deferrals:
        _defer(ports, batch, deferrals, now, report)
    if not sendable:
        return  # sendable is empty when the shop has no number: _decide skipped them
    # One number of the pool for the whole batch.
    sender = choose(shop.numbers, batch_key(batch.campaign_id, phones))
    unit.number, unit.limit = sender.number, sender.mps
    # Messages of one part count together: the pacer spaces a change of part count by half a window.
    unit.queue = sorted(_compose(ports, shop, campaign, sendable, windows, from_number=sender.number), key=lambda o: o.parts)


def _settle_left_claimed(ports: Ports, unit: _Unit, phones: list[str]) -> None:
    """The campaign stopped (End, or completed): nothing of the batch is sent, but rows a dead worker left claimed
    are settled failed "interrupted" as they would be had it run on, or they stay claimed for good, out of every
    count (the chaos rounds found 72 in 50 seeds, 16 of them sent). Each batch arriving after the campaign
    stopped costs one batched read of its rows for this."""
    entries = ports.ledger.get_many(unit.batch.shop_id, unit.batch.campaign_id, phones)
    now = ports.clock.now()
    left = [
        Settlement(
            LedgerEntry(e.shop_id, e.campaign_id, e.phone, SendState.FAILED, now, reason=FailReason.INTERRUPTED.value),
            SendState.CLAIMED,
        )
        for e in entries.values()
        if e.state is SendState.CLAIMED and now - e.at >= CLAIM_STALE_AFTER
    ]
    if left:
        _settle(ports, unit.batch, left, unit.report)


def _finish(ports: Ports, unit: _Unit) -> None:
    """Everything of the batch is settled or handed back: queue what is left, and complete the campaign if done."""
    batch, report = unit.batch, unit.report
    if report.requeued:
        # Out of time, waiting on pacing or on a changed contact window: hand the rest back for a fresh worker.
        ports.jobs.enqueue_sends(batches(batch.shop_id, batch.campaign_id, report.requeued, batch.attempt), delay_seconds=1)
    if unit.throttled:
        _retry_throttled(ports, batch, unit.throttled, report)
    ports.campaigns.complete_if_done(batch.shop_id, batch.campaign_id, ports.clock.now())
    unit.done = True


def _compose(
    ports: Ports,
    shop: Shop,
    campaign: Campaign,
    sendable: Sequence[tuple[Subscriber, SendState | None]],
    windows: dict[str, ContactWindow],
    *,
    from_number: str,
) -> list[Outgoing]:
    """Each recipient's message, rendered for them, its links shortened (stored before any claim, so no
    message can carry a code that does not resolve) and its parts counted."""
    media_urls = (campaign.media_s3_uri,) if campaign.media_s3_uri else ()
    # Bounded by the provider's limit and the parts the preview showed, whatever the name (links measured as
    # the short links they become).
    bodies = [
        templates.render(
            campaign.message,
            templates.Personal(name=subscriber.name, shop_name=shop.settings.shop_name, discount_code=campaign.discount_code),
            opt_out_hint=shop.settings.opt_out_hint,
            link_base=ports.link_base,
            mms=bool(media_urls),
        )
        for subscriber, _ in sendable
    ]
    owners = [LinkOwner(shop.shop_id, subscriber.phone, campaign_id=campaign.campaign_id) for subscriber, _ in sendable]
    bodies = links.shorten_many(ports, list(zip(bodies, owners, strict=True)))
    # An MMS travels, is paced and is billed as one part whatever its text; an SMS as its text's parts.
    # the merchant's link, which a browser can show; the s3:// copy is for the provider only
    shown_media = (campaign.media_url,) if media_urls and campaign.media_url else media_urls
    now = ports.clock.now()
    outgoing: list[Outgoing] = []
    for (subscriber, previous), body in zip(sendable, bodies, strict=True):
        phone = subscriber.phone
        sms = OutboundSms(
            shop_id=shop.shop_id,
            from_number=from_number,
            to_number=phone,
            body=body,
            kind=MessageKind.CAMPAIGN,
            media_urls=media_urls,
            campaign_id=campaign.campaign_id,
            dedupe_key=f"{campaign.campaign_id}#{phone}",
            consent_claimed=True,  # sent only after the group's claim checked the subscriber is active
        )
        # The campaign message joins the subscriber's thread, so an Inbox reply shows what it answers.
        line = ConversationMessage(
            shop_id=shop.shop_id,
            phone=phone,
            at=now,
            message_id=f"cmp-{campaign.campaign_id}",
            direction=Direction.OUTBOUND,
            body=body,
            kind=MessageKind.CAMPAIGN,
            media_urls=shown_media,
            campaign_id=campaign.campaign_id,
        )
        parts = 1 if media_urls else templates.encoding.measure(body).parts
        outgoing.append(Outgoing(phone, previous, windows.get(phone, ContactWindow()), sms, line, parts))
    return outgoing


def _settle(
    ports: Ports, batch: SendBatch, settlements: Sequence[Settlement], report: BatchReport, *, released: Sequence[Release] = ()
) -> None:
    recorded = ports.ledger.settle(batch.shop_id, batch.campaign_id, settlements, released=released)
    for settlement in settlements:
        if settlement.entry.phone not in recorded:
            report.already_done += 1
        elif settlement.entry.state is SendState.SENT:
            report.sent += 1
        elif settlement.entry.state is SendState.SKIPPED:
            report.skipped += 1
            report.reasons[SendState.SKIPPED, settlement.entry.reason or "unknown"] += 1
        else:
            report.failed += 1
            report.reasons[SendState.FAILED, settlement.entry.reason or "unknown"] += 1


def _defer(ports: Ports, batch: SendBatch, deferrals: Sequence[Deferral], now: datetime, report: BatchReport) -> None:
    ports.ledger.defer(batch.shop_id, batch.campaign_id, deferrals, now)
    # One schedule per campaign and release time, however many recipients share it.
    for release_at in sorted({d.release_at for d in deferrals}):
        ports.schedules.at(
            wave_schedule_name(batch.campaign_id, release_at),
            release_at.replace(tzinfo=None),
            "UTC",
            ReleaseWave(batch.shop_id, batch.campaign_id, release_at),
            move=False,
        )
    report.deferred += len(deferrals)


# --- groups ----------------------------------------------------------------------------------------------


class _Pipeline:
    """An invocation's batches, sent group by group with several groups in flight.

    While a group's sends are under way, the next group is granted at the pacer's rebook instant
    (``rebook_at_ms``, before the sending group's last slot), claimed and started, so a worker alone on a number
    keeps its slots back to back; the earliest group, its sends done, is settled before a claim would make more
    than ``groups_in_flight`` (of the number's MPS) claimed and unsettled. When a batch has nothing left to claim,
    the next batch is read and decided while its last groups are still sending, and its groups follow theirs.
    Only the invocation's thread asks the pacer, reads and writes; the pool's threads only send.
    """

    def __init__(self, ports: Ports, deadline: datetime | None, invocation: Invocation) -> None:
        self.ports, self.deadline, self.invocation = ports, deadline, invocation
        self.units: list[_Unit] = []
        self.sending: deque[tuple[_Unit, _Group]] = deque()  # claimed and not settled, oldest first
        self.granted_before = False  # by the pacer, in this invocation: newcomers ask first (domain/pacing.py)
        self.full: dict[str, int] = {}  # by number: the most one grant gave (a second of slots at 10 MPS is 10)

    def run(self, batches: Sequence[SendBatch]) -> list[BatchReport | Exception]:
        with _send_pool(self.ports) as pool:
            self.pool = pool
            for batch in batches:
                unit = _Unit(batch, BatchReport(deadline=self.deadline))
                self.units.append(unit)
                self._guarded(unit, _prepare, self.ports, unit, self.invocation)
                self._guarded(unit, self._pump, unit)
                self._catch_up()
            while self.sending or not all(u.done or u.error for u in self.units):
                if self.sending:
                    self._settle_oldest()
                self._catch_up()
        return [unit.error or unit.report for unit in self.units]

    def _guarded(self, unit: _Unit, step: Callable[..., None], *args: object) -> None:
        """Run one step of ``unit``; what it raises stops that batch only (its record comes back)."""
        if unit.error is not None:
            return
        try:
            step(*args)
        except Exception as error:  # reported per batch: its record is delivered again
            logger.exception("send batch stopped", extra={"shop_id": unit.batch.shop_id, "campaign_id": unit.batch.campaign_id})
            unit.error = error
            unit.queue = []

    def _catch_up(self) -> None:
        """Send what settled groups gave back to earlier batches, and finish the batches with nothing in flight."""
        for unit in self.units:
            if unit.done or unit.error is not None:
                continue
            if unit.queue:
                self._guarded(unit, self._pump, unit)
            if not unit.queue and not any(u is unit for u, _ in self.sending):
                self._guarded(unit, _finish, self.ports, unit)

    def _pump(self, unit: _Unit) -> None:
        """Grant, claim and start ``unit``'s groups until none is left to claim (the last ones still sending)."""
        ports, report = self.ports, unit.report
        waited = timedelta(0)
        while unit.queue and unit.error is None:
            while self.sending and self._next_size(unit) == 0:
                self._settle_oldest()  # before a claim could hold more than groups_in_flight groups' recipients
            if unit.error is not None or not unit.queue:
                return  # its own settle failed, or gave nothing back
            latest = self.sending[-1][1] if self.sending else None
            if latest is not None and latest.number == unit.number:
                # Ask while the sending group's last slots are still ahead, so the next ones follow them.
                wait = (latest.rebook_at - ports.clock.now()).total_seconds()
                if wait > 0:
                    ports.sleep(wait)
            now = ports.clock.now()
            if report.deadline is not None and now >= report.deadline:
                self._hand_back(unit)
                return
            size = self._next_size(unit)
            group = unit.queue[:size]
            slots = ports.pacer.grant(unit.number, unit.limit, [o.parts for o in group])
            if not slots.at:
                # A worker granted before lets newcomers ask first (domain/pacing.py's asking order).
                wait_for = timedelta(milliseconds=retry_ms(_ms_of(slots.retry_after), granted_before=self.granted_before))
                if waited + wait_for > MAX_PACING_WAIT or (report.deadline is not None and now + wait_for >= report.deadline):
                    self._hand_back(unit)
                    return
                ports.sleep(wait_for.total_seconds())
                waited += wait_for
                continue
            self.granted_before, waited = True, timedelta(0)  # MAX_PACING_WAIT bounds one wait, not a batch's pacing
            self.full[unit.number] = max(self.full.get(unit.number, 0), len(slots.at))
            granted, unit.queue = group[: len(slots.at)], group[len(slots.at) :] + unit.queue[size:]
            items = list(zip(granted, slots.at, strict=True))
            claimed = _claim_group(ports, self.pool, unit.batch, items, report, number=unit.number, limit=unit.limit)
            if claimed is None:
                report.stopped = True  # End Campaign: nothing more is claimed; what was claimed is settled
                unit.queue = []
            elif claimed.sends:
                self.sending.append((unit, claimed))
            else:
                claimed.finish(report)  # nothing of it to send (taken, stopped, refused): settle what it decided

    def _next_size(self, unit: _Unit) -> int:
        """How many of ``unit``'s queue to ask for next (0: settle first), with what every batch has in flight."""
        unsettled = sum(len(group.sends) for _, group in self.sending)
        return next_group_size(len(unit.queue), unsettled, unit.limit, self.full.get(unit.number, GROUP_SIZE))

    def _settle_oldest(self) -> None:
        """Wait for the earliest group's sends and settle it; what it gave back unsent goes first in its batch's line."""
        unit, group = self.sending.popleft()
        if unit.error is not None:
            # Its batch stopped: settle what was sent all the same, so the redelivery finds it done, not "interrupted".
            try:
                group.finish(unit.report)
            except Exception:  # its record comes back; a claim left behind settles as interrupted
                logger.exception("group of a stopped batch not settled")
            return
        try:
            outcome = group.finish(unit.report)
        except Exception as error:  # reported per batch
            logger.exception("send batch stopped", extra={"shop_id": unit.batch.shop_id, "campaign_id": unit.batch.campaign_id})
            unit.error, unit.queue = error, []
            return
        unit.throttled.extend(outcome.throttled)
        unit.queue = outcome.again + unit.queue

    def _hand_back(self, unit: _Unit) -> None:
        """Out of time or of patience with the pacer: hand the unclaimed back untouched (claimed groups still settle)."""
        unit.report.requeued.extend(o.phone for o in unit.queue)
        unit.queue = []


@dataclass
class GroupOutcome:
    """What one group came to, for the batch loop."""

    throttled: list[str] = field(default_factory=list)
    again: list[Outgoing] = field(default_factory=list)  # not sent and free again: try in a later group


def _claim_group(
    ports: Ports,
    pool: Executor,
    batch: SendBatch,
    group: list[tuple[Outgoing, datetime]],
    report: BatchReport,
    *,
    number: str,
    limit: int,
) -> _Group | None:
    """Claim ``group`` (one transaction) and start its sends on ``pool``; None when the campaign is no longer
    running (nothing claimed, nothing sent).

    Consent is checked by the claim itself, not by another read: a subscriber store change that leaves a number
    anything but active also moves its contact window's version (``SubscriberStore.apply``), and the claim's
    condition on that version refuses a number whose window moved since the batch read it (``CONTACTS_CHANGED``:
    decided again, by a later batch that reads the STOP). The batch reads the windows before the subscribers
    (``_prepare``), so a STOP that landed after the subscriber read is always after the window read too."""
    settlements: list[Settlement] = []
    claimed_at = ports.clock.now()
    claims = [Claim(o.phone, o.previous, o.window) for o, _ in group]
    claim = ports.ledger.claim(batch.shop_id, batch.campaign_id, claims, claimed_at) if claims else GroupClaim((), {})
    if not claim.campaign_running:
        return None
    for o, _ in group:
        refusal = claim.refused.get(o.phone)
        if refusal is ClaimRefusal.TAKEN:
            report.already_done += 1
        elif refusal is ClaimRefusal.CONTACTS_CHANGED:
            # Another campaign messaged them, or their consent changed, since we read: decide again (the cap or the
            # STOP may now skip them).
            report.requeued.append(o.phone)
    mine = set(claim.claimed)
    to_send = [(o, slot) for o, slot in group if o.phone in mine]
    if to_send:
        report.groups += 1
    sending = _Group(ports, pool, batch, claimed_at, settlements, number=number, limit=limit)
    if to_send and ports.clock.now() > min(slot for _, slot in to_send):
        # The claim took longer than the pacer's head start (a slow or throttled write; devstack's moto always): the
        # group's first slots are gone before a send could start. Fresh ones now, inside the lease, keep it on time;
        # waiting for the group's settle to find them missed would leave the next group's claim eating the lease.
        # Those the pacer cannot fit in keep their missed slots, so settling finds them late and gives them back.
        regranted = _regrant(ports, number, limit, [o for o, _ in to_send], sending.lease_until)
        fresh = {o.phone for o, _ in regranted}
        to_send = regranted + [(o, slot) for o, slot in to_send if o.phone not in fresh]
    sending.start(to_send)
    return sending


class _Group:
    """One claimed group: its sends, started on the pool at their slots within its lease, and what it settles
    once they are done (one transaction, from the batch's thread)."""

    def __init__(
        self,
        ports: Ports,
        pool: Executor,
        batch: SendBatch,
        claimed_at: datetime,
        settlements: list[Settlement],
        *,
        number: str,
        limit: int,
    ) -> None:
        self.ports, self.pool, self.batch = ports, pool, batch
        self.number, self.limit = number, limit
        self.claimed_at = claimed_at
        self.lease_until = claimed_at + SEND_LEASE
        self.settlements = settlements
        self.released: list[Release] = []
        self.sends: list[tuple[Outgoing, datetime, Future[Delivered | None]]] = []

    @property
    def rebook_at(self) -> datetime:
        """When to ask the pacer for the next group: before this one's last slot (``rebook_at_ms``)."""
        return instant(rebook_at_ms(_ms(max(slot for _, slot, _ in self.sends))))

    def start(self, items: Sequence[tuple[Outgoing, datetime]]) -> None:
        """Hand each message to the pool, to be sent at its slot."""
        self.sends = [(o, slot, self.pool.submit(_send_at, self.ports, o, slot, self.lease_until)) for o, slot in items]

    def finish(self, report: BatchReport) -> GroupOutcome:
        """Wait for the sends and settle the group; the late ones are given back unsent, to go in a later group.

        Not sent again here on fresh slots: those would come after the slots already booked for the next groups
        (up to a quarter of a second ahead), and the settle, which the next claim may be waiting for, with them."""
        outcome = GroupOutcome()
        for o, _, future in self.sends:
            delivered = future.result()
            if delivered is None:
                # Missed its slot (woke too late, or the lease ran out): still ours, and never sent.
                release = Release(o.phone, o.window.with_send(self.claimed_at), self.claimed_at)
                self.released.append(release)
                outcome.again.append(replace(o, previous=None, window=release.restored))
            elif delivered.outcome.retry_later:
                self.released.append(Release(o.phone, o.window.with_send(self.claimed_at), self.claimed_at))
                outcome.throttled.append(o.phone)
            else:
                self.settlements.append(_settlement(self.batch, o, delivered))
        if self.settlements or self.released:
            _settle(self.ports, self.batch, self.settlements, report, released=self.released)
        return outcome


def _regrant(
    ports: Ports, number: str, limit: int, late: list[Outgoing], lease_until: datetime
) -> list[tuple[Outgoing, datetime]]:
    """New slots, inside the lease, for claimed messages that missed theirs (none once the lease runs out)."""
    while (now := ports.clock.now()) < lease_until:
        slots = ports.pacer.grant(number, limit, [o.parts for o in late])
        if slots.at:
            return [(o, at) for o, at in zip(late, slots.at, strict=False) if at <= lease_until]
        wait = timedelta(milliseconds=retry_ms(_ms_of(slots.retry_after), granted_before=True))
        if now + wait >= lease_until:
            break
        ports.sleep(wait.total_seconds())
    return []


def _send_at(ports: Ports, o: Outgoing, slot: datetime, lease_until: datetime) -> Delivered | None:
    """Send ``o`` at its slot (None: not sent, because it could not start on time within the lease)."""
    if slot > lease_until:
        return None  # never sleep toward a slot the lease cannot reach (one handed out before a clock jump)
    wait = (slot - ports.clock.now()).total_seconds()
    if wait > 0:
        ports.sleep(wait)
    now = ports.clock.now()
    # A late start would crowd the next slot at the provider; a start after the lease could follow End.
    if now > lease_until or not on_time(_ms(slot), _ms(now)):
        return None
    return outbound.send(ports, o.sms)


_P = ParamSpec("_P")
_T = TypeVar("_T")


class _Inline(Executor):
    """Runs each send on the calling thread as it is handed over (``concurrent_sends`` 1: tests on a virtual
    clock); whatever a send raises propagates at once, as it would kill the worker."""

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        future: Future[_T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _send_pool(ports: Ports) -> Executor:
    """Where an invocation's sends run: sized by ``concurrent_sends`` for the most groups in flight, or inline."""
    return _Inline() if ports.concurrent_sends <= 1 else ports.send_pool(ports.concurrent_sends)


def _ms(at: datetime) -> int:
    return epoch_ms(at)


def _ms_of(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)


def _settlement(batch: SendBatch, o: Outgoing, delivered: Delivered) -> Settlement:
    state, reason = _ledger_outcome(delivered)
    receipt = delivered.receipt
    entry = LedgerEntry(
        batch.shop_id,
        batch.campaign_id,
        o.phone,
        state,
        delivered.at,
        reason=reason,
        provider_message_id=receipt.provider_message_id if receipt else None,
        parts=receipt.parts if receipt else 0,
    )
    line = outbound.thread_line(o.line, delivered) if delivered.outcome is Delivery.SENT else None
    return Settlement(entry, SendState.CLAIMED, line)


def _ledger_outcome(delivered: Delivered) -> tuple[SendState, str | None]:
    error = delivered.error
    if delivered.outcome is Delivery.SENT or error is None:
        return SendState.SENT, None
    if delivered.outcome is Delivery.OPTED_OUT:
        return SendState.SKIPPED, SkipReason.CARRIER_OPT_OUT.value
    if delivered.outcome is Delivery.REJECTED:
        return SendState.FAILED, f"{FailReason.REJECTED.value}:{error.details.get('reason', error.code)}"
    # The provider may or may not have accepted it: at most once means we do not try again.
    return SendState.FAILED, f"{FailReason.ERROR.value}:{error.code}"


def _retry_throttled(ports: Ports, batch: SendBatch, phones: list[str], report: BatchReport) -> None:
    if batch.attempt + 1 >= MAX_THROTTLE_ATTEMPTS:
        now = ports.clock.now()
        settlements = [
            Settlement(
                LedgerEntry(batch.shop_id, batch.campaign_id, p, SendState.FAILED, now, reason=FailReason.THROTTLED.value), None
            )
            for p in phones
        ]
        _settle(ports, batch, settlements, report)
        return
    retry = batches(batch.shop_id, batch.campaign_id, phones, batch.attempt + 1)
    ports.jobs.enqueue_sends(retry, delay_seconds=backoff_seconds(batch.attempt))
    report.retried.extend(phones)
