"""Delivery receipts: carriers' answers move the send ledger, the campaign's stats and unreachable numbers.

Receipts come in batches (one SQS poll). Final ones of campaign messages are recorded per campaign in as few
ledger steps as the batch allows (``SendLedger.record_deliveries``: each counted once, however often or in
whatever order the events arrive). A receipt that beats its own send's outcome to the ledger (the row is still
claimed) is handed back to be tried again. A permanent failure marks the subscriber unreachable, once per
message, with the carrier's reason in the subscriber's history, so later campaigns skip the number.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from chalicelib.domain.errors import ConcurrentUpdate
from chalicelib.domain.messages import MessageKind
from chalicelib.domain.receipts import Delivery, DeliveryReceipt
from chalicelib.domain.subscribers import ConsentAction, ConsentEvent, ConsentSource
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services.optimistic import retry_on_conflict
from chalicelib.services.ports import AlreadyDone, Ports, SubscriberChange

logger = Logger(service=SERVICE, child=True, level=INHERIT)


@dataclass
class ReceiptReport:
    """What one batch of receipts did, for logs, metrics and tests."""

    delivered: int = 0
    undelivered: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # undelivered by event type
    duplicates: int = 0  # final receipts of messages recorded before
    unknown: int = 0  # no ledger row holds the message id (or it names no campaign of a known shop)
    in_flight: int = 0  # queued / pending: nothing to record
    not_campaign: int = 0  # final receipts of replies and compliance texts (only an unreachable number counts)
    unreachable: int = 0  # numbers newly marked unreachable
    retry: list[DeliveryReceipt] = field(default_factory=list)  # came before the send's outcome: try again


def record(ports: Ports, receipts: Sequence[DeliveryReceipt]) -> ReceiptReport:
    """Record a batch of receipts; safe to run again with any of them."""
    report = ReceiptReport()
    by_campaign: dict[tuple[str, str], list[DeliveryReceipt]] = defaultdict(list)
    mark: list[DeliveryReceipt] = []
    for receipt in receipts:
        if receipt.outcome is None:
            report.in_flight += 1
        elif receipt.shop_id is None:
            report.unknown += 1  # not sent by smscast (no context): nothing of ours to move
        elif receipt.campaign_id is not None and receipt.kind in (MessageKind.CAMPAIGN, None):
            by_campaign[(receipt.shop_id, receipt.campaign_id)].append(receipt)
        else:
            # A reply or compliance text has no ledger row; its receipt can still say the number is dead.
            report.not_campaign += 1
            mark.append(receipt)
    for (shop_id, campaign_id), group in by_campaign.items():
        unique = list({r.provider_message_id: r for r in group}.values())
        result = ports.ledger.record_deliveries(shop_id, campaign_id, unique)
        counted: set[str] = set()
        for receipt in group:
            message_id = receipt.provider_message_id
            if message_id in result.not_settled:
                report.retry.append(receipt)
            elif message_id in result.unknown:
                report.unknown += 1
            elif message_id in result.recorded and message_id not in counted:
                counted.add(message_id)
                _count(report, receipt)
                mark.append(receipt)
            else:
                report.duplicates += 1
                # The first delivery of this receipt may have died between the ledger and the mark.
                mark.append(receipt)
    for receipt in mark:
        if receipt.number_unreachable:
            try:
                report.unreachable += _mark_unreachable(ports, receipt)
            except ConcurrentUpdate:
                # A busy subscriber record: try the receipt again; the ledger will find it a duplicate.
                report.retry.append(receipt)
    return report


def _count(report: ReceiptReport, receipt: DeliveryReceipt) -> None:
    if receipt.outcome is Delivery.DELIVERED:
        report.delivered += 1
    else:
        report.undelivered += 1
        report.reasons[receipt.event_type] = report.reasons.get(receipt.event_type, 0) + 1


def _mark_unreachable(ports: Ports, receipt: DeliveryReceipt) -> int:
    """Mark the receipt's number unreachable for its shop (once per message id); 1 if this call marked it."""
    assert receipt.shop_id is not None and receipt.reason is not None
    shop_id, phone, reason = receipt.shop_id, receipt.phone, receipt.reason

    def attempt() -> int:
        subscriber = ports.subscribers.get(shop_id, phone)
        if subscriber is None or subscriber.unreachable:
            return 0
        now = ports.clock.now()
        event = ConsentEvent(
            shop_id=shop_id,
            phone=phone,
            at=now,
            event_id=uuid.uuid4().hex,
            action=ConsentAction.UNREACHABLE,
            source=ConsentSource.CARRIER,
            text=reason,
        )
        change = SubscriberChange(
            subscriber=subscriber.mark_unreachable(reason, now),
            expected_version=subscriber.version,
            event=event,
            dedupe_key=f"unreachable#{receipt.provider_message_id}",
        )
        try:
            ports.subscribers.apply(change)
        except AlreadyDone:
            return 0
        logger.info("number marked unreachable", extra={"shop_id": shop_id, "reason": receipt.event_type})
        return 1

    return retry_on_conflict(attempt, gave_up=f"subscriber {phone} kept changing")
