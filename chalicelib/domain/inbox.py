"""The Inbox: one conversation per shop and subscriber, with a status the merchant works through.

Unresolved: the subscriber wrote and nobody answered yet. Resolved: a reply went out (or was scheduled),
or the merchant closed it. Opted out: the subscriber is unsubscribed, whatever else happened. A new
inbound message reopens a resolved conversation; a reply only resolves what it could have answered, so a
message that arrives while a reply is on its way keeps the conversation open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from chalicelib.domain.errors import Conflict, InvalidInput

PREVIEW_CHARACTERS = 120
_DISCOUNT_CODE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class ConversationStatus(str, Enum):
    """Where a conversation stands for the merchant."""

    UNRESOLVED = "unresolved"
    RESOLVED = "resolved"
    OPTED_OUT = "opted_out"


@dataclass(frozen=True)
class Conversation:
    """A subscriber's thread as the Inbox lists it (the lines themselves live in Conversations)."""

    shop_id: str
    phone: str
    needs_reply: bool
    opted_out: bool
    last_activity_at: datetime
    last_inbound_at: datetime | None = None
    last_message: str = ""
    last_direction: str = "inbound"
    version: int = 0
    # The shop's number the subscriber last texted: Inbox replies go from it (while it is still one of the shop's
    # numbers), so a conversation stays on the number the subscriber uses. A reply to a campaign texts the number
    # the campaign came from, so this follows campaigns too without the send path writing conversations.
    number: str | None = None

    @property
    def status(self) -> ConversationStatus:
        if self.opted_out:
            return ConversationStatus.OPTED_OUT
        return ConversationStatus.UNRESOLVED if self.needs_reply else ConversationStatus.RESOLVED

    @property
    def counts_as_unresolved(self) -> bool:
        """What the red dot counts."""
        return self.status is ConversationStatus.UNRESOLVED

    @classmethod
    def start(cls, shop_id: str, phone: str, at: datetime, *, opted_out: bool = False) -> Conversation:
        """A conversation nobody has written in yet."""
        return cls(shop_id=shop_id, phone=phone, needs_reply=False, opted_out=opted_out, last_activity_at=at)

    def received(self, at: datetime, body: str, *, needs_reply: bool = True, number: str | None = None) -> Conversation:
        """A subscriber's message (to the shop's ``number``): the conversation needs a reply (again). Older news
        changes nothing. ``needs_reply`` False records a message that is answered automatically (a STOP)."""
        if self.last_inbound_at is not None and at <= self.last_inbound_at:
            return self  # a redelivery, or a message that arrived out of order behind a newer one
        return replace(
            self,
            needs_reply=self.needs_reply or needs_reply,
            last_inbound_at=at,
            last_activity_at=max(at, self.last_activity_at),
            last_message=preview(body),
            last_direction="inbound",
            number=number or self.number,
        )

    def replied(self, at: datetime, body: str, *, started_at: datetime) -> Conversation:
        """A reply went out (or was scheduled). It resolves only what was there when the merchant began it."""
        answered = self.last_inbound_at is None or self.last_inbound_at <= started_at
        return replace(
            self,
            needs_reply=self.needs_reply and not answered,
            last_activity_at=max(at, self.last_activity_at),
            last_message=preview(body),
            last_direction="outbound",
        )

    def resolve(self, at: datetime) -> Conversation:
        """The merchant closes it by hand."""
        if self.opted_out:
            raise Conflict("an opted-out conversation cannot be resolved or reopened", code="illegal_transition")
        return replace(self, needs_reply=False)

    def unresolve(self, at: datetime) -> Conversation:
        """The merchant reopens it by hand."""
        if self.opted_out:
            raise Conflict("an opted-out conversation cannot be resolved or reopened", code="illegal_transition")
        return replace(self, needs_reply=True)

    def opt_out(self, at: datetime) -> Conversation:
        """The subscriber is unsubscribed (STOP, or the merchant)."""
        return replace(self, opted_out=True, last_activity_at=max(at, self.last_activity_at))

    def opt_in(self, at: datetime) -> Conversation:
        """The subscriber came back (START); the conversation shows what it needed before."""
        return replace(self, opted_out=False, last_activity_at=max(at, self.last_activity_at))


class QuietHoursChoice(str, Enum):
    """What to do with a reply when the subscriber is in quiet hours."""

    ASK = "ask"  # answer 409 with when the window opens
    SEND_NOW = "send_now"  # the merchant's explicit override, one-to-one replies only
    SCHEDULE = "schedule"  # send when the window opens, unless they opt out first


class ReplyState(str, Enum):
    """Where a reply stands."""

    SCHEDULED = "scheduled"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class Reply:
    """A one-to-one reply from the Inbox."""

    shop_id: str
    phone: str
    reply_id: str
    text: str
    state: ReplyState
    created_at: datetime
    send_at: datetime | None = None  # for scheduled replies
    media_url: str | None = None  # the merchant's https image
    media_s3_uri: str | None = None  # where the provider takes it from
    reason: str | None = None
    provider_message_id: str | None = None
    settled_at: datetime | None = None  # when it was sent, cancelled or failed (the thread line's time)


def preview(body: str) -> str:
    """The first line of a message, short enough for a list row."""
    flat = " ".join(body.split())
    return flat if len(flat) <= PREVIEW_CHARACTERS else flat[: PREVIEW_CHARACTERS - 1] + "…"


def compose_reply(text: object, discount_code: object) -> str:
    """The reply text with an optional discount code appended; InvalidInput for bad parts."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("text must be non-empty", code="invalid_text")
    body = text.strip()
    if discount_code is not None:
        if not isinstance(discount_code, str) or not _DISCOUNT_CODE.match(discount_code):
            raise InvalidInput("discount_code must be 1-40 letters, digits, - or _", code="invalid_discount_code")
        body = f"{body}\nUse code {discount_code.upper()} at checkout."
    return body


def parse_choice(value: object) -> QuietHoursChoice:
    """The quiet_hours field of a reply request (default: ask)."""
    if value is None:
        return QuietHoursChoice.ASK
    try:
        return QuietHoursChoice(value)
    except ValueError as exc:
        raise InvalidInput("quiet_hours must be ask, send_now or schedule", code="invalid_quiet_hours") from exc
