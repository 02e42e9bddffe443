"""SQS consumer for campaign send batches: many recipients per message, each sent at most once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent, SQSRecord

from chalicelib.composition import container
from chalicelib.domain.sending import SendBatch, SendState
from chalicelib.observability import Metric, correlate, count, logger, tracer
from chalicelib.services.sending import BatchReport, Invocation, send_batches

# Stop starting new sends this long before Lambda's timeout, so the rest is handed back cleanly.
_SAFETY_MARGIN = timedelta(seconds=5)
_DEFAULT_BUDGET = timedelta(seconds=50)  # devstack and tests have no Lambda context


def _deadline(context: Any) -> Any:
    clock = container().clock
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = timedelta(milliseconds=remaining()) if callable(remaining) else _DEFAULT_BUDGET
    return clock.now() + budget - _SAFETY_MARGIN


def _parse(record: SQSRecord) -> SendBatch | None:
    """The record's batch; None (logged, and acknowledged: a redelivery could not parse it either) for garbage."""
    try:
        return SendBatch.from_json(json.loads(record.body))
    except (ValueError, KeyError, TypeError):
        logger.exception("malformed send batch dropped", extra={"message_id": record.message_id})
        return None


def _emit(report: BatchReport) -> None:
    """The batch's outcomes as metrics, once its settlements are written (a redelivery adds only what it did)."""
    by_reason: dict[Metric, dict[str, int]] = {Metric.FAILED: {}, Metric.SKIPPED: {}}
    for (state, reason), n in report.reasons.items():
        by_reason[Metric.FAILED if state is SendState.FAILED else Metric.SKIPPED][reason] = n
    values = {
        Metric.SENT: report.sent,
        Metric.FAILED: report.failed,
        Metric.SKIPPED: report.skipped,
        Metric.DEFERRED: report.deferred,
        Metric.THROTTLED: len(report.retried),
    }
    count(container().settings.resource_prefix, values, reasons=by_reason)


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handle_sqs_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point for the campaign-sends queue: the invocation's batches go through one pipeline
    (``send_batches``), so the next one's first groups follow the last ones of the batch before without a gap.

    Not Powertools' record-at-a-time processor, for that reason; the answer is the same partial batch response:
    the records whose batch raised come back, the others are done."""
    correlate()
    parsed = [(record, batch) for record in SQSEvent(event).records if (batch := _parse(record)) is not None]
    batches = [batch for _, batch in parsed]
    outcomes = send_batches(container().ports, batches, deadline=_deadline(context), invocation=Invocation())
    failures: list[dict[str, str]] = []
    for (record, batch), outcome in zip(parsed, outcomes, strict=True):
        correlate(shop_id=batch.shop_id, campaign_id=batch.campaign_id)
        if isinstance(outcome, Exception):
            failures.append({"itemIdentifier": record.message_id})
            continue
        logger.info(
            "send batch done",
            extra={
                "sent": outcome.sent,
                "skipped": outcome.skipped,
                "failed": outcome.failed,
                "deferred": outcome.deferred,
                "requeued": len(outcome.requeued),
                "retried": len(outcome.retried),
            },
        )
        _emit(outcome)
    return {"batchItemFailures": failures}
