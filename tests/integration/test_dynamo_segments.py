"""DynamoSegmentRepository on moto: custom segments are created once, found per shop, listed oldest first."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib.adapters.dynamo.segments import DynamoSegmentRepository
from chalicelib.adapters.dynamo.tables import SegmentRow
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.segments import Segment, builtin_segments
from tests.fakes import FrozenClock

SHOP_A = "alpha.myshopify.com"
SHOP_B = "beta.myshopify.com"
RULE = {"any": [{"field": "orders_count", "op": "gt", "value": 2}, {"field": "last_clicked_at", "op": "exists"}]}

pytestmark = pytest.mark.integration


def segment(segment_id: str, *, shop_id: str = SHOP_A, name: str = "VIPs") -> Segment:
    return Segment(shop_id=shop_id, segment_id=segment_id, name=name, rule=RULE)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2030, 5, 1, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def segments(aws: None, clock: FrozenClock) -> DynamoSegmentRepository:
    return DynamoSegmentRepository(clock)


def test_create_then_get_round_trips_the_rule(segments: DynamoSegmentRepository) -> None:
    assert segments.create(segment("s1")) == segment("s1")
    got = segments.get(SHOP_A, "s1")
    assert got == segment("s1")
    assert got.rule == RULE and not got.builtin


def test_an_existing_id_is_a_conflict_and_keeps_the_first(segments: DynamoSegmentRepository) -> None:
    segments.create(segment("s1"))
    with pytest.raises(Conflict) as caught:
        segments.create(segment("s1", name="Impostor"))
    assert caught.value.code == "segment_exists"
    assert segments.get(SHOP_A, "s1").name == "VIPs"


def test_builtins_are_not_stored(segments: DynamoSegmentRepository) -> None:
    with pytest.raises(Conflict):
        segments.create(builtin_segments(SHOP_A)[0])
    assert segments.list(SHOP_A) == []


def test_missing_and_other_shops_segments_are_not_found(segments: DynamoSegmentRepository) -> None:
    segments.create(segment("s1", shop_id=SHOP_B))
    for segment_id in ("s1", "nope", ""):  # "": GET /segments//count, which DynamoDB refuses as a key
        with pytest.raises(NotFound) as caught:
            segments.get(SHOP_A, segment_id)
        assert caught.value.code == "segment_not_found"


def test_list_is_oldest_first_by_the_clock_port_and_per_shop(segments: DynamoSegmentRepository, clock: FrozenClock) -> None:
    for segment_id in ("zeta", "alpha", "mid"):
        segments.create(segment(segment_id, name=segment_id))
        clock.advance(seconds=1)
    assert SegmentRow.get(SHOP_A, "zeta").created_at == datetime(2030, 5, 1, 9, 0, tzinfo=timezone.utc)
    segments.create(segment("other", shop_id=SHOP_B))

    assert [s.segment_id for s in segments.list(SHOP_A)] == ["zeta", "alpha", "mid"]
    assert [s.segment_id for s in segments.list(SHOP_B)] == ["other"]
