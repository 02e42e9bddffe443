"""Campaign use cases for the merchant: create, edit, delete, switch on/off, Send Now, end, list, preview."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chalicelib.domain import encoding, pricing
from chalicelib.domain.campaigns import SEND_NOW, Campaign, CampaignStats, CampaignStatus, local_instant, parse_send_at
from chalicelib.domain.errors import Conflict, InvalidInput
from chalicelib.domain.jobs import StartCampaign, start_schedule_name
from chalicelib.domain.media import INVALID_URL, StoredMedia
from chalicelib.domain.quiet_hours import Recipient, is_quiet, next_open
from chalicelib.domain.shops import ShopSettings
from chalicelib.domain.templates import check_fits, validate_template
from chalicelib.services import audience
from chalicelib.services.optimistic import retry_on_conflict
from chalicelib.services.planning import start_campaign
from chalicelib.services.ports import Page, Ports

_CREATE_FIELDS = frozenset({"name", "message", "segment_id", "send_at", "draft", "media_url"})
_EDIT_FIELDS = frozenset({"name", "message", "segment_id", "send_at", "draft", "media_url"})
_PREVIEW_FIELDS = frozenset({"message", "segment_id", "send_at", "media_url"})


def new_campaign_id(now: datetime) -> str:
    """Time-sortable, so the newest campaign lists first."""
    return f"cmp_{int(now.timestamp() * 1000):012x}{secrets.token_hex(4)}"


def _fields(body: Any, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidInput("body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise InvalidInput(f"unknown fields: {sorted(unknown)}", code="unknown_field", details={"fields": sorted(unknown)})
    return body


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise InvalidInput("name must be 1-100 characters", code="invalid_name")
    return value.strip()


def _message(value: Any, settings: ShopSettings, *, mms: bool) -> str:
    template = validate_template(value)
    check_fits(template, settings.shop_name, opt_out_hint=settings.opt_out_hint, mms=mms)
    return template


def _import_media(ports: Ports, shop_id: str, value: Any) -> StoredMedia | None:
    """None for no image (null); otherwise the image imported into the media library (a download, so callers
    run it after every cheaper check)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("media_url must be an https link to an image, or null", code=INVALID_URL)
    return ports.media.import_image(shop_id, value)


def create_campaign(ports: Ports, shop_id: str, body: Any) -> Campaign:
    """Save a draft, schedule it, or send it now."""
    fields = _fields(body, _CREATE_FIELDS)
    shop = ports.shops.get(shop_id)
    now = ports.clock.now()
    draft = fields.get("draft", False)
    if not isinstance(draft, bool):
        raise InvalidInput("draft must be true or false", code="invalid_draft")
    if "send_at" not in fields and not draft:
        raise InvalidInput('send_at is required ("now" or a store-local date-time) unless draft is true', code="invalid_send_at")
    send_at_raw = fields.get("send_at", SEND_NOW)
    send_at = parse_send_at(send_at_raw, shop.settings.timezone, now)
    segment = audience.require_segment(ports, shop_id, fields.get("segment_id"))
    name = _name(fields.get("name"))
    message = _message(fields.get("message"), shop.settings, mms=fields.get("media_url") is not None)
    media = _import_media(ports, shop_id, fields.get("media_url"))
    campaign = Campaign(
        shop_id=shop_id,
        campaign_id=new_campaign_id(now),
        name=name,
        message=message,
        media_url=media.source_url if media else None,
        media_s3_uri=media.s3_uri if media else None,
        segment_id=segment.segment_id,
        send_now=send_at is None,
        send_at_local=send_at,
        timezone=shop.settings.timezone,
        status=CampaignStatus.DRAFT,
        created_at=now,
        updated_at=now,
    )
    campaign = ports.campaigns.create(campaign)
    if draft:
        return campaign
    if campaign.send_now:
        return start_now(ports, campaign)
    return _switch_on(ports, campaign)


def get_campaign(ports: Ports, shop_id: str, campaign_id: str) -> Campaign:
    """One campaign with its stats."""
    return ports.campaigns.get(shop_id, campaign_id)


@dataclass(frozen=True)
class CampaignList:
    """A page of campaigns and the shop's totals over all campaigns."""

    page: Page[Campaign]
    totals: CampaignStats


