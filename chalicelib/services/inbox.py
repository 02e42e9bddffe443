"""Inbox use cases: conversations that follow inbound messages, replies that respect quiet hours, statuses."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.domain import encoding
from chalicelib.domain.errors import (
    Conflict,
    ConsentRequired,
    InvalidInput,
    NotFound,
    ProviderError,
    ProviderThrottled,
)
from chalicelib.domain.inbox import (
    Conversation,
    ConversationStatus,
    QuietHoursChoice,
    Reply,
    ReplyState,
    compose_reply,
    parse_choice,
)
from chalicelib.domain.jobs import SendReply, reply_schedule_name
from chalicelib.domain.messages import ConversationMessage, Direction, MessageKind, OutboundSms
from chalicelib.domain.phones import normalize_phone
from chalicelib.domain.quiet_hours import Recipient, is_quiet, next_open
from chalicelib.domain.shops import Shop
from chalicelib.domain.subscribers import ConsentSource, Subscriber
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services import subscribers as subscriber_service
from chalicelib.services.optimistic import retry_on_conflict
from chalicelib.services.ports import Page, Ports

logger = Logger(service=SERVICE, child=True, level=INHERIT)

_REPLY_FIELDS = frozenset({"text", "image_url", "discount_code", "quiet_hours"})
_MAX_ATTEMPTS = 8  # a conversation takes writes from inbound SMS, replies and the merchant's clicks at once


def _phone(ports: Ports, raw: str) -> str:
    return normalize_phone(raw, allow_fictional=ports.allow_fictional_numbers)


def _update(
    ports: Ports, shop_id: str, phone: str, change: Callable[[Conversation], Conversation], *, create: bool = True
) -> Conversation | None:
    """Read-change-write one conversation with optimistic retries (the unresolved count rides along)."""

    def attempt() -> Conversation | None:
        previous = ports.inbox.get(shop_id, phone)
        if previous is None and not create:
            return None
        base = previous or Conversation.start(shop_id, phone, ports.clock.now())
        updated = change(base)
        if previous is not None and updated == previous:
            return previous  # nothing to write (a redelivery, an idempotent click)
        return ports.inbox.save(updated, previous=previous)

    return retry_on_conflict(attempt, attempts=_MAX_ATTEMPTS, gave_up="the conversation kept changing; try again")


# --- fed by inbound SMS (services/inbound.py) ---------------------------------------------------------


def on_inbound(ports: Ports, shop_id: str, phone: str, *, at: datetime, body: str, event: str) -> None:
    """Keep the conversation in step with an inbound SMS: ``event`` is message, opt_out or opt_in."""
    if event == "message":
        _update(ports, shop_id, phone, lambda c: c.received(at, body))
    elif event == "opt_out":
        # A STOP is an answer to marketing too: it shows in the Inbox under Opted out. It needs no reply
        # from the merchant (the STOP confirmation answered it), so it does not reopen the conversation.
        _update(ports, shop_id, phone, lambda c: c.received(at, body, needs_reply=False).opt_out(at))
    elif event == "opt_in":
        _update(ports, shop_id, phone, lambda c: c.opt_in(at), create=False)


# --- reading ------------------------------------------------------------------------------------------


def list_conversations(ports: Ports, shop_id: str, *, status: str | None, limit: int, cursor: str | None) -> Page[Conversation]:
    """Conversations in one status, most recent activity first."""
    try:
        wanted = ConversationStatus(status or ConversationStatus.UNRESOLVED.value)
    except ValueError as exc:
        raise InvalidInput("status must be unresolved, resolved or opted_out", code="invalid_status") from exc
    return ports.inbox.page(shop_id, wanted, limit=limit, cursor=cursor)


def unresolved_count(ports: Ports, shop_id: str) -> int:
    """The red dot."""
    return ports.inbox.unresolved_count(shop_id)


@dataclass(frozen=True)
class QuietNow:
    """Whether the subscriber is in quiet hours now, and until when."""

    quiet: bool
    until: datetime | None


@dataclass(frozen=True)
class Thread:
    """Everything the conversation view shows."""

    subscriber: Subscriber
    conversation: Conversation
    messages: Page[ConversationMessage]
    scheduled: list[Reply]
    quiet: QuietNow


def quiet_now(ports: Ports, shop: Shop, phone: str) -> QuietNow:
    """Quiet hours for this subscriber right now, in their own time."""
    now = ports.clock.now()
    recipient = Recipient.of(phone, shop.settings.timezone)
    if not is_quiet(recipient, shop.settings.quiet_hours, now):
        return QuietNow(False, None)
    return QuietNow(True, next_open(recipient, shop.settings.quiet_hours, now))


def thread(ports: Ports, shop_id: str, phone: str, *, limit: int = 100, cursor: str | None = None) -> Thread:
    """The subscriber card, the whole history in time order, and replies waiting for quiet hours to end."""
    e164 = _phone(ports, phone)
    shop = ports.shops.get(shop_id)
    subscriber = ports.subscribers.get(shop_id, e164)
    if subscriber is None:
        raise NotFound(f"no conversation with {e164}", code="conversation_not_found")
    conversation = ports.inbox.get(shop_id, e164) or Conversation.start(
        shop_id,
        e164,
        subscriber.updated_at,
        opted_out=not subscriber.can_receive_marketing and subscriber.opted_out_at is not None,
    )
    return Thread(
        subscriber=subscriber,
        conversation=conversation,
        messages=ports.conversations.thread(shop_id, e164, limit=limit, cursor=cursor),
        scheduled=ports.replies.pending(shop_id, e164),
        quiet=quiet_now(ports, shop, e164),
    )


# --- merchant actions ---------------------------------------------------------------------------------


def resolve(ports: Ports, shop_id: str, phone: str) -> Conversation:
    """Close a conversation by hand."""
    return _manual(ports, shop_id, phone, lambda c: c.resolve(ports.clock.now()))


def unresolve(ports: Ports, shop_id: str, phone: str) -> Conversation:
    """Reopen a conversation by hand."""
    return _manual(ports, shop_id, phone, lambda c: c.unresolve(ports.clock.now()))


def _manual(ports: Ports, shop_id: str, phone: str, change: Callable[[Conversation], Conversation]) -> Conversation:
    e164 = _phone(ports, phone)
    if ports.subscribers.get(shop_id, e164) is None:
        raise NotFound(f"no conversation with {e164}", code="conversation_not_found")
    result = _update(ports, shop_id, e164, change)
    assert result is not None
    return result


def opt_out(ports: Ports, shop_id: str, phone: str) -> Conversation:
    """Unsubscribe from the Inbox: a consent event with the merchant as its source."""
    e164 = _phone(ports, phone)
    subscriber_service.opt_out(ports, shop_id, e164, source=ConsentSource.MERCHANT, text="Opted out from the Inbox")
    result = _update(ports, shop_id, e164, lambda c: c.opt_out(ports.clock.now()))
    assert result is not None
    return result


# --- replies ------------------------------------------------------------------------------------------


class QuietHoursConflict(Conflict):
    """The subscriber is in quiet hours; the merchant must choose send_now or schedule."""

    code = "quiet_hours"


def reply(ports: Ports, shop_id: str, phone: str, body: Mapping[str, Any]) -> Reply:
    """Send a reply now, or schedule it for the end of the subscriber's quiet hours (see QuietHoursChoice)."""
    if not isinstance(body, Mapping):
        raise InvalidInput("body must be a JSON object")
    unknown = set(body) - _REPLY_FIELDS
    if unknown:
        raise InvalidInput(f"unknown fields: {sorted(unknown)}", code="unknown_field", details={"fields": sorted(unknown)})
    e164 = _phone(ports, phone)
    text = compose_reply(body.get("text"), body.get("discount_code"))
    choice = parse_choice(body.get("quiet_hours"))
    media_url = body.get("image_url")
    if media_url is not None and not isinstance(media_url, str):
        raise InvalidInput("image_url must be an https URL", code="invalid_media_url")
    limit_ok = len(text) <= encoding.MAX_CHARACTERS if media_url else encoding.fits(text)
    if not limit_ok:
        raise InvalidInput("reply is too long for one message", code="message_too_long")
    shop = ports.shops.get(shop_id)
    subscriber = ports.subscribers.get(shop_id, e164)
    if subscriber is None:
        raise NotFound(f"no subscriber {e164}", code="subscriber_not_found")
    subscriber.require_active()
    if not shop.settings.sender_number:
        raise Conflict("the shop has no sender number yet", code="no_sender_number")
    quiet = quiet_now(ports, shop, e164)
    if quiet.quiet and choice is QuietHoursChoice.ASK:
        assert quiet.until is not None
        raise QuietHoursConflict(
            f"{e164} is in quiet hours until {quiet.until.isoformat()}; send_now or schedule",
            details={"opens_at": quiet.until.isoformat().replace("+00:00", "Z")},
        )
    media = ports.media.import_image(shop_id, media_url) if media_url else None
    now = ports.clock.now()
    scheduled = quiet.quiet and choice is QuietHoursChoice.SCHEDULE
    draft = Reply(
        shop_id=shop_id,
        phone=e164,
        reply_id="rep_" + secrets.token_hex(10),
        text=text,
        state=ReplyState.SCHEDULED,
        created_at=now,
        send_at=quiet.until if scheduled else None,
        media_url=media_url,
        media_s3_uri=media.s3_uri if media else None,
    )
    stored = ports.replies.create(draft)
    if scheduled:
        assert quiet.until is not None
        ports.schedules.at(
            reply_schedule_name(stored.reply_id),
            quiet.until.replace(tzinfo=None),
            "UTC",
            SendReply(shop_id, e164, stored.reply_id),
        )
        # A scheduled reply answers the conversation already: the merchant's work is done.
        _update(ports, shop_id, e164, lambda c: c.replied(now, text, started_at=now))
        return stored
    return _deliver(ports, shop, stored, started_at=now)


