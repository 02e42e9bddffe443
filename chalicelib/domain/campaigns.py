"""Campaigns: what a merchant sends to a segment, and the strict life it lives.

Draft -> Scheduled -> In Progress -> Completed, with Draft <-> Scheduled by the on/off switch and
Draft -> In Progress for Send Now. Only Draft and Scheduled may be edited or deleted; only In Progress may
be ended. Every transition is a method here that refuses an illegal move.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.errors import Conflict, InvalidInput

SEND_NOW = "now"
# What a Shopify discount code may look like here: no spaces, so it survives inside a message.
DISCOUNT_CODE = re.compile(r"[A-Za-z0-9_-]{1,50}")
MIN_LEAD = timedelta(minutes=1)  # a custom date must be at least this far ahead when saved
MAX_LEAD = timedelta(days=365)


class CampaignStatus(str, Enum):
    """Where a campaign is in its life."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@dataclass(frozen=True)
class CampaignStats:
    """What the campaign did and earned; counters only ever grow."""

    planned: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0  # waiting for their quiet hours to end (also counted again when finally done)
    parts: int = 0  # SMS parts billed (an MMS is one)
    # What carriers reported for the sent ones (receipts may take up to 72 hours, so these trail ``sent``).
    delivered: int = 0
    undelivered: int = 0
    clicks: int = 0
    unique_clicks: int = 0  # recipients who clicked at least once
    orders: int = 0
    revenue: int = 0  # minor units of ``currency``
    currency: str | None = None

    @property
    def done(self) -> int:
        """Recipients with a final outcome."""
        return self.sent + self.skipped + self.failed


@dataclass(frozen=True)
class Campaign:
    """A one-off campaign of one shop."""

    shop_id: str
    campaign_id: str
    name: str
    message: str
    segment_id: str
    send_now: bool
    send_at_local: datetime | None  # naive store-local wall time, for custom dates
    timezone: str  # the store timezone the date was given in
    status: CampaignStatus
    created_at: datetime
    updated_at: datetime
    media_url: str | None = None  # the merchant's https link to the image (MMS), as given
    media_s3_uri: str | None = None  # the stored copy End User Messaging sends (s3://bucket/key)
    discount_code: str | None = None  # orders using it belong to this campaign; {discount_code} in the message
    started_at: datetime | None = None
    audience_rule: dict[str, Any] | None = None  # the segment's rule, frozen when the campaign starts
    plan_page: int = 0  # next page the planner will read (checkpoint)
    plan_cursor: str | None = None  # where that page starts
    planning_done: bool = False
    completed_at: datetime | None = None
    ended_early: bool = False
    stats: CampaignStats = field(default_factory=CampaignStats)
    version: int = 0

    @property
    def send_at_utc(self) -> datetime | None:
        """The custom date as an instant."""
        if self.send_at_local is None:
            return None
        return local_instant(self.send_at_local, self.timezone)

    @property
    def is_mms(self) -> bool:
        """The campaign carries an image, so it goes out as MMS."""
        return self.media_s3_uri is not None

    @property
    def editable(self) -> bool:
        """Draft and Scheduled campaigns may change or be deleted."""
        return self.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)

    @property
    def active(self) -> bool:
        """The on/off switch: on means it will go (or went) out."""
        return self.status is not CampaignStatus.DRAFT

    @property
    def not_sent(self) -> int:
        """Planned recipients that never got the message (ended early, skipped or failed)."""
        return max(self.stats.planned - self.stats.sent, 0)

    def _refuse(self, action: str) -> Conflict:
        return Conflict(
            f"cannot {action} a {self.status.value} campaign",
            code="illegal_transition",
            details={"status": self.status.value, "action": action},
        )

    def require_editable(self, action: str) -> None:
        """Raise unless the campaign is Draft or Scheduled."""
        if not self.editable:
            raise self._refuse(action)

    def schedule(self, at: datetime) -> Campaign:
        """Draft -> Scheduled (switch on, or saved as not-a-draft with a custom date)."""
        if self.status is not CampaignStatus.DRAFT:
            raise self._refuse("schedule")
        if self.send_now:
            raise Conflict("a Send Now campaign has no schedule to switch on", code="send_now_campaign")
        return replace(self, status=CampaignStatus.SCHEDULED, updated_at=at)

    def unschedule(self, at: datetime) -> Campaign:
        """Scheduled -> Draft (switch off)."""
        if self.status is not CampaignStatus.SCHEDULED:
            raise self._refuse("switch off")
        return replace(self, status=CampaignStatus.DRAFT, updated_at=at)

    def start(self, at: datetime, audience_rule: dict[str, Any]) -> Campaign:
        """Scheduled (its time came) or Draft (Send Now) -> In Progress, with the audience frozen."""
        if self.status not in (CampaignStatus.SCHEDULED, CampaignStatus.DRAFT):
            raise self._refuse("start")
        if self.status is CampaignStatus.DRAFT and not self.send_now:
            # A dated campaign in Draft was switched off: a schedule firing that slipped through must not send it.
            raise self._refuse("start")
        return replace(self, status=CampaignStatus.IN_PROGRESS, started_at=at, audience_rule=dict(audience_rule), updated_at=at)

    def end(self, at: datetime) -> Campaign:
        """In Progress -> Completed by the merchant: nothing further is sent."""
        if self.status is not CampaignStatus.IN_PROGRESS:
            raise self._refuse("end")
        return replace(self, status=CampaignStatus.COMPLETED, completed_at=at, ended_early=True, updated_at=at)

    def complete(self, at: datetime) -> Campaign:
        """In Progress -> Completed when every planned recipient has an outcome."""
        if self.status is not CampaignStatus.IN_PROGRESS:
            raise self._refuse("complete")
        if not (self.planning_done and self.stats.done >= self.stats.planned):
            raise Conflict("recipients are still outstanding", code="not_finished")
        return replace(self, status=CampaignStatus.COMPLETED, completed_at=at, updated_at=at)


