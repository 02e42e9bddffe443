"""Service commands built from JSON bodies through the API's own models, as the HTTP edge builds them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalicelib.api.http import parse
from chalicelib.api.models.campaigns import CampaignCreate, CampaignPatch, PreviewRequest, edit_of
from chalicelib.api.models.inbox import ReplyCreate
from chalicelib.api.models.subscribers import SubscriberCreate
from chalicelib.services.campaigns import CampaignEdit, NewCampaign, PreviewCampaign
from chalicelib.services.inbox import ReplyRequest
from chalicelib.services.subscribers import AddSubscriber


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body).encode()


def new_campaign(body: Mapping[str, Any]) -> NewCampaign:
    """POST /campaigns's command."""
    return parse(CampaignCreate, _json(body)).command()


def campaign_edit(body: Mapping[str, Any]) -> CampaignEdit:
    """PATCH /campaigns/{id}'s command."""
    return edit_of(parse(CampaignPatch, _json(body)))


def preview_request(body: Mapping[str, Any]) -> PreviewCampaign:
    """POST /campaigns/preview's command."""
    return parse(PreviewRequest, _json(body)).command()


def reply_request(body: Mapping[str, Any]) -> ReplyRequest:
    """POST /inbox/{phone}/replies's command."""
    return parse(ReplyCreate, _json(body)).command()


def add_subscriber(body: Mapping[str, Any], *, allow_fictional: bool = True) -> AddSubscriber:
    """POST /subscribers's command."""
    return parse(SubscriberCreate, _json(body)).command(allow_fictional=allow_fictional)
