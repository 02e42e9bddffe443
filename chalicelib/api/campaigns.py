"""Campaign routes: create, list, get, edit, delete, on/off, Send Now, end, preview."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import Call, endpoint
from chalicelib.api.views import campaign_json, preview_json, stats_json
from chalicelib.domain.errors import InvalidInput
from chalicelib.services import campaigns

bp = Blueprint(__name__)


@endpoint(bp, "/campaigns", ["POST"], status=201, idempotent=True)
def create_campaign(call: Call) -> dict[str, Any]:
    return campaign_json(campaigns.create_campaign(call.ports, call.shop_id, call.json()))


@endpoint(bp, "/campaigns", ["GET"])
def list_campaigns(call: Call) -> dict[str, Any]:
    call.only_query("limit", "cursor")
    listing = campaigns.list_campaigns(
        call.ports, call.shop_id, limit=call.query_int("limit", 50, 1, 200), cursor=call.query.get("cursor")
    )
    return {
        "items": [campaign_json(c) for c in listing.page.items],
        "next_cursor": listing.page.cursor,
        "totals": stats_json(listing.totals),
    }


@endpoint(bp, "/campaigns/preview", ["POST"])
def preview_campaign(call: Call) -> dict[str, Any]:
    return preview_json(campaigns.preview(call.ports, call.shop_id, call.json()))


@endpoint(bp, "/campaigns/{campaign_id}", ["GET"])
def get_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    return campaign_json(campaigns.get_campaign(call.ports, call.shop_id, campaign_id))


@endpoint(bp, "/campaigns/{campaign_id}", ["PATCH"])
def edit_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    return campaign_json(campaigns.edit_campaign(call.ports, call.shop_id, campaign_id, call.json()))


@endpoint(bp, "/campaigns/{campaign_id}", ["DELETE"])
def delete_campaign(call: Call, campaign_id: str) -> Response:
    campaigns.delete_campaign(call.ports, call.shop_id, campaign_id)
    return Response(body="", status_code=204)


@endpoint(bp, "/campaigns/{campaign_id}/active", ["PUT"])
def set_active(call: Call, campaign_id: str) -> dict[str, Any]:
    body = call.json()
    if set(body) != {"active"}:
        raise InvalidInput('body must be {"active": true|false}', code="invalid_active")
    return campaign_json(campaigns.set_active(call.ports, call.shop_id, campaign_id, body["active"]))


@endpoint(bp, "/campaigns/{campaign_id}/end", ["POST"])
def end_campaign(call: Call, campaign_id: str) -> dict[str, Any]:
    return campaign_json(campaigns.end_campaign(call.ports, call.shop_id, campaign_id))