@dataclass(frozen=True)
class PagePlan:
    """One planning page as it was first read: the recipients it queues and where the next page starts.

    Kept before anything is queued, so a re-run of the page (a crash before the checkpoint, a duplicate job)
    queues and counts exactly these recipients, whoever opted out or changed since. Counting a second read
    while the first read's batches are already out let ``done`` pass ``planned`` early."""

    page: int
    phones: tuple[str, ...]
    next_cursor: str | None


def local_instant(wall: datetime, zone: str) -> datetime:
    """A naive store-local wall time as a UTC instant."""
    return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def parse_send_at(value: object, store_timezone: str, now: datetime) -> datetime | None:
    """``"now"`` -> None; a store-local ISO datetime (no offset) -> that naive wall time, validated.

    Refuses past dates, dates more than a year ahead, and wall times that do not exist or are ambiguous
    in the store's timezone (the hour skipped or repeated by a DST change).
    """
    if value == SEND_NOW:
        return None
    if not isinstance(value, str):
        raise InvalidInput('send_at must be "now" or a store-local date-time like 2026-12-01T10:00', code="invalid_send_at")
    try:
        wall = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"send_at is not a date-time: {value!r}", code="invalid_send_at") from exc
    if wall.tzinfo is not None:
        raise InvalidInput("send_at is in the store's timezone: give it without an offset", code="invalid_send_at")
    # Year 1 or 9999 overflows when moved between zones; no UTC offset exceeds a day, so these are safe cuts.
    if wall.replace(tzinfo=timezone.utc) < now - timedelta(days=2):
        raise InvalidInput("send_at must be at least a minute in the future", code="send_at_in_past")
    if wall.replace(tzinfo=timezone.utc) > now + MAX_LEAD + timedelta(days=2):
        raise InvalidInput("send_at must be within a year", code="send_at_too_far")
    zone = ZoneInfo(store_timezone)
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    instant = first.astimezone(timezone.utc)
    # A skipped wall time also has two offsets, so test "does not exist" before "happens twice".
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        raise InvalidInput(f"{value} does not exist in {store_timezone} (DST change)", code="invalid_send_at")
    if first.utcoffset() != second.utcoffset():
        raise InvalidInput(f"{value} happens twice in {store_timezone} (DST change): pick another time", code="invalid_send_at")
    if instant < now + MIN_LEAD:
        raise InvalidInput("send_at must be at least a minute in the future", code="send_at_in_past")
    if instant > now + MAX_LEAD:
        raise InvalidInput("send_at must be within a year", code="send_at_too_far")
    return wall
