"""Campaign use cases for the merchant: create, edit, delete, switch on/off, Send Now, end, list, preview."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chalicelib.domain import encoding, pricing
from chalicelib.domain.campaigns import (
    DISCOUNT_CODE,
    SEND_NOW,
    Campaign,
    CampaignStats,
    CampaignStatus,
    local_instant,
    parse_send_at,
)
from chalicelib.domain.errors import Conflict, InvalidInput
from chalicelib.domain.jobs import StartCampaign, start_schedule_name
from chalicelib.domain.media import INVALID_URL, StoredMedia
from chalicelib.domain.quiet_hours import Recipient, is_quiet, next_open
from chalicelib.domain.sending import SEND_LEASE
from chalicelib.domain.shops import Shop, ShopSettings
from chalicelib.domain.templates import check_fits, max_parts_for, measure_worst_case, uses_discount_code, validate_template
from chalicelib.services import audience
from chalicelib.services.optimistic import retry_on_conflict
from chalicelib.services.planning import start_campaign
from chalicelib.services.ports import Page, Ports


@dataclass(frozen=True)
class NewCampaign:
    """A request to create a campaign: a draft, a scheduled one (``send_at`` a store-local date-time) or
    one sent now (``send_at`` "now"). ``send_at`` may be None only for a draft."""

    name: str
    message: str
    segment_id: str
    send_at: str | None = None
    draft: bool = False
    media_url: str | None = None
    discount_code: str | None = None


@dataclass(frozen=True)
class CampaignEdit:
    """A change to a Draft or Scheduled campaign: only the fields in ``given`` change (media_url None
    there takes the image off; draft false launches a draft, draft true takes a Scheduled one back)."""

    given: frozenset[str]
    name: str | None = None
    message: str | None = None
    segment_id: str | None = None
    send_at: str | None = None
    draft: bool | None = None
    media_url: str | None = None
    discount_code: str | None = None

    @classmethod
    def of(cls, **fields: Any) -> CampaignEdit:
        """An edit of exactly these fields."""
        return cls(given=frozenset(fields), **fields)


@dataclass(frozen=True)
class PreviewCampaign:
    """What a campaign would be, to preview it without saving."""

    message: str
    segment_id: str
    send_at: str = SEND_NOW
    media_url: str | None = None
    discount_code: str | None = None


def new_campaign_id(now: datetime) -> str:
    """Time-sortable, so the newest campaign lists first."""
    return f"cmp_{int(now.timestamp() * 1000):012x}{secrets.token_hex(4)}"


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise InvalidInput("name must be 1-100 characters", code="invalid_name")
    return value.strip()


def _message(ports: Ports, value: Any, settings: ShopSettings, *, mms: bool, discount_code: str | None) -> str:
    template = validate_template(value)
    if uses_discount_code(template) and discount_code is None:
        raise InvalidInput("the message uses {discount_code} but the campaign has no discount_code", code="missing_discount_code")
    check_fits(
        template,
        settings.shop_name,
        opt_out_hint=settings.opt_out_hint,
        mms=mms,
        link_base=ports.link_base,
        discount_code=discount_code,
    )
    return template


def _discount_code(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not DISCOUNT_CODE.fullmatch(value):
        raise InvalidInput("discount_code must be 1-50 letters, digits, - or _", code="invalid_discount_code")
    return value


def _import_media(ports: Ports, shop_id: str, value: Any) -> StoredMedia | None:
    """None for no image (null); otherwise the image imported into the media library (a download, so callers
    run it after every cheaper check)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("media_url must be an https link to an image, or null", code=INVALID_URL)
    return ports.media.import_image(shop_id, value)


