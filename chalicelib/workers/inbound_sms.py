"""Inbound SMS: End User Messaging two-way SMS -> SNS -> this handler -> services.inbound.

Any exception propagates, so Lambda retries the event twice and then parks it on the failure queue
(DESIGN invariant 5: every inbound SMS is stored once or kept for a retry).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent

from chalicelib.composition import container
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.keywords import Intent
from chalicelib.domain.messages import InboundSms
from chalicelib.observability import Metric, correlate, count, logger, tracer
from chalicelib.services.inbound import receive_sms

_REQUIRED = ("originationNumber", "destinationNumber", "messageBody", "inboundMessageId")


def parse_inbound(message: str, published_at: str | None) -> InboundSms:
    """Turn an End User Messaging two-way SMS notification into an InboundSms."""
    try:
        payload = json.loads(message)
    except ValueError as exc:
        raise InvalidInput("inbound SMS notification is not JSON", code="invalid_inbound") from exc
    if not isinstance(payload, dict):
        raise InvalidInput("inbound SMS notification is not an object", code="invalid_inbound")
    missing = [k for k in _REQUIRED if not isinstance(payload.get(k), str)]
    if missing:
        raise InvalidInput(f"inbound SMS notification lacks {missing}", code="invalid_inbound")
    return InboundSms(
        message_id=payload["inboundMessageId"],
        from_number=payload["originationNumber"],
        to_number=payload["destinationNumber"],
        body=payload["messageBody"],
        received_at=_published(published_at),
        keyword=payload.get("messageKeyword") if isinstance(payload.get("messageKeyword"), str) else None,
        previous_message_id=payload.get("previousPublishedMessageId")
        if isinstance(payload.get("previousPublishedMessageId"), str)
        else None,
    )


def _published(timestamp: str | None) -> datetime:
    # SNS stamps when the message was published: the closest thing to 'received' the payload carries.
    if timestamp:
        try:
            return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            pass
    return container().clock.now()


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handle_sns_event(event: dict[str, Any], context: Any = None) -> None:
    """Lambda entry point for the inbound SMS topic."""
    ports = container().ports
    for record in SNSEvent(event).records:
        correlate()
        # A malformed notification raises too: after the retries it waits on the failure queue for a person.
        sms = parse_inbound(record.sns.message, record.sns.timestamp)
        correlate(phone=sms.from_number)  # the shop is known once the service routes the sender number
        result = receive_sms(ports, sms)
        logger.info(
            "inbound sms handled",
            extra={"shop_id": result.shop_id, "intent": result.intent.value, "duplicate": result.duplicate},
        )
        if not result.duplicate:  # a redelivered SMS was counted the first time
            opt_outs = 1 if result.intent is Intent.OPT_OUT else 0
            count(container().settings.resource_prefix, {Metric.INBOUND: 1, Metric.OPT_OUTS: opt_outs})
