"""SQS consumer for campaign send batches: many recipients per message, each sent at most once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.composition import container
from chalicelib.domain.sending import SendBatch, SendState
from chalicelib.observability import Metric, correlate, count, logger, tracer
from chalicelib.services.sending import BatchReport, Invocation, send_batch

processor = BatchProcessor(event_type=EventType.SQS)
# Stop starting new sends this long before Lambda's timeout, so the rest is handed back cleanly.
_SAFETY_MARGIN = timedelta(seconds=5)
_DEFAULT_BUDGET = timedelta(seconds=50)  # devstack and tests have no Lambda context


def _deadline(context: Any) -> Any:
    clock = container().clock
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = timedelta(milliseconds=remaining()) if callable(remaining) else _DEFAULT_BUDGET
    return clock.now() + budget - _SAFETY_MARGIN


def make_record_handler(context: Any) -> Any:
    """A record handler bound to this invocation's deadline and reads."""
    invocation = Invocation()

    def record_handler(record: SQSRecord) -> None:
        correlate()
        try:
            batch = SendBatch.from_json(json.loads(record.body))
        except (ValueError, KeyError, TypeError):
            logger.exception("malformed send batch dropped", extra={"message_id": record.message_id})
            return
        correlate(shop_id=batch.shop_id, campaign_id=batch.campaign_id)
        report = send_batch(container().ports, batch, deadline=_deadline(context), invocation=invocation)
        logger.info(
            "send batch done",
            extra={
                "sent": report.sent,
                "skipped": report.skipped,
                "failed": report.failed,
                "deferred": report.deferred,
                "requeued": len(report.requeued),
                "retried": len(report.retried),
            },
        )
        _emit(report)

    return record_handler


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
    """Lambda entry point for the campaign-sends queue."""
    response = process_partial_response(
        event=event, record_handler=make_record_handler(context), processor=processor, context=context
    )
    return dict(response)
