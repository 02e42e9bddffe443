"""JSON shapes of domain objects, shared by the routes (one place decides what the API shows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chalicelib.domain.campaigns import Campaign, CampaignStats
from chalicelib.domain.inbox import Conversation, Reply
from chalicelib.domain.messages import ConversationMessage
from chalicelib.domain.segments import Segment
from chalicelib.domain.subscribers import ConsentEvent, Subscriber
from chalicelib.services.campaigns import Preview
from chalicelib.services.inbox import Thread


def iso(at: datetime | None) -> str | None:
    """RFC 3339 UTC, or None."""
    return at.isoformat().replace("+00:00", "Z") if at else None


def subscriber_json(subscriber: Subscriber) -> dict[str, Any]:
    """A subscriber as the API shows it."""
    return {
        "phone": subscriber.phone,
        "status": subscriber.status.value,
        "source": subscriber.source.value,
        "name": subscriber.name,
        "profile_url": subscriber.profile_url,
        "joined_at": iso(subscriber.joined_at),
        "updated_at": iso(subscriber.updated_at),
        "opted_out_at": iso(subscriber.opted_out_at),
    }


def consent_json(events: Sequence[ConsentEvent]) -> list[dict[str, Any]]:
    """Consent history, oldest first."""
    return [{"at": iso(e.at), "action": e.action.value, "source": e.source.value, "text": e.text} for e in events]


def stats_json(stats: CampaignStats) -> dict[str, Any]:
    """Campaign results; revenue in minor units with its currency."""
    return {
        "planned": stats.planned,
        "sent": stats.sent,
        "skipped": stats.skipped,
        "failed": stats.failed,
        "deferred": stats.deferred,
        "segments": stats.parts,
        "clicks": stats.clicks,
        "orders": stats.orders,
        "revenue": {"amount": stats.revenue, "currency": stats.currency},
    }


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    """A campaign as the API shows it."""
    return {
        "id": campaign.campaign_id,
        "name": campaign.name,
        "message": campaign.message,
        # the merchant's link; the stored s3:// copy is an internal detail of sending
        "media_url": campaign.media_url,
        "channel": "mms" if campaign.is_mms else "sms",
        "segment_id": campaign.segment_id,
        "send_at": "now" if campaign.send_now else (campaign.send_at_local.isoformat() if campaign.send_at_local else None),
        "send_at_utc": iso(campaign.send_at_utc),
        "timezone": campaign.timezone,
        "status": campaign.status.value,
        "active": campaign.active,
        "created_at": iso(campaign.created_at),
        "updated_at": iso(campaign.updated_at),
        "started_at": iso(campaign.started_at),
        "completed_at": iso(campaign.completed_at),
        "ended_early": campaign.ended_early,
        "not_sent": campaign.not_sent if campaign.ended_early else 0,
        "stats": stats_json(campaign.stats),
    }


def segment_json(segment: Segment) -> dict[str, Any]:
    """A segment as the API shows it."""
    return {"id": segment.segment_id, "name": segment.name, "rule": dict(segment.rule), "builtin": segment.builtin}


def preview_json(preview: Preview) -> dict[str, Any]:
    """What a campaign would be: size, audience, quiet-hours waves and estimated cost."""
    return {
        "characters": preview.shape.characters,
        "encoding": preview.shape.encoding.value,
        "channel": preview.channel,
        # billed parts per recipient: the text's SMS parts, or 1 for an MMS whatever its length
        "segments": preview.parts,
        "recipients": preview.recipients,
        "deferred": preview.deferred,
        "waves": [{"release_at": iso(w.release_at), "recipients": w.recipients} for w in preview.waves],
        "estimated_cost": {
            "amount": preview.estimated_cost.amount,
            "currency": preview.estimated_cost.currency,
            "parts": preview.estimated_cost.parts,
        },
    }


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    """A row of the Inbox list."""
    return {
        "phone": conversation.phone,
        "status": conversation.status.value,
        "last_activity_at": iso(conversation.last_activity_at),
        "last_inbound_at": iso(conversation.last_inbound_at),
        "last_message": conversation.last_message,
        "last_direction": conversation.last_direction,
    }


def reply_json(reply: Reply) -> dict[str, Any]:
    """A one-to-one reply and where it stands."""
    return {
        "id": reply.reply_id,
        "phone": reply.phone,
        "text": reply.text,
        "state": reply.state.value,
        "created_at": iso(reply.created_at),
        "send_at": iso(reply.send_at),
        "image_url": reply.media_url,
        "reason": reply.reason,
    }


def message_json(message: ConversationMessage) -> dict[str, Any]:
    """One line of a thread."""
    return {
        "id": message.message_id,
        "at": iso(message.at),
        "direction": message.direction.value,
        "kind": message.kind.value if message.kind else None,
        "body": message.body,
        "media_urls": list(message.media_urls),
        "campaign_id": message.campaign_id,
    }


def thread_json(thread: Thread) -> dict[str, Any]:
    """The conversation view: subscriber card, status, history oldest first, replies waiting for quiet hours."""
    subscriber = thread.subscriber
    return {
        "subscriber": {
            "phone": subscriber.phone,
            "name": subscriber.name,
            "profile_url": subscriber.profile_url,
            "source": subscriber.source.value,
            "consent": subscriber.status.value,
            "quiet_hours_now": thread.quiet.quiet,
            "quiet_until": iso(thread.quiet.until),
        },
        "conversation": conversation_json(thread.conversation),
        "messages": [message_json(m) for m in thread.messages.items],
        "next_cursor": thread.messages.cursor,
        "scheduled_replies": [reply_json(r) for r in thread.scheduled],
    }
