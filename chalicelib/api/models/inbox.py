"""Inbox routes: conversations, a thread, replies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import StringConstraints

from chalicelib.api.models.common import Body, Limit, Out, Paged, lines, token
from chalicelib.domain import inbox as domain
from chalicelib.domain.encoding import MAX_CHARACTERS
from chalicelib.domain.inbox import ConversationStatus, QuietHoursChoice, ReplyState
from chalicelib.domain.media import MAX_MEDIA_URL_LENGTH
from chalicelib.domain.messages import ConversationMessage, Direction, MessageKind
from chalicelib.domain.subscribers import Source, SubscriberStatus
from chalicelib.services import inbox as service

DiscountCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]


class ReplyCreate(Body):
    """A one-to-one reply; ``quiet_hours`` says what to do if the subscriber is in quiet hours now."""

    error_codes: ClassVar[dict[str, str]] = {"text:string_too_long": "message_too_long"}

    text: Annotated[str, lines(MAX_CHARACTERS)]
    media_url: Annotated[str, token(MAX_MEDIA_URL_LENGTH)] | None = None
    discount_code: DiscountCode | None = None
    quiet_hours: QuietHoursChoice = QuietHoursChoice.ASK

    def command(self) -> service.ReplyRequest:
        """The service's command."""
        return service.ReplyRequest(
            text=self.text, media_url=self.media_url, discount_code=self.discount_code, quiet_hours=self.quiet_hours
        )


class InboxQuery(Paged):
    """Conversations in one status, most recent activity first."""

    status: ConversationStatus = ConversationStatus.UNRESOLVED


class ThreadQuery(Paged):
    """A page of a thread, oldest first."""

    limit: Limit = 100


class Conversation(Out):
    """A row of the Inbox list."""

    phone: str
    status: ConversationStatus
    last_activity_at: datetime
    last_inbound_at: datetime | None
    last_message: str
    last_direction: Literal["inbound", "outbound"]

    @classmethod
    def of(cls, c: domain.Conversation) -> Conversation:
        """Converter from the domain."""
        return cls(
            phone=c.phone,
            status=c.status,
            last_activity_at=c.last_activity_at,
            last_inbound_at=c.last_inbound_at,
            last_message=c.last_message,
            last_direction="outbound" if c.last_direction == "outbound" else "inbound",
        )


class ConversationPage(Out):
    """A page of conversations."""

    items: list[Conversation]
    next_cursor: str | None


class UnresolvedCount(Out):
    """The red dot."""

    unresolved: int


class Reply(Out):
    """A one-to-one reply and where it stands; ``media_url`` is the image link it carries."""

    id: str
    phone: str
    text: str
    state: ReplyState
    created_at: datetime
    send_at: datetime | None
    media_url: str | None
    reason: str | None

    @classmethod
    def of(cls, r: domain.Reply) -> Reply:
        """Converter from the domain."""
        return cls(
            id=r.reply_id,
            phone=r.phone,
            text=r.text,
            state=r.state,
            created_at=r.created_at,
            send_at=r.send_at,
            media_url=r.media_url,
            reason=r.reason,
        )


class Message(Out):
    """One line of a thread."""

    id: str
    at: datetime
    direction: Direction
    kind: MessageKind | None
    body: str
    media_urls: list[str]
    campaign_id: str | None

    @classmethod
    def of(cls, m: ConversationMessage) -> Message:
        """Converter from the domain."""
        return cls(
            id=m.message_id,
            at=m.at,
            direction=m.direction,
            kind=m.kind,
            body=m.body,
            media_urls=list(m.media_urls),
            campaign_id=m.campaign_id,
        )


class ThreadSubscriber(Out):
    """The subscriber card beside a thread."""

    phone: str
    name: str | None
    profile_url: str | None
    source: Source
    consent: SubscriberStatus
    quiet_hours_now: bool
    quiet_until: datetime | None


class Thread(Out):
    """The conversation view: subscriber card, status, history oldest first, replies waiting for quiet hours."""

    subscriber: ThreadSubscriber
    conversation: Conversation
    messages: list[Message]
    next_cursor: str | None
    scheduled_replies: list[Reply]

    @classmethod
    def of(cls, t: service.Thread) -> Thread:
        """Converter from the service's result."""
        s = t.subscriber
        return cls(
            subscriber=ThreadSubscriber(
                phone=s.phone,
                name=s.name,
                profile_url=s.profile_url,
                source=s.source,
                consent=s.status,
                quiet_hours_now=t.quiet.quiet,
                quiet_until=t.quiet.until,
            ),
            conversation=Conversation.of(t.conversation),
            messages=[Message.of(m) for m in t.messages.items],
            next_cursor=t.messages.cursor,
            scheduled_replies=[Reply.of(r) for r in t.scheduled],
        )