def create_campaign(ports: Ports, shop_id: str, command: NewCampaign) -> Campaign:
    """Save a draft, schedule it, or send it now."""
    shop = ports.shops.get(shop_id)
    now = ports.clock.now()
    if command.send_at is None and not command.draft:
        raise InvalidInput('send_at is required ("now" or a store-local date-time) unless draft is true', code="invalid_send_at")
    send_at = parse_send_at(command.send_at or SEND_NOW, shop.settings.timezone, now)
    segment = audience.require_segment(ports, shop_id, command.segment_id)
    name = _name(command.name)
    discount_code = _discount_code(command.discount_code)
    message = _message(ports, command.message, shop.settings, mms=command.media_url is not None, discount_code=discount_code)
    media = _import_media(ports, shop_id, command.media_url)
    campaign = Campaign(
        shop_id=shop_id,
        campaign_id=new_campaign_id(now),
        name=name,
        message=message,
        media_url=media.source_url if media else None,
        media_s3_uri=media.s3_uri if media else None,
        discount_code=discount_code,
        segment_id=segment.segment_id,
        send_now=send_at is None,
        send_at_local=send_at,
        timezone=shop.settings.timezone,
        status=CampaignStatus.DRAFT,
        created_at=now,
        updated_at=now,
    )
    campaign = ports.campaigns.create(campaign)
    if command.draft:
        return campaign
    if campaign.send_now:
        return start_now(ports, campaign, shop=shop)
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
    """Newest first, with the shop's totals of sent, clicks, orders and revenue (one maintained aggregate)."""
    return CampaignList(ports.campaigns.page(shop_id, limit=limit, cursor=cursor), ports.campaigns.totals(shop_id))


def edit_campaign(ports: Ports, shop_id: str, campaign_id: str, edit: CampaignEdit) -> Campaign:
    """Change a Draft or Scheduled campaign; a Scheduled one's schedule moves with its date. Every check,
    the launch a ``draft: false`` asks for included, passes before anything is saved: a refusal changes nothing."""
    given = edit.given
    media: StoredMedia | None = None
    if edit.media_url is not None and "media_url" in given:
        # The download happens once, outside the retry loop, and only for a campaign that may still change.
        ports.campaigns.get(shop_id, campaign_id).require_editable("edit")
        if edit.message is not None:
            validate_template(edit.message)
        media = _import_media(ports, shop_id, edit.media_url)

    def attempt() -> Campaign:
        campaign = ports.campaigns.get(shop_id, campaign_id)
        campaign.require_editable("edit")
        shop = ports.shops.get(shop_id)
        now = ports.clock.now()
        changes: dict[str, Any] = {"updated_at": now}
        if "name" in given:
            changes["name"] = _name(edit.name)
        if "media_url" in given:  # null takes the image off: the campaign goes out as SMS again
            changes["media_url"] = media.source_url if media else None
            changes["media_s3_uri"] = media.s3_uri if media else None
        if "discount_code" in given:
            changes["discount_code"] = _discount_code(edit.discount_code)
        if given & {"message", "media_url", "discount_code"}:
            # Adding or removing the image (or the code) changes what is sent, so the text is checked again.
            mms = changes.get("media_s3_uri", campaign.media_s3_uri) is not None
            text = edit.message if "message" in given else campaign.message
            code = changes.get("discount_code", campaign.discount_code)
            changes["message"] = _message(ports, text, shop.settings, mms=mms, discount_code=code)
        if "segment_id" in given:
            changes["segment_id"] = audience.require_segment(ports, shop_id, edit.segment_id).segment_id
        if "send_at" in given:
            send_at = parse_send_at(edit.send_at, shop.settings.timezone, now)
            if send_at is None and campaign.status is CampaignStatus.SCHEDULED:
                raise InvalidInput("a scheduled campaign needs a date; use Send Now on a draft", code="invalid_send_at")
            changes.update(send_now=send_at is None, send_at_local=send_at, timezone=shop.settings.timezone)
        edited = replace(campaign, **changes)
        if edit.draft is False and edited.status is CampaignStatus.DRAFT:
            _require_launchable(edited, now)
        return ports.campaigns.save(edited)

    saved = retry_on_conflict(attempt, gave_up="campaign kept changing; try again")
    if saved.status is CampaignStatus.SCHEDULED and "send_at" in given:
        _arm(ports, saved)  # after the save: an early firing re-arms itself (see planning.start_campaign)
    if edit.draft is not None:
        return _set_draft(ports, saved, edit.draft)
    return saved


