"""Inbox use cases: conversations that follow inbound messages, replies that respect quiet hours, statuses."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from aws_lambda_powertools import Logger

from chalicelib.domain import encoding
from chalicelib.domain import links as domain_links
from chalicelib.domain.errors import (
    Conflict,
    ConsentRequired,
    InvalidInput,
    NotFound,
    ProviderError,
    ProviderRejected,
    ProviderThrottled,
    SmscastError,
)
from chalicelib.domain.inbound import InboxEvent
from chalicelib.domain.inbox import (
    Conversation,
    ConversationStatus,
    QuietHoursChoice,
    Reply,
    ReplyState,
    compose_reply,
)
from chalicelib.domain.jobs import SendReply, reply_schedule_name
from chalicelib.domain.messages import ConversationMessage, Direction, MessageKind, OutboundSms
from chalicelib.domain.phones import normalize_phone
from chalicelib.domain.quiet_hours import Recipient, is_quiet, next_open
from chalicelib.domain.shops import Shop
from chalicelib.domain.subscribers import ConsentSource, Subscriber
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services import links, outbound
from chalicelib.services import subscribers as subscriber_service
from chalicelib.services.links import LinkOwner
from chalicelib.services.optimistic import retry_on_conflict
from chalicelib.services.outbound import Delivered, Delivery, OnceClaim
from chalicelib.services.ports import Page, Ports

logger = Logger(service=SERVICE, child=True, level=INHERIT)

_MAX_ATTEMPTS = 8  # a conversation takes writes from inbound SMS, replies and the merchant's clicks at once


@dataclass(frozen=True)
class ReplyRequest:
    """A one-to-one reply the merchant wrote: text, an optional image link and discount code, and what to
    do if the subscriber is in quiet hours now."""

    text: str
    media_url: str | None = None
    discount_code: str | None = None
    quiet_hours: QuietHoursChoice = QuietHoursChoice.ASK


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


def on_inbound(
    ports: Ports, shop_id: str, phone: str, *, at: datetime, body: str, event: InboxEvent, number: str | None = None
) -> None:
    """Keep the conversation in step with an inbound SMS (to the shop's ``number``)."""
    if event is InboxEvent.MESSAGE:
        _update(ports, shop_id, phone, lambda c: c.received(at, body, number=number))
    elif event is InboxEvent.OPT_OUT:
        # A STOP is an answer to marketing too: it shows in the Inbox under Opted out. It needs no reply
        # from the merchant (the STOP confirmation answered it), so it does not reopen the conversation.
        _update(ports, shop_id, phone, lambda c: c.received(at, body, needs_reply=False, number=number).opt_out(at))
    elif event is InboxEvent.OPT_IN:
        _update(ports, shop_id, phone, lambda c: c.opt_in(at), create=False)


# --- reading ------------------------------------------------------------------------------------------


def list_conversations(
    ports: Ports, shop_id: str, *, status: ConversationStatus, limit: int, cursor: str | None
) -> Page[Conversation]:
    """Conversations in one status, most recent activity first."""
    return ports.inbox.page(shop_id, status, limit=limit, cursor=cursor)


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


def reply(ports: Ports, shop_id: str, phone: str, request: ReplyRequest, *, request_key: str | None = None) -> Reply:
    """Send a reply now, or schedule it for the end of the subscriber's quiet hours (see QuietHoursChoice).

    ``request_key`` (the request's Idempotency-Key) names the reply, so a retry of a request that failed after
    the reply was stored finishes that reply instead of sending another one."""
    e164 = _phone(ports, phone)
    text = compose_reply(request.text, request.discount_code)
    choice = request.quiet_hours
    media_url = request.media_url
    # Measured as it will go out: every link as the subscriber's short link.
    sent_form = domain_links.shorten(text, ports.link_base, lambda n, url: domain_links.example_code())
    limit_ok = len(sent_form) <= encoding.MAX_CHARACTERS if media_url else encoding.fits(sent_form)
    if not limit_ok:
        raise InvalidInput("reply is too long for one message", code="message_too_long")
    shop = ports.shops.get(shop_id)
    shop.require_installed()
    reply_id = "rep_" + secrets.token_hex(10)
    if request_key is not None:
        reply_id = reply_id_for(shop_id, e164, request_key, text, media_url)
        earlier = ports.replies.get(shop_id, e164, reply_id)
        if earlier is not None:
            # Checked before consent and quiet hours: what happened to the stored reply is the answer now.
            return _resume(ports, shop, earlier)
    subscriber = ports.subscribers.get(shop_id, e164)
    if subscriber is None:
        raise NotFound(f"no subscriber {e164}", code="subscriber_not_found")
    subscriber.require_active()
    if shop.primary is None:
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
        reply_id=reply_id,
        text=text,
        state=ReplyState.SCHEDULED,
        created_at=now,
        send_at=quiet.until if scheduled else None,
        media_url=media_url,
        media_s3_uri=media.s3_uri if media else None,
    )
    stored = ports.replies.create(draft)
    if scheduled:
        return _arm(ports, stored)
    return _send_now(ports, shop, stored, resumable=request_key is not None)


