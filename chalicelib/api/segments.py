"""Segment routes: list (built-in and custom), create, count."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.api.models.segments import Segment, SegmentCount, SegmentCreate, SegmentList, rule_dict
from chalicelib.services import audience

bp = Blueprint(__name__)


@endpoint(bp, "/segments", ["GET"])
def list_segments(call: Call) -> SegmentList:
    """Built-in segments first, then the shop's own."""
    return SegmentList(items=[Segment.of(s) for s in audience.list_segments(call.ports, call.shop_id)])


@endpoint(bp, "/segments", ["POST"], status=201)
def create_segment(call: Call, body: SegmentCreate) -> Segment:
    """A custom segment from a name and a rule."""
    command = audience.NewSegment(name=body.name, rule=rule_dict(body.rule))
    return Segment.of(audience.create_segment(call.ports, call.shop_id, command))


@endpoint(bp, "/segments/{segment_id}/count", ["GET"], errors=(404,))
def count_segment(call: Call, segment_id: str) -> SegmentCount:
    """How many subscribers the segment reaches now."""
    return SegmentCount(segment_id=segment_id, count=audience.count(call.ports, call.shop_id, segment_id))