def _deliver(ports: Ports, shop: Shop, reply_: Reply, *, started_at: datetime) -> Reply:
    """Send under a one-time claim, record the outcome, and mark the conversation answered."""
    assert shop.settings.sender_number
    claim = f"reply#{reply_.reply_id}"
    if not ports.claims.claim(claim, ports.clock.now()):
        return reply_  # an earlier delivery of the same reply job took it
    sms = OutboundSms(
        shop_id=shop.shop_id,
        from_number=shop.settings.sender_number,
        to_number=reply_.phone,
        body=reply_.text,
        kind=MessageKind.REPLY,
        media_urls=(reply_.media_s3_uri,) if reply_.media_s3_uri else (),
        dedupe_key=claim,
    )
    try:
        receipt = ports.sms.send(sms)
    except ProviderThrottled:
        ports.claims.release(claim)  # definitely not sent: the next attempt may try again
        raise
    except (ConsentRequired, ProviderError) as exc:
        ports.replies.settle(_settled(reply_, ReplyState.FAILED, reason=exc.code))
        raise
    sent_at = ports.clock.now()
    settled = _settled(reply_, ReplyState.SENT, provider_message_id=receipt.provider_message_id)
    ports.replies.settle(settled)
    ports.conversations.append(
        ConversationMessage(
            shop_id=shop.shop_id,
            phone=reply_.phone,
            at=sent_at,
            message_id=reply_.reply_id,
            direction=Direction.OUTBOUND,
            body=reply_.text,
            kind=MessageKind.REPLY,
            media_urls=(reply_.media_url,) if reply_.media_url else (),
            provider_message_id=receipt.provider_message_id,
        )
    )
    _update(ports, shop.shop_id, reply_.phone, lambda c: c.replied(sent_at, reply_.text, started_at=started_at))
    return settled


