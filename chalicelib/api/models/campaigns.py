"""Campaign routes: create, edit, switch on/off, preview, and the campaign with its results."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from chalicelib.api.models.common import Body, Out, Paged, line, lines, partial, token
from chalicelib.domain import campaigns as domain
from chalicelib.domain import pricing
from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.encoding import Encoding
from chalicelib.domain.media import MAX_MEDIA_URL_LENGTH
from chalicelib.domain.templates import MAX_MESSAGE_CHARACTERS
from chalicelib.services import campaigns as service

Name = Annotated[str, line(100)]
Message = Annotated[str, lines(MAX_MESSAGE_CHARACTERS)]
SegmentId = Annotated[str, line(100)]
# "now" or a store-local date-time such as 2026-12-01T10:00 (the domain parses it)
SendAt = Annotated[str, line(40)]
MediaUrl = Annotated[str, token(MAX_MEDIA_URL_LENGTH)]
DiscountCode = Annotated[str, token(50)]  # the domain checks its letters (domain.campaigns.DISCOUNT_CODE)

_CODES = {"segment_id": "unknown_segment", "message:string_too_long": "message_too_long"}


class CampaignCreate(Body):
    """A new campaign. ``send_at`` is required unless ``draft`` is true; ``media_url`` makes it an MMS."""

    error_codes: ClassVar[dict[str, str]] = _CODES

    name: Name
    message: Message
    segment_id: SegmentId
    send_at: SendAt = None  # type: ignore[assignment]  # absent is allowed, null is not
    draft: bool = False
    media_url: MediaUrl | None = None
    discount_code: DiscountCode | None = None

    def command(self) -> service.NewCampaign:
        """The service's command."""
        return service.NewCampaign(
            name=self.name,
            message=self.message,
            segment_id=self.segment_id,
            send_at=self.send_at,
            draft=self.draft,
            media_url=self.media_url,
            discount_code=self.discount_code,
        )


# mypy sees the create model (same fields and types); at run time every field is optional.
if TYPE_CHECKING:
    CampaignPatch = CampaignCreate
else:
    CampaignPatch = partial(
        CampaignCreate, "CampaignPatch", "Any fields of a Draft or Scheduled campaign; media_url null removes the image."
    )


def edit_of(body: CampaignCreate) -> service.CampaignEdit:
    """The service's edit command: the fields sent, and their values."""
    return service.CampaignEdit(given=frozenset(body.model_fields_set), **body.model_dump(exclude={"error_codes"}))


class PreviewRequest(Body):
    """What a campaign would be; nothing is saved."""

    error_codes: ClassVar[dict[str, str]] = _CODES

    message: Message
    segment_id: SegmentId
    send_at: SendAt = "now"
    media_url: MediaUrl | None = None
    discount_code: DiscountCode | None = None

    def command(self) -> service.PreviewCampaign:
        """The service's command."""
        return service.PreviewCampaign(
            message=self.message,
            segment_id=self.segment_id,
            send_at=self.send_at,
            media_url=self.media_url,
            discount_code=self.discount_code,
        )


class ActiveSwitch(Body):
    """The on/off switch of a campaign with a date."""

    active: bool


class CampaignQuery(Paged):
    """A page of campaigns, newest first."""


class Money(Out):
    """An amount in minor units (cents) of ``currency``."""

    amount: int
    currency: str | None


class Stats(Out):
    """What a campaign did and earned; ``parts`` counts billed SMS parts. ``failed`` counts messages that could
    not be handed to the carrier; ``delivered`` and ``undelivered`` what carriers reported for the sent ones
    (receipts can take up to 72 hours, so they trail ``sent``)."""

    planned: int
    sent: int
    skipped: int
    failed: int
    deferred: int
    parts: int
    delivered: int
    undelivered: int
    clicks: int
    unique_clicks: int
    orders: int
    revenue: Money

    @classmethod
    def of(cls, s: domain.CampaignStats) -> Stats:
        """Converter from the domain."""
        return cls(
            planned=s.planned,
            sent=s.sent,
            skipped=s.skipped,
            failed=s.failed,
            deferred=s.deferred,
            parts=s.parts,
            delivered=s.delivered,
            undelivered=s.undelivered,
            clicks=s.clicks,
            unique_clicks=s.unique_clicks,
            orders=s.orders,
            revenue=Money(amount=s.revenue, currency=s.currency),
        )


class Campaign(Out):
    """A campaign as the API shows it."""

    id: str
    name: str
    message: str
    media_url: str | None  # the merchant's link; the stored s3:// copy is an internal detail of sending
    discount_code: str | None
    channel: Literal["sms", "mms"]
    segment_id: str
    send_at: str | None  # "now", or the store-local date-time
    send_at_utc: datetime | None
    timezone: str
    status: CampaignStatus
    active: bool
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    ended_early: bool
    not_sent: int
    stats: Stats

    @classmethod
    def of(cls, c: domain.Campaign) -> Campaign:
        """Converter from the domain."""
        return cls(
            id=c.campaign_id,
            name=c.name,
            message=c.message,
            media_url=c.media_url,
            discount_code=c.discount_code,
            channel="mms" if c.is_mms else "sms",
            segment_id=c.segment_id,
            send_at="now" if c.send_now else (c.send_at_local.isoformat() if c.send_at_local else None),
            send_at_utc=c.send_at_utc,
            timezone=c.timezone,
            status=c.status,
            active=c.active,
            created_at=c.created_at,
            updated_at=c.updated_at,
            started_at=c.started_at,
            completed_at=c.completed_at,
            ended_early=c.ended_early,
            not_sent=c.not_sent if c.ended_early else 0,
            stats=Stats.of(c.stats),
        )


class CampaignPage(Out):
    """A page of campaigns and the shop's totals over every campaign."""

    items: list[Campaign]
    next_cursor: str | None
    totals: Stats


class Wave(Out):
    """Recipients released together when their quiet hours end."""

    release_at: datetime
    recipients: int


class Cost(Out):
    """An estimated cost in minor units, and the billed parts it counts."""

    amount: int
    currency: str
    parts: int

    @classmethod
    def of(cls, c: pricing.Cost) -> Cost:
        """Converter from the domain's estimate."""
        return cls(amount=c.amount, currency=c.currency, parts=c.parts)


class Preview(Out):
    """Size, audience, quiet-hours waves and estimated cost; ``parts`` is billed parts per recipient with a long
    plain name, ``max_parts`` the most any recipient can cost whatever their name (an accented or emoji name
    turns the text to UCS-2: 70 characters a part instead of 160), and ``max_cost`` the cost at that worst."""

    characters: int
    encoding: Encoding
    channel: Literal["sms", "mms"]
    parts: int
    max_parts: int
    recipients: int
    deferred: int
    waves: list[Wave]
    estimated_cost: Cost
    max_cost: Cost

    @classmethod
    def of(cls, p: service.Preview) -> Preview:
        """Converter from the service's result."""
        return cls(
            characters=p.shape.characters,
            encoding=p.shape.encoding,
            channel="mms" if p.channel == "mms" else "sms",
            parts=p.parts,
            max_parts=p.max_parts,
            recipients=p.recipients,
            deferred=p.deferred,
            waves=[Wave(release_at=w.release_at, recipients=w.recipients) for w in p.waves],
            estimated_cost=Cost.of(p.estimated_cost),
            max_cost=Cost.of(p.max_cost or p.estimated_cost),
        )
