"""Segment rules: validate_rule refuses anything malformed with a 4xx error, matches() never picks a non-active number.

Decision on empty groups: ``{"all": []}`` is everyone (the built-in "All subscribers"), ``{"any": []}`` is no
one. That is the ordinary meaning of AND/OR over nothing, and it fails safe: a half-built OR group must never
widen a campaign to every subscriber.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.segments import BUILTINS, MAX_CONDITIONS, MAX_DAYS, builtin_segments, matches, validate_rule
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberStatus

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
CHECKOUT = {"field": "source", "op": "eq", "value": "checkout"}
ORDERED = {"field": "orders_count", "op": "gt", "value": 0}


def _sub(status: SubscriberStatus = SubscriberStatus.ACTIVE, **kwargs: Any) -> Subscriber:
    base = Subscriber(
        shop_id="demo.myshopify.com",
        phone="+15551230000",
        status=status,
        source=Source.CHECKOUT,
        joined_at=NOW - timedelta(days=3),
        updated_at=NOW,
    )
    return replace(base, **kwargs)


def _with(field: str, value: object) -> Subscriber:
    changes: dict[str, Any] = {field: value}
    return replace(_sub(), **changes)


def _refused(rule: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_rule(rule)
    assert caught.value.code == "invalid_rule"
    return caught.value


def _nest(rule: dict[str, Any], groups: int, kind: str = "all") -> dict[str, Any]:
    for _ in range(groups):
        rule = {kind: [rule]}
    return rule


# --- validate_rule ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("segment_id", sorted(BUILTINS))
def test_every_builtin_rule_is_valid(segment_id: str) -> None:
    rule = BUILTINS[segment_id][1]
    assert validate_rule(rule) == rule


@pytest.mark.parametrize(
    "rule",
    [
        {"all": []},
        {"any": []},
        CHECKOUT,
        {"any": [CHECKOUT, {"all": [ORDERED, {"field": "last_clicked_at", "op": "within_days", "value": 30}]}]},
        {"all": [{"field": "last_order_at", "op": "exists"}, {"field": "last_clicked_at", "op": "not_exists"}]},
        {"all": [{"field": "joined_at", "op": "before_days", "value": 0}]},
        {"all": [{"field": "joined_at", "op": "within_days", "value": MAX_DAYS}]},
        {"all": [{"field": "source", "op": "ne", "value": "import"}, {"field": "orders_count", "op": "lte", "value": 3}]},
    ],
)
def test_valid_rules_are_accepted_and_returned_as_a_copy(rule: dict[str, Any]) -> None:
    original = copy.deepcopy(rule)
    checked = validate_rule(rule)
    assert checked == original
    checked.clear()  # what is stored must not alias what the caller sent
    assert rule == original


@pytest.mark.parametrize(
    "rule",
    [
        None,
        [],
        "all",
        42,
        {},
        {"all": [], "any": []},  # one group, one kind
        {"all": {}},
        {"any": "checkout"},
        {"none": []},
        {"all": [None]},
        {"all": [[]]},
        {"field": "source", "op": "eq", "value": "checkout", "extra": 1},
        {"field": "source", "value": "checkout"},
        {"op": "eq", "value": "checkout"},
        # unknown field or operator, and operators of another field
        {"field": "email", "op": "eq", "value": "x"},
        {"field": "source", "op": "like", "value": "check%"},
        {"field": "source", "op": "gt", "value": "checkout"},
        {"field": "orders_count", "op": "within_days", "value": 3},
        {"field": "joined_at", "op": "exists"},
        {"field": "joined_at", "op": "eq", "value": 3},
        # JSON lists and objects where a name belongs (unhashable: must not be a TypeError)
        {"field": ["source"], "op": "eq", "value": "checkout"},
        {"field": {"f": 1}, "op": "eq", "value": "checkout"},
        {"field": "source", "op": ["eq"], "value": "checkout"},
        {"field": "source", "op": {"eq": 1}, "value": "checkout"},
        {"field": "source", "op": "eq", "value": ["checkout"]},
        {"field": "source", "op": "eq", "value": {"checkout": True}},
        {"field": None, "op": "eq", "value": "checkout"},
        {"field": "source", "op": None, "value": "checkout"},
        # wrong value types and ranges
        {"field": "source", "op": "eq", "value": "Checkout"},
        {"field": "source", "op": "eq", "value": "sms"},
        {"field": "source", "op": "eq", "value": True},
        {"field": "source", "op": "eq", "value": None},
        {"field": "source", "op": "eq"},
        {"field": "orders_count", "op": "gt", "value": "0"},
        {"field": "orders_count", "op": "gt", "value": 0.5},
        {"field": "orders_count", "op": "gt", "value": 1.0},
        {"field": "orders_count", "op": "gt", "value": None},
        {"field": "orders_count", "op": "gt"},
        {"field": "orders_count", "op": "gte", "value": -1},
        {"field": "joined_at", "op": "within_days", "value": MAX_DAYS + 1},
        {"field": "joined_at", "op": "within_days", "value": 10**100},
        {"field": "joined_at", "op": "within_days", "value": float("nan")},
        # bools are ints in Python, never in a rule
        {"field": "orders_count", "op": "eq", "value": True},
        {"field": "orders_count", "op": "eq", "value": False},
        {"field": "joined_at", "op": "within_days", "value": True},
        # exists takes no value, not even null
        {"field": "last_order_at", "op": "exists", "value": None},
        {"field": "last_order_at", "op": "not_exists", "value": True},
        {"field": "last_clicked_at", "op": "exists", "value": 3},
    ],
)
def test_malformed_rules_are_refused(rule: object) -> None:
    _refused(rule)
    _refused({"all": [CHECKOUT, {"any": [rule]}]})  # just as refused deep inside a valid tree


def test_depth_limit() -> None:
    # Four nested groups around a condition (depth 4) is the deepest allowed; one more is refused.
    assert validate_rule(_nest(CHECKOUT, 4)) == _nest(CHECKOUT, 4)
    assert "deep" in _refused(_nest(CHECKOUT, 5)).message
    assert "deep" in _refused(_nest({"all": []}, 5)).message
    _refused(_nest(CHECKOUT, 200))  # deep JSON is refused, not a RecursionError


def test_condition_limit_counts_the_whole_tree() -> None:
    assert validate_rule({"all": [CHECKOUT] * MAX_CONDITIONS})
    assert "conditions" in _refused({"all": [CHECKOUT] * (MAX_CONDITIONS + 1)}).message
    spread = {"any": [{"all": [CHECKOUT] * 7}, {"all": [ORDERED] * 7}, {"any": [CHECKOUT] * 7}]}
    assert "conditions" in _refused(spread).message
    assert validate_rule({"any": [{"all": [CHECKOUT] * 10}, {"all": [ORDERED] * 10}]})


def test_each_validation_counts_afresh() -> None:
    # The condition counter must not leak between calls (a shared default would refuse the 2nd call).
    for _ in range(3):
        validate_rule({"all": [CHECKOUT] * MAX_CONDITIONS})


# --- matches ------------------------------------------------------------------------------------------------------

ALL_RULES = [BUILTINS[sid][1] for sid in sorted(BUILTINS)] + [
    {"any": []},
    {"any": [{"all": []}]},
    {"field": "last_clicked_at", "op": "not_exists"},
    {"field": "source", "op": "ne", "value": "api"},
]


@pytest.mark.parametrize("status", [SubscriberStatus.PENDING, SubscriberStatus.OPTED_OUT])
@pytest.mark.parametrize("rule", ALL_RULES)
def test_non_active_subscribers_never_match(status: SubscriberStatus, rule: dict[str, Any]) -> None:
    # A subscriber who fits every possible condition still gets nothing unless active.
    who = _sub(status, joined_at=NOW, orders_count=0, last_clicked_at=NOW, last_order_at=None)
    assert not matches(rule, who, NOW)
    assert not matches(rule, replace(who, orders_count=5, last_order_at=NOW, last_clicked_at=None), NOW)


def test_empty_all_is_everyone_active() -> None:
    assert matches({"all": []}, _sub(), NOW)
    assert matches({"all": [{"all": []}]}, _sub(source=Source.IMPORT), NOW)


def test_empty_any_is_no_one_and_never_widens_a_segment() -> None:
    assert not matches({"any": []}, _sub(), NOW)
    assert not matches({"all": [CHECKOUT, {"any": []}]}, _sub(), NOW)
    assert matches({"any": [{"any": []}, CHECKOUT]}, _sub(), NOW)
    assert matches({"any": [{"all": []}]}, _sub(source=Source.API), NOW)


def test_all_and_any_combine_conditions() -> None:
    rule = {"all": [CHECKOUT, {"any": [ORDERED, {"field": "last_clicked_at", "op": "exists"}]}]}
    assert not matches(rule, _sub(), NOW)
    assert matches(rule, _sub(orders_count=1), NOW)
    assert matches(rule, _sub(last_clicked_at=NOW - timedelta(days=400)), NOW)
    assert not matches(rule, _sub(source=Source.KEYWORD, orders_count=1), NOW)


@pytest.mark.parametrize("days", [0, 1, 7, 30, MAX_DAYS])
@pytest.mark.parametrize("field", ["joined_at", "last_order_at", "last_clicked_at"])
def test_within_days_and_before_days_split_time_exactly_at_the_cutoff(field: str, days: int) -> None:
    within = {"field": field, "op": "within_days", "value": days}
    before = {"field": field, "op": "before_days", "value": days}
    cutoff = NOW - timedelta(days=days)
    for at, is_within in [
        (cutoff, True),  # exactly N days ago is still within the last N days
        (cutoff + timedelta(microseconds=1), True),
        (cutoff - timedelta(microseconds=1), False),
        (NOW, True),
        (NOW - timedelta(days=days + 1), False),
    ]:
        who = _with(field, at)
        assert matches(within, who, NOW) is is_within, (at, "within")
        assert matches(before, who, NOW) is (not is_within), (at, "before")


@pytest.mark.parametrize("field", ["last_order_at", "last_clicked_at"])
def test_a_missing_date_is_neither_within_nor_before(field: str) -> None:
    who = _with(field, None)
    assert not matches({"field": field, "op": "within_days", "value": 30}, who, NOW)
    assert not matches({"field": field, "op": "before_days", "value": 30}, who, NOW)
    assert not matches({"field": field, "op": "exists"}, who, NOW)
    assert matches({"field": field, "op": "not_exists"}, who, NOW)
    who = _with(field, NOW - timedelta(days=1000))
    assert matches({"field": field, "op": "exists"}, who, NOW)
    assert not matches({"field": field, "op": "not_exists"}, who, NOW)


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [("eq", 2, [2]), ("gt", 2, [3]), ("gte", 2, [2, 3]), ("lt", 2, [0, 1]), ("lte", 2, [0, 1, 2]), ("eq", 0, [0])],
)
def test_orders_count_comparisons(op: str, value: int, expected: list[int]) -> None:
    rule = {"field": "orders_count", "op": op, "value": value}
    assert [n for n in range(4) if matches(rule, _sub(orders_count=n), NOW)] == expected


@pytest.mark.parametrize("source", list(Source))
def test_source_eq_and_ne_are_complements(source: Source) -> None:
    for other in Source:
        who = _sub(source=other)
        assert matches({"field": "source", "op": "eq", "value": source.value}, who, NOW) is (other is source)
        assert matches({"field": "source", "op": "ne", "value": source.value}, who, NOW) is (other is not source)


# --- built-ins ----------------------------------------------------------------------------------------------------


def test_builtin_segments_are_every_builtin_marked_builtin() -> None:
    segments = builtin_segments("demo.myshopify.com")
    assert [s.segment_id for s in segments] == list(BUILTINS)
    assert all(s.builtin and s.shop_id == "demo.myshopify.com" and s.name for s in segments)
    assert len({s.name for s in segments}) == len(segments)


def _members(segment_id: str, people: dict[str, Subscriber]) -> set[str]:
    rule = BUILTINS[segment_id][1]
    return {name for name, who in people.items() if matches(rule, who, NOW)}


def test_builtin_segments_pick_the_right_people() -> None:
    people = {
        "new_checkout": _sub(source=Source.CHECKOUT, joined_at=NOW - timedelta(days=1)),
        "week_keyword": _sub(source=Source.KEYWORD, joined_at=NOW - timedelta(days=7)),
        "old_buyer": _sub(source=Source.IMPORT, joined_at=NOW - timedelta(days=90), orders_count=2, last_order_at=NOW),
        "clicker": _sub(source=Source.API, joined_at=NOW - timedelta(days=31), last_clicked_at=NOW - timedelta(days=30)),
        "stale_clicker": _sub(
            source=Source.KEYWORD, joined_at=NOW - timedelta(days=400), last_clicked_at=NOW - timedelta(days=31)
        ),
        "stopped_buyer": _sub(SubscriberStatus.OPTED_OUT, orders_count=9, last_clicked_at=NOW),
        "pending": _sub(SubscriberStatus.PENDING, source=Source.KEYWORD, joined_at=NOW),
    }
    active = {"new_checkout", "week_keyword", "old_buyer", "clicker", "stale_clicker"}
    assert _members("all", people) == active
    assert _members("checkout", people) == {"new_checkout"}
    assert _members("keyword", people) == {"week_keyword", "stale_clicker"}
    assert _members("joined-7d", people) == {"new_checkout", "week_keyword"}
    assert _members("joined-30d", people) == {"new_checkout", "week_keyword"}
    assert _members("ordered", people) == {"old_buyer"}
    assert _members("never-ordered", people) == active - {"old_buyer"}
    assert _members("clicked-30d", people) == {"clicker"}
