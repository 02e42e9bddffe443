"""Segment routes: list (built-in and custom), create, count."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.api.views import segment_json
from chalicelib.services import audience

bp = Blueprint(__name__)


@endpoint(bp, "/segments", ["GET"])
def list_segments(call: Call) -> dict[str, Any]:
    return {"items": [segment_json(s) for s in audience.list_segments(call.ports, call.shop_id)]}


@endpoint(bp, "/segments", ["POST"], status=201)
def create_segment(call: Call) -> dict[str, Any]:
    return segment_json(audience.create_segment(call.ports, call.shop_id, call.json()))


@endpoint(bp, "/segments/{segment_id}/count", ["GET"])
def count_segment(call: Call, segment_id: str) -> dict[str, Any]:
    return {"segment_id": segment_id, "count": audience.count(call.ports, call.shop_id, segment_id)}
