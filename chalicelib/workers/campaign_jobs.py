"""SQS consumer for campaign jobs (start, plan a page, release a quiet-hours wave).

Uses Powertools' batch processor so one bad job is retried alone (partial batch response), which
Chalice's on_sqs_message cannot do. Jobs are idempotent, so a retried or duplicated job is harmless.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.composition import container
from chalicelib.domain.jobs import SendReply, job_from_json
from chalicelib.observability import correlate, logger, tracer
from chalicelib.services.jobs import run_job

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    """Run one job; a malformed one is logged and dropped (retrying cannot fix it)."""
    correlate()
    try:
        job = job_from_json(json.loads(record.body))
    except ValueError:
        logger.exception("malformed campaign job dropped", extra={"message_id": record.message_id})
        return
    if isinstance(job, SendReply):
        correlate(shop_id=job.shop_id, phone=job.phone)
    else:
        correlate(shop_id=job.shop_id, campaign_id=job.campaign_id)
    run_job(container().ports, job)


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handle_sqs_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point for the campaign-jobs queue."""
    return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context))