def _settled(reply_: Reply, state: ReplyState, *, reason: str | None = None, provider_message_id: str | None = None) -> Reply:
    return replace(reply_, state=state, reason=reason, provider_message_id=provider_message_id)


def send_scheduled_reply(ports: Ports, job: SendReply) -> None:
    """A scheduled reply is due: cancelled if they opted out meanwhile, moved if still quiet, else sent."""
    stored = ports.replies.get(job.shop_id, job.phone, job.reply_id)
    if stored is None or stored.state is not ReplyState.SCHEDULED:
        return
    shop = ports.shops.get(job.shop_id)
    subscriber = ports.subscribers.get(job.shop_id, job.phone)
    if subscriber is None or not subscriber.can_receive_marketing:
        ports.replies.settle(_settled(stored, ReplyState.CANCELLED, reason="opted_out"))
        return
    quiet = quiet_now(ports, shop, job.phone)
    if quiet.quiet:
        # The window moved (settings changed) or the schedule fired early: wait for the new opening.
        assert quiet.until is not None
        ports.schedules.at(reply_schedule_name(stored.reply_id), quiet.until.replace(tzinfo=None), "UTC", job)
        return
    try:
        _deliver(ports, shop, stored, started_at=stored.created_at)
    except (ConsentRequired, ProviderError) as exc:
        if isinstance(exc, ProviderThrottled):
            raise  # the job is retried by the queue
        logger.warning("scheduled reply failed", extra={"reply_id": stored.reply_id, "code": exc.code})