def list_campaigns(ports: Ports, shop_id: str, *, limit: int = 50, cursor: str | None = None) -> CampaignList:
    """Newest first, with totals of sent, clicks, orders and revenue across every campaign."""
    page = ports.campaigns.page(shop_id, limit=limit, cursor=cursor)
    totals = CampaignStats()
    for c in ports.campaigns.all(shop_id):
        totals = replace(
            totals,
            planned=totals.planned + c.stats.planned,
            sent=totals.sent + c.stats.sent,
            skipped=totals.skipped + c.stats.skipped,
            failed=totals.failed + c.stats.failed,
            deferred=totals.deferred + c.stats.deferred,
            segments=totals.segments + c.stats.segments,
            clicks=totals.clicks + c.stats.clicks,
            orders=totals.orders + c.stats.orders,
            revenue=totals.revenue + c.stats.revenue,
            currency=totals.currency or c.stats.currency,
        )
    return CampaignList(page, totals)


def edit_campaign(ports: Ports, shop_id: str, campaign_id: str, body: Any) -> Campaign:
    """Change a Draft or Scheduled campaign; a Scheduled one's schedule moves with its date."""
    fields = _fields(body, _EDIT_FIELDS)
    media: StoredMedia | None = None
    if fields.get("media_url") is not None:
        # The download happens once, outside the retry loop, and only for a campaign that may still change.
        ports.campaigns.get(shop_id, campaign_id).require_editable("edit")
        if "message" in fields:
            validate_template(fields["message"])
        media = _import_media(ports, shop_id, fields["media_url"])

    def attempt() -> Campaign:
        campaign = ports.campaigns.get(shop_id, campaign_id)
        campaign.require_editable("edit")
        shop = ports.shops.get(shop_id)
        now = ports.clock.now()
        changes: dict[str, Any] = {"updated_at": now}
        if "name" in fields:
            changes["name"] = _name(fields["name"])
        if "media_url" in fields:  # null takes the image off: the campaign goes out as SMS again
            changes["media_url"] = media.source_url if media else None
            changes["media_s3_uri"] = media.s3_uri if media else None
        if "message" in fields or "media_url" in fields:
            # Adding or removing the image changes the size rule, so the text is checked again either way.
            mms = changes.get("media_s3_uri", campaign.media_s3_uri) is not None
            changes["message"] = _message(fields.get("message", campaign.message), shop.settings, mms=mms)
        if "segment_id" in fields:
            changes["segment_id"] = audience.require_segment(ports, shop_id, fields["segment_id"]).segment_id
        if "send_at" in fields:
            send_at = parse_send_at(fields["send_at"], shop.settings.timezone, now)
            if send_at is None and campaign.status is CampaignStatus.SCHEDULED:
                raise InvalidInput("a scheduled campaign needs a date; use Send Now on a draft", code="invalid_send_at")
            changes.update(send_now=send_at is None, send_at_local=send_at, timezone=shop.settings.timezone)
        return ports.campaigns.save(replace(campaign, **changes))

    saved = retry_on_conflict(attempt, gave_up="campaign kept changing; try again")
    if saved.status is CampaignStatus.SCHEDULED and "send_at" in fields:
        _arm(ports, saved)  # after the save: an early firing re-arms itself (see planning.start_campaign)
    if "draft" in fields:
        return _set_draft(ports, saved, fields["draft"])
    return saved


def _set_draft(ports: Ports, campaign: Campaign, draft: Any) -> Campaign:
    """draft=false launches a draft (Send Now, or its schedule); draft=true takes a Scheduled one back."""
    if not isinstance(draft, bool):
        raise InvalidInput("draft must be true or false", code="invalid_draft")
    if draft:
        if campaign.status is CampaignStatus.SCHEDULED:
            return set_active(ports, campaign.shop_id, campaign.campaign_id, False)
        return campaign
    if campaign.status is not CampaignStatus.DRAFT:
        return campaign
    if campaign.send_now:
        return start_now(ports, campaign)
    return _switch_on(ports, campaign)


def delete_campaign(ports: Ports, shop_id: str, campaign_id: str) -> None:
    """Delete a Draft or Scheduled campaign and its schedule."""
    campaign = ports.campaigns.get(shop_id, campaign_id)
    campaign.require_editable("delete")
    ports.campaigns.delete(campaign)
    if not campaign.send_now:
        ports.schedules.cancel(start_schedule_name(campaign.campaign_id))  # a firing that slips through finds no campaign


def set_active(ports: Ports, shop_id: str, campaign_id: str, active: Any) -> Campaign:
    """The on/off switch: Draft <-> Scheduled, for campaigns with a custom date."""
    if not isinstance(active, bool):
        raise InvalidInput("active must be true or false", code="invalid_active")
    campaign = ports.campaigns.get(shop_id, campaign_id)
    campaign.require_editable("switch")
    if campaign.send_now:
        raise Conflict("Send Now campaigns have no on/off switch", code="send_now_campaign")
    if active == campaign.active:
        return campaign
    if active:
        return _switch_on(ports, campaign)
    saved = ports.campaigns.save(campaign.unschedule(ports.clock.now()))
    ports.schedules.cancel(start_schedule_name(saved.campaign_id))
    return saved


