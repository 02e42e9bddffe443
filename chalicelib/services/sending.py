"""The campaign engine's sending side: one batch of recipients, each sent at most once.

For each recipient, in order: skip if already settled; settle a claim left by a dead worker as failed
(never resend); skip if no longer subscribed or over the frequency cap; defer durably if in quiet hours;
claim in the ledger (atomically with 'campaign still running' and 'still subscribed'); wait for room under
the shop's MPS; send; record the outcome. Provider throttling gives the claim back and retries the phone
later with backoff, which cannot double-send because the provider definitely did not accept it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from aws_lambda_powertools import Logger

from chalicelib.domain import templates
from chalicelib.domain.campaigns import Campaign, CampaignStatus
from chalicelib.domain.errors import NotFound
from chalicelib.domain.jobs import ReleaseWave, wave_schedule_name
from chalicelib.domain.messages import ConversationMessage, Direction, MessageKind, OutboundSms
from chalicelib.domain.quiet_hours import Recipient, is_quiet, next_open
from chalicelib.domain.sending import FailReason, LedgerEntry, SendBatch, SendState, SkipReason
from chalicelib.domain.shops import Shop
from chalicelib.domain.subscribers import Subscriber, SubscriberStatus
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services import links, outbound
from chalicelib.services.links import LinkOwner
from chalicelib.services.outbound import Delivered, Delivery
from chalicelib.services.planning import batches
from chalicelib.services.ports import ClaimResult, Ports

logger = Logger(service=SERVICE, child=True, level=INHERIT)

MAX_THROTTLE_ATTEMPTS = 8
MAX_PACING_WAIT = timedelta(seconds=5)  # longer waits hand the rest of the batch back to the queue
# A claim younger than this may belong to a worker that is still sending (a duplicate delivery running in
# parallel); older ones can only be left by a worker that died, since redelivery waits out the visibility
# timeout (six times the worker's own timeout).
CLAIM_STALE_AFTER = timedelta(minutes=2)


class RecipientOutcome(str, Enum):
    """What one recipient of a batch came to, as far as the rest of the batch is concerned."""

    SENT = "sent"
    DONE = "done"  # settled (skipped, failed) or already settled by someone else: nothing more to do
    DEFERRED = "deferred"  # waits for its quiet-hours release wave
    THROTTLED = "throttled"  # the provider throttled it; the claim is free again: retry with backoff
    STOP = "stop"  # the campaign is no longer running: send nothing more from this batch
    OUT_OF_TIME = "out_of_time"  # nothing claimed: the rest of the batch goes back to the queue


@dataclass
class BatchReport:
    """What one batch did, for logs, metrics and tests."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0
    already_done: int = 0
    requeued: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)  # throttled by the provider, queued again with backoff
    stopped: bool = False  # the campaign ended mid-batch
    deadline: datetime | None = None


def backoff_seconds(attempt: int) -> int:
    """Exponential backoff for provider throttling: 2, 4, 8 ... capped at SQS's 15-minute delay."""
    return int(min(2 ** (attempt + 1), 900))


def send_batch(ports: Ports, batch: SendBatch, *, deadline: datetime | None = None) -> BatchReport:
    """Send one batch; safe under redelivery. ``deadline`` bounds the run (Lambda's remaining time)."""
    report = BatchReport(deadline=deadline)
    try:
        campaign = ports.campaigns.get(batch.shop_id, batch.campaign_id)
    except NotFound:
        return report
    if campaign.status is not CampaignStatus.IN_PROGRESS:
        report.stopped = True
        return report
    shop = ports.shops.get(batch.shop_id)
    if not shop.installed:
        # app/uninstalled ends the campaign too; this stops a batch read just before that landed.
        report.stopped = True
        return report
    subscribers = ports.subscribers.get_many(batch.shop_id, batch.phones)
    entries = ports.ledger.get_many(batch.shop_id, batch.campaign_id, batch.phones)
    throttled: list[str] = []
    waves_armed: set[datetime] = set()
    phones = list(batch.phones)
    for index, phone in enumerate(phones):
        if deadline is not None and ports.clock.now() >= deadline:
            report.requeued = phones[index:]
            break
        outcome = _one(ports, shop, campaign, batch, phone, subscribers.get(phone), entries.get(phone), waves_armed, report)
        if outcome is RecipientOutcome.THROTTLED:
            throttled.append(phone)
        elif outcome is RecipientOutcome.STOP:
            report.stopped = True
            break
        elif outcome is RecipientOutcome.OUT_OF_TIME:
            report.requeued = phones[index:]
            break
    if report.requeued:
        # Out of time or waiting on pacing: hand the rest back, a second later, for a fresh worker.
        ports.jobs.enqueue_sends(batches(batch.shop_id, batch.campaign_id, report.requeued, batch.attempt), delay_seconds=1)
    if throttled:
        _retry_throttled(ports, batch, throttled, report)
    ports.campaigns.complete_if_done(batch.shop_id, batch.campaign_id, ports.clock.now())
    return report


