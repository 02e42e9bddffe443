"""Segments: who a campaign goes to, as rules over a subscriber's facts, decided by one pure function.

Built-in segments have fixed ids; custom segments are trees of ``{"all": [...]}`` / ``{"any": [...]}``
over conditions ``{"field": ..., "op": ..., "value": ...}``. Only active subscribers are ever members.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberStatus

MAX_DEPTH = 4
MAX_CONDITIONS = 20
MAX_DAYS = 3650

# field -> allowed operators
RULE_FIELDS: dict[str, frozenset[str]] = {
    "source": frozenset({"eq", "ne"}),
    "joined_at": frozenset({"within_days", "before_days"}),
    "orders_count": frozenset({"eq", "gt", "gte", "lt", "lte"}),
    "last_order_at": frozenset({"within_days", "before_days", "exists", "not_exists"}),
    "last_clicked_at": frozenset({"within_days", "before_days", "exists", "not_exists"}),
}


@dataclass(frozen=True)
class Segment:
    """A named rule; ``builtin`` segments cannot be changed or deleted."""

    shop_id: str
    segment_id: str
    name: str
    rule: Mapping[str, Any]
    builtin: bool = False


BUILTINS: dict[str, tuple[str, dict[str, Any]]] = {
    "all": ("All subscribers", {"all": []}),
    "checkout": ("Joined at checkout", {"all": [{"field": "source", "op": "eq", "value": "checkout"}]}),
    "keyword": ("Joined by keyword", {"all": [{"field": "source", "op": "eq", "value": "keyword"}]}),
    "joined-7d": ("Joined in the last 7 days", {"all": [{"field": "joined_at", "op": "within_days", "value": 7}]}),
    "joined-30d": ("Joined in the last 30 days", {"all": [{"field": "joined_at", "op": "within_days", "value": 30}]}),
    "ordered": ("Have ordered", {"all": [{"field": "orders_count", "op": "gt", "value": 0}]}),
    "never-ordered": ("Never ordered", {"all": [{"field": "orders_count", "op": "eq", "value": 0}]}),
    "clicked-30d": ("Clicked in the last 30 days", {"all": [{"field": "last_clicked_at", "op": "within_days", "value": 30}]}),
}


def builtin_segments(shop_id: str) -> list[Segment]:
    """The built-in segments every shop has."""
    return [Segment(shop_id, sid, name, rule, builtin=True) for sid, (name, rule) in BUILTINS.items()]


def validate_rule(rule: object, depth: int = 0) -> dict[str, Any]:
    """The rule, checked whole: known fields, operators and value types, bounded size."""
    _count: list[int] = [0]
    checked = _validate(rule, depth, _count)
    return checked


def _validate(rule: object, depth: int, count: list[int]) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"rules nest at most {MAX_DEPTH} deep", code="invalid_rule")
    if not isinstance(rule, dict):
        raise InvalidInput("a rule is an object", code="invalid_rule")
    if set(rule) in ({"all"}, {"any"}):
        ((kind, parts),) = rule.items()
        if not isinstance(parts, list):
            raise InvalidInput(f"{kind} takes a list", code="invalid_rule")
        return {kind: [_validate(part, depth + 1, count) for part in parts]}
    if set(rule) != {"field", "op", "value"} and set(rule) != {"field", "op"}:
        raise InvalidInput("a condition is {field, op, value}; groups are {all: [...]} or {any: [...]}", code="invalid_rule")
    count[0] += 1
    if count[0] > MAX_CONDITIONS:
        raise InvalidInput(f"at most {MAX_CONDITIONS} conditions", code="invalid_rule")
    field, op, value = rule["field"], rule["op"], rule.get("value")
    # JSON lists and objects are unhashable: a set lookup on them would raise TypeError, not InvalidInput.
    if not isinstance(field, str) or field not in RULE_FIELDS:
        raise InvalidInput(f"unknown field {field!r}; use {sorted(RULE_FIELDS)}", code="invalid_rule")
    if not isinstance(op, str) or op not in RULE_FIELDS[field]:
        raise InvalidInput(f"{field} takes operators {sorted(RULE_FIELDS[field])}", code="invalid_rule")
    if op in ("exists", "not_exists"):
        if "value" in rule:
            raise InvalidInput(f"{op} takes no value", code="invalid_rule")
        return {"field": field, "op": op}
    if field == "source":
        if not isinstance(value, str) or value not in {s.value for s in Source}:
            raise InvalidInput(f"source is one of {sorted(s.value for s in Source)}", code="invalid_rule")
    elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise InvalidInput(f"{field} {op} takes a whole number from 0 to {MAX_DAYS}", code="invalid_rule")
    return {"field": field, "op": op, "value": value}


def matches(rule: Mapping[str, Any], subscriber: Subscriber, now: datetime) -> bool:
    """True when an active subscriber satisfies the rule."""
    return subscriber.status is SubscriberStatus.ACTIVE and _matches(rule, subscriber, now)


def _matches(rule: Mapping[str, Any], s: Subscriber, now: datetime) -> bool:
    if "all" in rule:
        return all(_matches(part, s, now) for part in rule["all"])
    if "any" in rule:
        return any(_matches(part, s, now) for part in rule["any"])
    field, op, value = rule["field"], rule["op"], rule.get("value")
    actual = _fact(s, field)
    if op == "exists":
        return actual is not None
    if op == "not_exists":
        return actual is None
    if isinstance(actual, datetime) or actual is None:
        if actual is None:
            return False
        cutoff = now - timedelta(days=int(value or 0))
        return actual >= cutoff if op == "within_days" else actual < cutoff
    comparisons = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return bool(comparisons[op](actual, value))


def _fact(s: Subscriber, field: str) -> Any:
    if field == "source":
        return s.source.value
    return getattr(s, field)
