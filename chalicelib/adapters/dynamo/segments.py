"""A shop's custom segments in DynamoDB (the built-in ones live in domain/segments.py)."""

from __future__ import annotations

from chalicelib.adapters.dynamo.conditions import save_new
from chalicelib.adapters.dynamo.keys import utc
from chalicelib.adapters.dynamo.tables import SegmentRow
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.segments import Segment
from chalicelib.services.ports import Clock


def row_to_segment(row: SegmentRow) -> Segment:
    """The domain segment a row holds."""
    return Segment(shop_id=row.shop_id, segment_id=row.segment_id, name=row.name, rule=dict(row.rule or {}))


class DynamoSegmentRepository:
    """``SegmentRepository`` on the segments table."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def create(self, segment: Segment) -> Segment:
        """Store a new custom segment (Conflict with code ``segment_exists`` if the id is taken)."""
        if segment.builtin:
            raise Conflict(f"{segment.segment_id} is a built-in segment", code="segment_exists")
        # Only for listing order; nothing decides anything on it.
        created_at = utc(self._clock.now())
        row = SegmentRow(segment.shop_id, segment.segment_id, name=segment.name, rule=dict(segment.rule), created_at=created_at)
        if not save_new(row, SegmentRow.segment_id.does_not_exist()):
            raise Conflict(f"segment {segment.segment_id} already exists", code="segment_exists")
        return row_to_segment(row)

    def get(self, shop_id: str, segment_id: str) -> Segment:
        """The segment, or NotFound (code ``segment_not_found``); another shop's segment is not found too."""
        if not segment_id:  # an empty path segment: DynamoDB refuses an empty key (a 500) rather than finding nothing
            raise NotFound("segment '' not found", code="segment_not_found")
        try:
            return row_to_segment(SegmentRow.get(shop_id, segment_id, consistent_read=True))
        except SegmentRow.DoesNotExist as exc:
            raise NotFound(f"segment {segment_id} not found", code="segment_not_found") from exc

    def list(self, shop_id: str) -> list[Segment]:
        """The shop's custom segments, oldest first."""
        rows = sorted(SegmentRow.query(shop_id, consistent_read=True), key=lambda row: (row.created_at, row.segment_id))
        return [row_to_segment(row) for row in rows]
