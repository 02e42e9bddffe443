"""Who a segment reaches: built-in and custom segments, resolved and counted over the subscriber store."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import InvalidInput, NotFound
from chalicelib.domain.segments import BUILTINS, Segment, builtin_segments, matches, validate_rule
from chalicelib.domain.subscribers import Subscriber, SubscriberStatus
from chalicelib.services.ports import Ports

PAGE_SIZE = 200


@dataclass(frozen=True)
class NewSegment:
    """A request to create a custom segment from a name and a rule (checked whole by the domain)."""

    name: str
    rule: Mapping[str, Any]


def resolve(ports: Ports, shop_id: str, segment_id: str) -> Segment:
    """A built-in or custom segment of the shop, or NotFound."""
    if segment_id in BUILTINS:
        name, rule = BUILTINS[segment_id]
        return Segment(shop_id, segment_id, name, rule, builtin=True)
    return ports.segments.get(shop_id, segment_id)


def require_segment(ports: Ports, shop_id: str, segment_id: object) -> Segment:
    """Like resolve, for a segment named in a request body: unknown is a 400, not a 404."""
    if not isinstance(segment_id, str) or not segment_id:
        raise InvalidInput("segment_id is required", code="unknown_segment")
    try:
        return resolve(ports, shop_id, segment_id)
    except NotFound as exc:
        raise InvalidInput(f"no segment {segment_id!r}", code="unknown_segment") from exc


def list_segments(ports: Ports, shop_id: str) -> list[Segment]:
    """Built-ins first, then the shop's own."""
    return builtin_segments(shop_id) + ports.segments.list(shop_id)


def create_segment(ports: Ports, shop_id: str, command: NewSegment) -> Segment:
    """A custom segment from a name and a rule."""
    name = command.name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name must be 1-100 characters", code="invalid_name")
    rule = validate_rule(command.rule)
    segment = Segment(shop_id, "seg_" + secrets.token_hex(8), name, rule)
    return ports.segments.create(segment)


def members(ports: Ports, shop_id: str, rule: Mapping[str, Any], at: datetime) -> Iterator[Subscriber]:
    """Every active subscriber who matches ``rule`` at ``at``, paging through the store."""
    cursor: str | None = None
    while True:
        page = ports.subscribers.page(shop_id, status=SubscriberStatus.ACTIVE, limit=PAGE_SIZE, cursor=cursor)
        for subscriber in page.items:
            if matches(rule, subscriber, at):
                yield subscriber
        cursor = page.cursor
        if cursor is None:
            return


def count(ports: Ports, shop_id: str, segment_id: str) -> int:
    """How many subscribers the segment reaches now."""
    segment = resolve(ports, shop_id, segment_id)
    return sum(1 for _ in members(ports, shop_id, segment.rule, ports.clock.now()))
