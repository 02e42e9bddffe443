"""Campaign routes: create, list, get, edit, delete, on/off, Send Now, end, preview."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.api.models.campaigns import (
    ActiveSwitch,
    Campaign,
    CampaignCreate,
    CampaignPage,
    CampaignPatch,
    CampaignQuery,
    Preview,
    PreviewRequest,
    Stats,
    edit_of,
)
from chalicelib.services import campaigns

bp = Blueprint(__name__)


@endpoint(bp, "/campaigns", ["POST"], status=201, idempotent=True, errors=(409,))
def create_campaign(call: Call, body: CampaignCreate) -> Campaign:
    """Save a draft, schedule it, or send it now."""
    return Campaign.of(campaigns.create_campaign(call.ports, call.shop_id, body.command()))


@endpoint(bp, "/campaigns", ["GET"])
def list_campaigns(call: Call, query: CampaignQuery) -> CampaignPage:
    """Newest first, with the shop's totals over every campaign."""
    listing = campaigns.list_campaigns(call.ports, call.shop_id, limit=query.limit, cursor=query.cursor)
    return CampaignPage(
        items=[Campaign.of(c) for c in listing.page.items], next_cursor=listing.page.cursor, totals=Stats.of(listing.totals)
    )


@endpoint(bp, "/campaigns/preview", ["POST"])
def preview_campaign(call: Call, body: PreviewRequest) -> Preview:
    """What a campaign would be: size, audience, quiet-hours waves and estimated cost."""
    return Preview.of(campaigns.preview(call.ports, call.shop_id, body.command()))


@endpoint(bp, "/campaigns/{campaign_id}", ["GET"], errors=(404,))
def get_campaign(call: Call, campaign_id: str) -> Campaign:
    """One campaign with its results."""
    return Campaign.of(campaigns.get_campaign(call.ports, call.shop_id, campaign_id))


@endpoint(bp, "/campaigns/{campaign_id}", ["PATCH"], errors=(404, 409))
def edit_campaign(call: Call, campaign_id: str, body: CampaignPatch) -> Campaign:
    """Change a Draft or Scheduled campaign."""
    return Campaign.of(campaigns.edit_campaign(call.ports, call.shop_id, campaign_id, edit_of(body)))


@endpoint(bp, "/campaigns/{campaign_id}", ["DELETE"], status=204, errors=(404, 409))
def delete_campaign(call: Call, campaign_id: str) -> None:
    """Delete a Draft or Scheduled campaign and its schedule."""
    campaigns.delete_campaign(call.ports, call.shop_id, campaign_id)


@endpoint(bp, "/campaigns/{campaign_id}/active", ["PUT"], errors=(404, 409))
def set_active(call: Call, campaign_id: str, body: ActiveSwitch) -> Campaign:
    """The on/off switch: Draft <-> Scheduled, for campaigns with a date."""
    return Campaign.of(campaigns.set_active(call.ports, call.shop_id, campaign_id, body.active))


@endpoint(bp, "/campaigns/{campaign_id}/end", ["POST"], errors=(404, 409))
def end_campaign(call: Call, campaign_id: str) -> Campaign:
    """End an In Progress campaign now."""
    return Campaign.of(campaigns.end_campaign(call.ports, call.shop_id, campaign_id))
