"""Privacy: what a data request shows about one person, and the hashed suppression that outlives a redaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.inbox import Conversation, Reply
from chalicelib.domain.messages import ConversationMessage
from chalicelib.domain.subscribers import ConsentEvent, Subscriber


def suppression_hash(shop_id: str, phone: str) -> str:
    """SHA-256 of shop and E.164 number: enough to recognise a redacted number again, without keeping it."""
    return hashlib.sha256(f"{shop_id}#{phone}".encode()).hexdigest()


@dataclass(frozen=True)
class PrivacyExport:
    """The answer to a customers/data_request: everything every personal-data store keeps about one person."""

    shop_id: str
    export_id: str
    phone: str
    created_at: datetime
    data: dict[str, object]


def subscriber_json(subscriber: Subscriber) -> dict[str, object]:
    """A subscriber as a data-request export shows it."""
    return {
        "phone": subscriber.phone,
        "status": subscriber.status.value,
        "source": subscriber.source.value,
        "name": subscriber.name,
        "profile_url": subscriber.profile_url,
        "customer_id": subscriber.customer_id,
        "joined_at": subscriber.joined_at.isoformat(),
        "opted_out_at": subscriber.opted_out_at.isoformat() if subscriber.opted_out_at else None,
        "orders_count": subscriber.orders_count,
        "last_order_at": subscriber.last_order_at.isoformat() if subscriber.last_order_at else None,
        "last_clicked_at": subscriber.last_clicked_at.isoformat() if subscriber.last_clicked_at else None,
        "unreachable_reason": subscriber.unreachable_reason,
        "unreachable_at": subscriber.unreachable_at.isoformat() if subscriber.unreachable_at else None,
    }


def consent_json(event: ConsentEvent) -> dict[str, object]:
    """A consent event as a data-request export shows it."""
    data: dict[str, object] = {
        "at": event.at.isoformat(),
        "action": event.action.value,
        "source": event.source.value,
        "text": event.text,
    }
    if event.page_url:  # a sign-up form's page: part of what the person gave
        data["page_url"] = event.page_url
    return data


def message_json(message: ConversationMessage) -> dict[str, object]:
    """A thread line as a data-request export shows it."""
    return {
        "at": message.at.isoformat(),
        "direction": message.direction.value,
        "body": message.body,
        "media_urls": list(message.media_urls),
        "campaign_id": message.campaign_id,
    }


def conversation_json(conversation: Conversation) -> dict[str, object]:
    """An Inbox conversation as a data-request export shows it."""
    return {
        "status": conversation.status.value,
        "last_activity_at": conversation.last_activity_at.isoformat(),
        "last_message": conversation.last_message,
    }


def reply_json(reply: Reply) -> dict[str, object]:
    """An Inbox reply as a data-request export shows it."""
    return {
        "reply_id": reply.reply_id,
        "text": reply.text,
        "state": reply.state.value,
        "created_at": reply.created_at.isoformat(),
        "media_url": reply.media_url,
    }
