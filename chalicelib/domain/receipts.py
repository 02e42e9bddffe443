"""Delivery receipts: what the carrier said became of a message End User Messaging accepted.

End User Messaging publishes one event per status change of a message to the configuration set's event
destination (an SNS topic here). Events arrive at least once, in any order, up to 72 hours after the send,
and only one per message carries ``isFinal: true``. So smscast records the *first final* event of a message
and ignores the rest: a non-final event (queued, pending) never overrides a final one, a duplicate finds the
outcome already recorded, and the counters (Delivered, Undelivered) only ever grow.

The event names the message by ``messageId`` (the provider id the send ledger stores) and carries the
``context`` map the sender attached (``shop_id``, ``kind``, ``campaign_id``: adapters/sms/end_user_messaging.py),
which with ``destinationPhoneNumber`` locates the ledger row without an index. A receipt whose row does not
hold that message id is not ours to count (an unknown id).

A few failures say the *number* is the problem, not the message: it does not exist, or the recipient's device
or carrier blocks messages to it. Such a number is marked unreachable (with the reason in its history) and
later campaigns skip it, instead of paying for messages that cannot arrive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.messages import MessageKind


class Delivery(str, Enum):
    """Where a sent message ended up, as far as the carrier told."""

    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"


# Event types (the eventType of SMS events), from End User Messaging's "Event types for SMS, MMS, and voice".
# TEXT_DELIVERED and TEXT_SUCCESSFUL are used interchangeably depending on the destination country.
_DELIVERED = frozenset({"TEXT_DELIVERED", "TEXT_SUCCESSFUL", "MEDIA_DELIVERED", "MEDIA_SUCCESSFUL"})
_IN_FLIGHT = frozenset({"TEXT_QUEUED", "TEXT_PENDING", "MEDIA_QUEUED", "MEDIA_PENDING"})
_UNDELIVERED = frozenset(
    {
        "TEXT_BLOCKED",
        "TEXT_TTL_EXPIRED",
        "TEXT_CARRIER_UNREACHABLE",
        "TEXT_INVALID",
        "TEXT_INVALID_MESSAGE",
        "TEXT_CARRIER_BLOCKED",
        "TEXT_UNREACHABLE",
        "TEXT_SPAM",
        "TEXT_UNKNOWN",
        "TEXT_PROTECT_BLOCKED",
        "MEDIA_BLOCKED",
        "MEDIA_TTL_EXPIRED",
        "MEDIA_CARRIER_UNREACHABLE",
        "MEDIA_INVALID",
        "MEDIA_INVALID_MESSAGE",
        "MEDIA_CARRIER_BLOCKED",
        "MEDIA_UNREACHABLE",
        "MEDIA_SPAM",
        "MEDIA_UNKNOWN",
        "MEDIA_FILE_INACCESSIBLE",
        "MEDIA_FILE_TYPE_UNSUPPORTED",
        "MEDIA_FILE_SIZE_EXCEEDED",
    }
)
# Failures that are about the number, whatever the message: it is not a valid mobile number, or the
# recipient's device or carrier blocks everything to it. Content filtering (TEXT_CARRIER_BLOCKED, TEXT_SPAM)
# is about the message and a temporary outage (TEXT_UNREACHABLE: phone off) passes, so neither marks a number.
PERMANENT = frozenset({"TEXT_INVALID", "TEXT_BLOCKED", "MEDIA_INVALID", "MEDIA_BLOCKED"})

_PHONE_MAX = 20
_ID_MAX = 200
_REASON_MAX = 300


@dataclass(frozen=True)
class DeliveryReceipt:
    """One carrier status event about one message smscast sent."""

    provider_message_id: str
    phone: str  # the destination
    event_type: str
    final: bool
    at: datetime  # when End User Messaging reported it
    shop_id: str | None = None
    campaign_id: str | None = None
    kind: MessageKind | None = None
    description: str = ""

    @property
    def outcome(self) -> Delivery | None:
        """Delivered or undelivered for a final event; None while the message is still on its way (or for an
        event type this code does not know, which is treated as not yet final rather than guessed)."""
        if not self.final:
            return None
        if self.event_type in _DELIVERED:
            return Delivery.DELIVERED
        if self.event_type in _UNDELIVERED:
            return Delivery.UNDELIVERED
        return None

    @property
    def reason(self) -> str | None:
        """Why it was not delivered (the event type and the carrier's words); None when delivered."""
        if self.outcome is not Delivery.UNDELIVERED:
            return None
        text = f"{self.event_type}: {self.description}" if self.description else self.event_type
        return text[:_REASON_MAX]

    @property
    def number_unreachable(self) -> bool:
        """True when the failure says the number itself cannot receive texts."""
        return self.outcome is Delivery.UNDELIVERED and self.event_type in PERMANENT


def _text(event: Mapping[str, Any], key: str, limit: int, *, required: bool = True) -> str | None:
    value = event.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(f"delivery event field {key} must be a non-empty string", code="invalid_delivery_event")
    return value.strip()


def parse(body: str | Mapping[str, Any]) -> DeliveryReceipt:
    """A receipt from an event's JSON (as the SQS queue subscribed to the topic delivers it raw), or from an
    SNS envelope around it; InvalidInput for anything else (retrying cannot fix it)."""
    try:
        event: Any = json.loads(body) if isinstance(body, str) else body
        if isinstance(event, Mapping) and event.get("Type") == "Notification" and isinstance(event.get("Message"), str):
            event = json.loads(event["Message"])  # an SNS envelope (subscription without raw delivery)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("a delivery event must be JSON", code="invalid_delivery_event") from exc
    if not isinstance(event, Mapping):
        raise InvalidInput("a delivery event must be a JSON object", code="invalid_delivery_event")
    message_id = _text(event, "messageId", _ID_MAX)
    phone = _text(event, "destinationPhoneNumber", _PHONE_MAX)
    event_type = _text(event, "eventType", 64)
    stamp = event.get("eventTimestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not 0 < stamp < 10**14:
        raise InvalidInput("delivery event eventTimestamp must be epoch milliseconds", code="invalid_delivery_event")
    final = event.get("isFinal")
    context = event.get("context") if isinstance(event.get("context"), Mapping) else {}
    assert isinstance(context, Mapping)
    kind_text = context.get("kind")
    kind = MessageKind(kind_text) if kind_text in {k.value for k in MessageKind} else None
    description = event.get("messageStatusDescription")
    return DeliveryReceipt(
        provider_message_id=str(message_id),
        phone=str(phone),
        event_type=str(event_type).upper(),
        final=final is True,
        at=datetime.fromtimestamp(stamp / 1000, tz=timezone.utc),
        shop_id=_context_value(context, "shop_id"),
        campaign_id=_context_value(context, "campaign_id"),
        kind=kind,
        description=description.strip()[:_REASON_MAX] if isinstance(description, str) else "",
    )


def _context_value(context: Mapping[str, Any], key: str) -> str | None:
    value = context.get(key)
    return value if isinstance(value, str) and value and len(value) <= _ID_MAX and "#" not in value else None


def event_of(receipt: DeliveryReceipt, *, from_number: str, epoch_ms: int | None = None) -> dict[str, Any]:
    """The event End User Messaging would publish for ``receipt`` (the sandbox provider and tests publish it)."""
    context = {k: v for k, v in {"shop_id": receipt.shop_id, "campaign_id": receipt.campaign_id}.items() if v}
    if receipt.kind is not None:
        context["kind"] = receipt.kind.value
    return {
        "eventType": receipt.event_type,
        "eventVersion": "1.0",
        "eventTimestamp": epoch_ms if epoch_ms is not None else int(receipt.at.timestamp() * 1000),
        "isFinal": receipt.final,
        "originationPhoneNumber": from_number,
        "destinationPhoneNumber": receipt.phone,
        "messageId": receipt.provider_message_id,
        "messageStatus": receipt.event_type.removeprefix("TEXT_").removeprefix("MEDIA_"),
        "messageStatusDescription": receipt.description,
        "context": context,
    }
