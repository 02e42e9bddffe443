"""SQS consumer for End User Messaging's delivery events (configuration set -> SNS topic -> this queue).

The whole poll is recorded at once (``services.receipts.record`` writes many receipts per ledger transaction;
one receipt per call would write the campaign's counters once per message, a hot key at campaign speed), and
the records to try again are reported as partial batch failures: receipts that came before their send's
outcome was settled, and everything when the batch could not be recorded at all. A malformed event is logged
and dropped: retrying cannot fix it.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.resources import DELIVERY_RECEIPTS
from chalicelib.composition import container
from chalicelib.domain import receipts as receipt_events
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.receipts import DeliveryReceipt
from chalicelib.observability import Metric, correlate, count, logger, tracer
from chalicelib.services import receipts

# Seconds until a receipt that came before its send was settled is delivered again.
RETRY_AFTER = 10


def handle_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Record a poll of SQS records; the answer lists the ones SQS should deliver again."""
    parsed: list[tuple[str, DeliveryReceipt]] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            parsed.append((message_id, receipt_events.parse(str(record.get("body", "")))))
        except InvalidInput:
            logger.exception("malformed delivery event dropped", extra={"message_id": message_id})
    try:
        report = receipts.record(container().ports, [receipt for _, receipt in parsed])
    except Exception:
        logger.exception("delivery receipts could not be recorded; the batch will be retried")
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id, _ in parsed]}
    retry = {id(receipt) for receipt in report.retry}
    failures = [{"itemIdentifier": message_id} for message_id, receipt in parsed if id(receipt) in retry]
    if failures:
        _retry_soon([r for r in records if {"itemIdentifier": str(r.get("messageId", ""))} in failures])
    values = {Metric.DELIVERED: report.delivered, Metric.UNDELIVERED: report.undelivered, Metric.UNREACHABLE: report.unreachable}
    count(container().settings.resource_prefix, values, reasons={Metric.UNDELIVERED: report.reasons})
    logger.info(
        "delivery receipts recorded",
        extra={
            "delivered": report.delivered,
            "undelivered": report.undelivered,
            "duplicates": report.duplicates,
            "unknown": report.unknown,
            "in_flight": report.in_flight,
            "unreachable": report.unreachable,
            "retry": len(failures),
        },
    )
    return {"batchItemFailures": failures}


def _retry_soon(records: list[dict[str, Any]]) -> None:
    """Make receipts that beat their send's outcome visible again in RETRY_AFTER seconds instead of the queue's
    visibility timeout: the outcome is settled within a send lease (seconds). Best effort: if this fails they
    come back after the visibility timeout, which is only later."""
    try:
        ports = container()
        url = ports.queues.url(DELIVERY_RECEIPTS)
        entries = [
            {"Id": str(i), "ReceiptHandle": str(r["receiptHandle"]), "VisibilityTimeout": RETRY_AFTER}
            for i, r in enumerate(records)
            if r.get("receiptHandle")
        ]
        for start in range(0, len(entries), 10):  # the API takes ten at a time
            ports.client("sqs").change_message_visibility_batch(QueueUrl=url, Entries=entries[start : start + 10])
    except Exception:
        logger.warning("could not shorten the wait of receipts to retry", exc_info=True)


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handle_sqs_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point for the delivery-receipts queue."""
    correlate()
    return handle_records(list(event.get("Records") or []))