def _one(
    ports: Ports,
    shop: Shop,
    campaign: Campaign,
    batch: SendBatch,
    phone: str,
    subscriber: Subscriber | None,
    entry: LedgerEntry | None,
    waves_armed: set[datetime],
    report: BatchReport,
) -> RecipientOutcome:
    now = ports.clock.now()
    if entry is not None and entry.state.final:
        report.already_done += 1
        return RecipientOutcome.DONE
    if entry is not None and entry.state is SendState.CLAIMED:
        if now - entry.at < CLAIM_STALE_AFTER:
            report.already_done += 1  # another delivery of this batch is sending it right now
            return RecipientOutcome.DONE
        # Claimed but never recorded: the worker died between claim and send or between send and record.
        # We cannot know whether the phone got it, so it is settled as failed and never sent again.
        reason = FailReason.INTERRUPTED.value
        _finish(ports, batch, phone, SendState.FAILED, reason, previous=SendState.CLAIMED, report=report)
        return RecipientOutcome.DONE
    previous = entry.state if entry is not None else None
    if subscriber is None or subscriber.status is not SubscriberStatus.ACTIVE:
        _finish(ports, batch, phone, SendState.SKIPPED, SkipReason.NOT_SUBSCRIBED.value, previous=previous, report=report)
        return RecipientOutcome.DONE
    cap = shop.settings.frequency_cap
    if cap is not None and ports.contacts.count_since(shop.shop_id, phone, now - timedelta(days=cap.days)) >= cap.messages:
        _finish(ports, batch, phone, SendState.SKIPPED, SkipReason.FREQUENCY_CAP.value, previous=previous, report=report)
        return RecipientOutcome.DONE
    recipient = Recipient.of(phone, shop.settings.timezone)
    if is_quiet(recipient, shop.settings.quiet_hours, now):
        release_at = next_open(recipient, shop.settings.quiet_hours, now)
        ports.ledger.defer(shop.shop_id, campaign.campaign_id, phone, release_at, now)
        if release_at not in waves_armed:
            # One schedule per campaign and release time, however many recipients share it.
            ports.schedules.at(
                wave_schedule_name(campaign.campaign_id, release_at),
                release_at.replace(tzinfo=None),
                "UTC",
                ReleaseWave(shop.shop_id, campaign.campaign_id, release_at),
                move=False,
            )
            waves_armed.add(release_at)
        report.deferred += 1
        return RecipientOutcome.DEFERRED
    if not shop.settings.sender_number:
        _finish(ports, batch, phone, SendState.SKIPPED, SkipReason.NO_SENDER.value, previous=previous, report=report)
        return RecipientOutcome.DONE
    body = templates.render(
        campaign.message,
        templates.Personal(name=subscriber.name, shop_name=shop.settings.shop_name, discount_code=campaign.discount_code),
        opt_out_hint=shop.settings.opt_out_hint,
    )
    # Short links are stored before the claim, so no message can carry a code that does not resolve; a
    # redelivery finds the same codes in the recipient's slots.
    body = links.shorten(ports, body, LinkOwner(shop.shop_id, phone, campaign_id=campaign.campaign_id))
    # An MMS travels, is paced and is billed as one part whatever its text; an SMS as its text's parts.
    media_urls = (campaign.media_s3_uri,) if campaign.media_s3_uri else ()
    parts = 1 if media_urls else templates.encoding.measure(body).parts
    if not _wait_for_room(ports, shop, parts, report.deadline):
        return RecipientOutcome.OUT_OF_TIME  # nothing claimed yet: the phone goes back to the queue untouched
    sms = OutboundSms(
        shop_id=shop.shop_id,
        from_number=shop.settings.sender_number,
        to_number=phone,
        body=body,
        kind=MessageKind.CAMPAIGN,
        media_urls=media_urls,
        campaign_id=campaign.campaign_id,
        dedupe_key=f"{campaign.campaign_id}#{phone}",
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
        # the merchant's link, which a browser can show; the s3:// copy is for the provider only
        media_urls=(campaign.media_url,) if media_urls and campaign.media_url else media_urls,
        campaign_id=campaign.campaign_id,
    )
    delivered = outbound.deliver(ports, sms, CampaignClaim(ports, batch, phone), line)
    outcome = delivered.outcome
    if outcome is Delivery.SENT:
        report.sent += 1
        return RecipientOutcome.SENT
    if outcome is Delivery.THROTTLED:
        return RecipientOutcome.THROTTLED
    if outcome is Delivery.CAMPAIGN_NOT_RUNNING:
        return RecipientOutcome.STOP
    if outcome is Delivery.NOT_SUBSCRIBED:
        _finish(ports, batch, phone, SendState.SKIPPED, SkipReason.NOT_SUBSCRIBED.value, previous=previous, report=report)
    elif outcome is Delivery.TAKEN or not delivered.recorded:
        report.already_done += 1
    elif outcome is Delivery.OPTED_OUT:
        report.skipped += 1
    else:
        report.failed += 1
    return RecipientOutcome.DONE


