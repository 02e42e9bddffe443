"""SQS consumer for list jobs (CSV imports and exports of a shop's subscribers), apart from campaign jobs.

Powertools' batch processor with a partial batch response, like the other consumers. The event source mapping
hands one message at a time (batch size 1): an import may use most of an invocation, and a second message
waiting behind it would wait for nothing. An import that nears the function's deadline checkpoints, queues
itself again and returns, so a 100,000-row file finishes across invocations.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.adapters.resources import LIST_JOBS
from chalicelib.composition import container
from chalicelib.domain.list_jobs import RunListJob
from chalicelib.observability import correlate, logger, tracer
from chalicelib.services.list_jobs import give_up, run_list_job

processor = BatchProcessor(event_type=EventType.SQS)
_NO_DEADLINE = 15 * 60.0  # seconds, when run without a Lambda context (devstack's pump, tests)
_context: Any = None


def _time_left() -> float:
    """Seconds the invocation has left."""
    if _context is not None and hasattr(_context, "get_remaining_time_in_millis"):
        return float(_context.get_remaining_time_in_millis()) / 1000.0
    return _NO_DEADLINE


def _deliveries(record: SQSRecord) -> int:
    """How many times SQS has delivered the message (0 when the event does not say)."""
    count = record.raw_event.get("attributes", {}).get("ApproximateReceiveCount", "0")
    return int(count) if str(count).isdigit() else 0


def record_handler(record: SQSRecord) -> None:
    """Run (or resume) one job; a malformed message is logged and dropped (retrying cannot fix it)."""
    correlate()
    try:
        message = RunListJob.from_json(json.loads(record.body))
    except ValueError:
        logger.exception("malformed list job dropped", extra={"message_id": record.message_id})
        return
    correlate(shop_id=message.shop_id)
    ports = container().ports
    try:
        run = run_list_job(ports, message, _time_left)
    except Exception:
        # The last delivery before the DLQ: fail the job, so the merchant is told rather than left polling.
        if _deliveries(record) >= LIST_JOBS.max_receive_count:
            give_up(ports, message)
        raise
    logger.info("list job turn ended", extra={"job_id": message.job_id, "run": run.value})


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handle_sqs_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point for the list-jobs queue."""
    global _context
    _context = context
    try:
        return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context))
    finally:
        _context = None