def reply_id_for(shop_id: str, phone: str, request_key: str, text: str, media_url: str | None) -> str:
    """The id of the reply a keyed request makes: the same request always names the same reply."""
    # The text is part of it, so a key reused with another reply after 24 hours names a new reply.
    seed = "\n".join((shop_id, phone, request_key, text, media_url or ""))
    return "rep_" + hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def _arm(ports: Ports, stored: Reply) -> Reply:
    assert stored.send_at is not None
    ports.schedules.at(
        reply_schedule_name(stored.reply_id),
        stored.send_at.replace(tzinfo=None),
        "UTC",
        SendReply(stored.shop_id, stored.phone, stored.reply_id),
    )
    # A scheduled reply answers the conversation already: the merchant's work is done.
    at = stored.created_at
    _update(ports, stored.shop_id, stored.phone, lambda c: c.replied(at, stored.text, started_at=at))
    return stored


def _resume(ports: Ports, shop: Shop, earlier: Reply) -> Reply:
    """Finish a reply whose request failed part way: never send it again, redo only the steps after the send."""
    if earlier.state is ReplyState.SENT:
        sent_at = earlier.settled_at or earlier.created_at
        # Both steps are idempotent: the line is kept once, and the conversation ignores news it has.
        ports.conversations.append(replace(_line(earlier), at=sent_at, provider_message_id=earlier.provider_message_id))
        _update(ports, shop.shop_id, earlier.phone, lambda c: c.replied(sent_at, earlier.text, started_at=earlier.created_at))
        return earlier
    if earlier.state is ReplyState.FAILED:
        raise _failure(earlier)
    if earlier.state is ReplyState.CANCELLED:
        return earlier
    if earlier.send_at is not None:
        return _arm(ports, earlier)
    return _send_now(ports, shop, earlier, resumable=True)


def _send_now(ports: Ports, shop: Shop, stored: Reply, *, resumable: bool) -> Reply:
    """Deliver a reply the merchant is waiting for; a provider error is raised for the API to map."""
    delivered = _deliver(ports, shop, stored)
    if delivered.outcome is Delivery.SENT:
        return _answered(ports, stored, delivered, started_at=stored.created_at)
    if delivered.outcome is Delivery.TAKEN:
        # Only an earlier attempt of this very request can hold the claim (the request key is held while
        # one runs), and it stopped before recording what the provider said: it may have gone out.
        interrupted = _settled(stored, ReplyState.FAILED, reason=_INTERRUPTED, at=delivered.at)
        if not ports.replies.settle(interrupted):
            current = ports.replies.get(stored.shop_id, stored.phone, stored.reply_id)
            if current is not None and current.state is not ReplyState.SCHEDULED:
                return _resume(ports, shop, current)  # it did get recorded after all: answer with that
        raise _failure(interrupted)
    assert delivered.error is not None
    if delivered.outcome is Delivery.THROTTLED and not resumable:
        # Nothing was sent and no retry can name this reply again: it must not wait as "scheduled" forever.
        ports.replies.settle(_settled(stored, ReplyState.FAILED, reason=delivered.error.code, at=delivered.at))
    raise delivered.error


class ReplyClaim(OnceClaim):
    """A reply's one-time claim; its outcome settles the reply row."""

    def __init__(self, ports: Ports, reply_: Reply) -> None:
        super().__init__(ports.claims, f"reply#{reply_.reply_id}")
        self.replies = ports.replies
        self.reply = reply_

    def record(self, delivered: Delivered) -> bool:
        """Scheduled -> sent (with the provider's id) or failed (with the provider's code)."""
        if delivered.outcome is Delivery.SENT:
            assert delivered.receipt is not None
            return self.replies.settle(_sent(self.reply, delivered))
        reason = delivered.error.code if delivered.error is not None else delivered.outcome.value
        return self.replies.settle(_settled(self.reply, ReplyState.FAILED, reason=reason, at=delivered.at))


def reply_from(shop: Shop, conversation: Conversation | None) -> str | None:
    """The number a reply goes from: the one the subscriber last texted or got a reply from, while it is still
    one of the shop's numbers (a pool number that was unassigned is never used), else the primary."""
    if conversation is not None and shop.owns(conversation.number):
        return conversation.number
    return shop.primary