def _require_launchable(campaign: Campaign, now: datetime) -> None:
    """A draft with a date can be switched on only while the date is ahead."""
    if campaign.send_now:
        return
    at = campaign.send_at_utc
    if at is None or at <= now:
        raise InvalidInput("the campaign's date has passed; choose a new send_at", code="send_at_in_past")


def _set_draft(ports: Ports, campaign: Campaign, draft: bool) -> Campaign:
    """draft=false launches a draft (Send Now, or its schedule); draft=true takes a Scheduled one back."""
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


def set_active(ports: Ports, shop_id: str, campaign_id: str, active: bool) -> Campaign:
    """The on/off switch: Draft <-> Scheduled, for campaigns with a custom date."""
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
    _require_launchable(campaign, now)
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


def start_now(ports: Ports, campaign: Campaign, *, shop: Shop | None = None) -> Campaign:
    """Draft (Send Now) -> In Progress and queue the first planning page; ``campaign`` was just read (or created),
    and so was ``shop`` if given: the start decides on them first."""
    if not campaign.send_now:
        raise Conflict("this campaign has a date; switch it on instead", code="scheduled_campaign")
    return start_campaign(ports, campaign.shop_id, campaign.campaign_id, trigger="now", shop=shop, known=campaign)


def end_campaign(ports: Ports, shop_id: str, campaign_id: str) -> Campaign:
    """In Progress -> Completed now. Once this returns, no further send of the campaign starts: every group's
    claim checks the campaign's status in the same transaction, and a group claimed just before the end may
    only start sends within its lease, which this waits out."""
    ended = retry_on_conflict(
        lambda: ports.campaigns.save(ports.campaigns.get(shop_id, campaign_id).end(ports.clock.now())),
        gave_up="campaign kept changing; try again",
    )
    ports.sleep(SEND_LEASE.total_seconds())  # only an In Progress campaign can be ended: it may have had leases
    # Read again after the wait: the groups claimed before the end have settled, so the stats are final.
    return ports.campaigns.get(shop_id, ended.campaign_id)


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
    # The most parts any one recipient's message can cost, whatever their name (accented or emoji names switch
    # the text to UCS-2), and the cost if every recipient cost that: the send path never renders past it.
    max_parts: int = 0
    max_cost: pricing.Cost | None = None


def preview(ports: Ports, shop_id: str, command: PreviewCampaign) -> Preview:
    """Characters, encoding, channel, parts, recipients, quiet-hours waves and an estimated cost."""
    shop = ports.shops.get(shop_id)
    now = ports.clock.now()
    mms = command.media_url is not None
    template = _message(ports, command.message, shop.settings, mms=mms, discount_code=_discount_code(command.discount_code))
    shape = measure_worst_case(
        template,
        shop.settings.shop_name,
        opt_out_hint=shop.settings.opt_out_hint,
        link_base=ports.link_base,
        discount_code=command.discount_code,
    )
    max_parts = max_parts_for(
        template,
        shop.settings.shop_name,
        opt_out_hint=shop.settings.opt_out_hint,
        link_base=ports.link_base,
        discount_code=command.discount_code,
    )
    segment = audience.require_segment(ports, shop_id, command.segment_id)
    send_at = parse_send_at(command.send_at, shop.settings.timezone, now)
    # The image is imported now, not just looked at, so a link that will fail is reported before the campaign
    # is saved; storage is content-addressed, so saving it afterwards stores nothing twice.
    _import_media(ports, shop_id, command.media_url)
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
        estimated_cost=pricing.estimate(regions, shape.parts, mms=mms),
        channel="mms" if mms else "sms",
        parts=1 if mms else shape.parts,
        max_parts=1 if mms else max(max_parts, shape.parts),
        max_cost=pricing.estimate(regions, max(max_parts, shape.parts), mms=mms),
    )
