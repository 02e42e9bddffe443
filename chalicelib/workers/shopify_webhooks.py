"""SQS consumer for verified Shopify webhooks (customers, uninstall, privacy, orders).

Powertools' batch processor retries a failed webhook alone; ``services.webhooks.handle`` does each webhook's
work once, so a redelivered message is harmless.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.composition import container
from chalicelib.domain.shopify import Webhook
from chalicelib.observability import correlate, logger, revenue, tracer
from chalicelib.services import webhooks

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    """Handle one webhook; a malformed message is logged and dropped (retrying cannot fix it)."""
    correlate()
    try:
        webhook = Webhook.from_json(json.loads(record.body))
    except ValueError:
        logger.exception("malformed webhook message dropped", extra={"message_id": record.message_id})
        return
    correlate(shop_id=webhook.shop_id)
    result = webhooks.process(container().ports, webhook)
    logger.info("shopify webhook handled", extra={"topic": webhook.topic.value, "outcome": result.handled.value})
    if result.attributed is not None:
        order = result.attributed
        revenue(container().settings.resource_prefix, order.currency, order.total)


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handle_sqs_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point for the shopify-webhooks queue."""
    return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context))