def _switch_on(ports: Ports, campaign: Campaign) -> Campaign:
    now = ports.clock.now()
    at = campaign.send_at_utc
    if at is None or at <= now:
        raise InvalidInput("the campaign's date has passed; choose a new send_at", code="send_at_in_past")
    # Schedule first, then save: a firing for a campaign still in Draft is ignored by the starter.
    _arm(ports, campaign)
    return ports.campaigns.save(campaign.schedule(now))


def _arm(ports: Ports, campaign: Campaign) -> None:
    assert campaign.send_at_local is not None
    ports.schedules.at(
        start_schedule_name(campaign.campaign_id),
        campaign.send_at_local,
        campaign.timezone,
        StartCampaign(campaign.shop_id, campaign.campaign_id),
    )


def send_now(ports: Ports, shop_id: str, campaign_id: str) -> Campaign:
    """Launch a Send Now draft (idempotent: pressing twice starts it once)."""
    return start_now(ports, ports.campaigns.get(shop_id, campaign_id))


def start_now(ports: Ports, campaign: Campaign) -> Campaign:
    """Draft (Send Now) -> In Progress and queue the first planning page."""
    if not campaign.send_now:
        raise Conflict("this campaign has a date; switch it on instead", code="scheduled_campaign")
    return start_campaign(ports, campaign.shop_id, campaign.campaign_id, trigger="now")


def end_campaign(ports: Ports, shop_id: str, campaign_id: str) -> Campaign:
    """In Progress -> Completed now. Once this returns, no further send of the campaign starts: every
    claim in the send ledger checks the campaign's status in the same transaction."""
    return retry_on_conflict(
        lambda: ports.campaigns.save(ports.campaigns.get(shop_id, campaign_id).end(ports.clock.now())),
        gave_up="campaign kept changing; try again",
    )


@dataclass(frozen=True)
class Wave:
    """Recipients released together when their quiet hours end."""

    release_at: datetime
    recipients: int


@dataclass(frozen=True)
class Preview:
    """What a campaign would cost and when it would arrive, before it is sent."""

    shape: encoding.SmsShape
    recipients: int
    deferred: int
    waves: list[Wave]
    estimated_cost: pricing.Cost
    channel: str = "sms"  # "mms" when the campaign carries an image
    parts: int = 0  # billed parts per recipient: the text's SMS parts, or 1 for an MMS


def preview(ports: Ports, shop_id: str, body: Any) -> Preview:
    """Characters, encoding, channel, parts, recipients, quiet-hours waves and an estimated cost."""
    fields = _fields(body, _PREVIEW_FIELDS)
    shop = ports.shops.get(shop_id)
    now = ports.clock.now()
    mms = fields.get("media_url") is not None
    template = validate_template(fields.get("message"))
    shape = check_fits(template, shop.settings.shop_name, opt_out_hint=shop.settings.opt_out_hint, mms=mms)
    segment = audience.require_segment(ports, shop_id, fields.get("segment_id"))
    send_at = parse_send_at(fields.get("send_at", SEND_NOW), shop.settings.timezone, now)
    # The image is imported now, not just looked at, so a link that will fail is reported before the campaign
    # is saved; storage is content-addressed, so saving it afterwards stores nothing twice.
    _import_media(ports, shop_id, fields.get("media_url"))
    at = now if send_at is None else local_instant(send_at, shop.settings.timezone)
    recipients, waves = 0, Counter[datetime]()
    regions: Counter[str] = Counter()
    for subscriber in audience.members(ports, shop_id, segment.rule, at):
        recipients += 1
        regions[pricing.destination(subscriber.phone)] += 1
        recipient = Recipient.of(subscriber.phone, shop.settings.timezone)
        if is_quiet(recipient, shop.settings.quiet_hours, at):
            waves[next_open(recipient, shop.settings.quiet_hours, at)] += 1
    return Preview(
        shape=shape,
        recipients=recipients,
        deferred=sum(waves.values()),
        waves=[Wave(release_at, n) for release_at, n in sorted(waves.items())],
        estimated_cost=pricing.estimate(regions, shape.segments, mms=mms),
        channel="mms" if mms else "sms",
        parts=1 if mms else shape.segments,
    )