def _deliver(ports: Ports, shop: Shop, reply_: Reply) -> Delivered:
    """The one send path (services/outbound.py) with the reply's claim and thread line."""
    from_number = reply_from(shop, ports.inbox.get(shop.shop_id, reply_.phone))
    if from_number is None:
        raise Conflict("the shop has no sender number any more", code="no_sender_number")
    claim = ReplyClaim(ports, reply_)
    sms = OutboundSms(
        shop_id=shop.shop_id,
        from_number=from_number,
        to_number=reply_.phone,
        # each link in the reply becomes the subscriber's short link, stored before the claim
        body=links.shorten(ports, reply_.text, LinkOwner(shop.shop_id, reply_.phone, reply_id=reply_.reply_id)),
        kind=MessageKind.REPLY,
        media_urls=(reply_.media_s3_uri,) if reply_.media_s3_uri else (),
        dedupe_key=claim.key,
    )
    return outbound.deliver(ports, sms, claim, _line(reply_))


def _line(reply_: Reply) -> ConversationMessage:
    return ConversationMessage(
        shop_id=reply_.shop_id,
        phone=reply_.phone,
        at=reply_.settled_at or reply_.created_at,
        message_id=reply_.reply_id,
        direction=Direction.OUTBOUND,
        body=reply_.text,
        kind=MessageKind.REPLY,
        media_urls=(reply_.media_url,) if reply_.media_url else (),
    )


def _answered(ports: Ports, reply_: Reply, delivered: Delivered, *, started_at: datetime) -> Reply:
    sent_at = delivered.at
    _update(ports, reply_.shop_id, reply_.phone, lambda c: c.replied(sent_at, reply_.text, started_at=started_at))
    return _sent(reply_, delivered)


def _sent(reply_: Reply, delivered: Delivered) -> Reply:
    assert delivered.receipt is not None
    return _settled(reply_, ReplyState.SENT, provider_message_id=delivered.receipt.provider_message_id, at=delivered.at)


def _settled(
    reply_: Reply, state: ReplyState, *, at: datetime, reason: str | None = None, provider_message_id: str | None = None
) -> Reply:
    return replace(reply_, state=state, reason=reason, provider_message_id=provider_message_id, settled_at=at)


_INTERRUPTED = "interrupted"
_FAILURES: dict[str, type[SmscastError]] = {
    ConsentRequired.code: ConsentRequired,
    ProviderRejected.code: ProviderRejected,
    ProviderThrottled.code: ProviderThrottled,
}


def _failure(failed: Reply) -> SmscastError:
    """The error a failed reply answers with again (the same class the provider raised the first time)."""
    reason = failed.reason or ProviderError.code
    if reason == _INTERRUPTED:
        return ProviderError(
            f"reply {failed.reply_id} was interrupted after it was handed to the provider; it may have gone out "
            "and is not sent again",
            code="reply_interrupted",
        )
    cls = _FAILURES.get(reason, ProviderError)
    return cls(f"reply {failed.reply_id} failed ({reason}); it is not sent again", code=reason)


def send_scheduled_reply(ports: Ports, job: SendReply) -> None:
    """A scheduled reply is due: cancelled if they opted out meanwhile, moved if still quiet, else sent."""
    stored = ports.replies.get(job.shop_id, job.phone, job.reply_id)
    if stored is None or stored.state is not ReplyState.SCHEDULED:
        return
    shop = ports.shops.get(job.shop_id)
    if not shop.installed:
        ports.replies.settle(_settled(stored, ReplyState.CANCELLED, reason="shop_uninstalled", at=ports.clock.now()))
        return
    subscriber = ports.subscribers.get(job.shop_id, job.phone)
    if subscriber is None or not subscriber.can_receive_marketing:
        ports.replies.settle(_settled(stored, ReplyState.CANCELLED, reason="opted_out", at=ports.clock.now()))
        return
    quiet = quiet_now(ports, shop, job.phone)
    if quiet.quiet:
        # The window moved (settings changed) or the schedule fired early: wait for the new opening.
        assert quiet.until is not None
        ports.schedules.at(reply_schedule_name(stored.reply_id), quiet.until.replace(tzinfo=None), "UTC", job)
        return
    delivered = _deliver(ports, shop, stored)
    if delivered.outcome is Delivery.SENT:
        _answered(ports, stored, delivered, started_at=stored.created_at)
    elif delivered.outcome is Delivery.THROTTLED:
        assert delivered.error is not None
        raise delivered.error  # the claim is free again; the job queue retries it later
    elif delivered.error is not None:
        logger.warning("scheduled reply failed", extra={"reply_id": stored.reply_id, "code": delivered.error.code})
    # TAKEN: another delivery of this job holds the claim (it is sending now, or died after claiming): once only.