class CampaignClaim:
    """A recipient's row in the send ledger: claiming it also checks, atomically, that the campaign is still
    running and the subscriber still active; the outcome lands on the same row with the campaign's counters."""

    def __init__(self, ports: Ports, batch: SendBatch, phone: str) -> None:
        self.ports = ports
        self.batch = batch
        self.phone = phone

    def take(self, at: datetime) -> ClaimResult:
        """Claim the recipient in the ledger."""
        return self.ports.ledger.claim(self.batch.shop_id, self.batch.campaign_id, self.phone, at)

    def give_back(self) -> None:
        """Claimed -> absent (the provider throttled: it definitely did not send)."""
        self.ports.ledger.unclaim(self.batch.shop_id, self.batch.campaign_id, self.phone)

    def record(self, delivered: Delivered) -> bool:
        """Claimed -> sent, skipped (carrier opt-out) or failed, counted once."""
        state, reason = _ledger_outcome(delivered)
        receipt = delivered.receipt
        entry = LedgerEntry(
            self.batch.shop_id,
            self.batch.campaign_id,
            self.phone,
            state,
            delivered.at,
            reason=reason,
            provider_message_id=receipt.provider_message_id if receipt else None,
            parts=receipt.parts if receipt else 0,
        )
        return self.ports.ledger.finish(entry, previous=SendState.CLAIMED)


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


def _wait_for_room(ports: Ports, shop: Shop, parts: int, deadline: datetime | None) -> bool:
    waited = timedelta(0)
    while True:
        wait_ms = ports.pacer.reserve(shop.shop_id, parts, shop.settings.mps)
        if wait_ms <= 0:
            return True
        wait = timedelta(milliseconds=wait_ms)
        if waited + wait > MAX_PACING_WAIT or (deadline is not None and ports.clock.now() + wait >= deadline):
            return False
        ports.sleep(wait.total_seconds())
        waited += wait


def _finish(
    ports: Ports,
    batch: SendBatch,
    phone: str,
    state: SendState,
    reason: str,
    *,
    previous: SendState | None,
    report: BatchReport,
) -> None:
    entry = LedgerEntry(batch.shop_id, batch.campaign_id, phone, state, ports.clock.now(), reason=reason)
    if ports.ledger.finish(entry, previous=previous):
        if state is SendState.SKIPPED:
            report.skipped += 1
        elif state is SendState.FAILED:
            report.failed += 1
    else:
        report.already_done += 1


def _retry_throttled(ports: Ports, batch: SendBatch, phones: list[str], report: BatchReport) -> None:
    if batch.attempt + 1 >= MAX_THROTTLE_ATTEMPTS:
        for phone in phones:
            _finish(ports, batch, phone, SendState.FAILED, FailReason.THROTTLED.value, previous=None, report=report)
        return
    retry = batches(batch.shop_id, batch.campaign_id, phones, batch.attempt + 1)
    ports.jobs.enqueue_sends(retry, delay_seconds=backoff_seconds(batch.attempt))
    report.retried.extend(phones)
