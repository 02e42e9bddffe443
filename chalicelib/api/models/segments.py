"""Segment routes: the audiences a campaign goes to, as rules over a subscriber's facts."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import BaseModel, Discriminator, Field, Tag

from chalicelib.api.models.common import Body, Out, line
from chalicelib.domain import segments as domain
from chalicelib.domain.subscribers import Source

# The domain decides which operator goes with which field; the schema lists both so it refuses what the
# domain refuses on its own (validate_rule is the rule's full check).
_FIELD_NAMES = sorted(domain.RULE_FIELDS)
_OPERATORS = sorted({op for ops in domain.RULE_FIELDS.values() for op in ops})


class Condition(Body):
    """One test of a subscriber fact; exists and not_exists take no value."""

    field: Annotated[str, Field(json_schema_extra={"enum": _FIELD_NAMES})]
    op: Annotated[str, Field(json_schema_extra={"enum": _OPERATORS})]
    value: Annotated[int, Field(ge=0, le=domain.MAX_DAYS)] | Source | None = None


class AllOf(Body):
    """Every part matches."""

    all: Annotated[list[Rule], Field(max_length=domain.MAX_CONDITIONS)]


class AnyOf(Body):
    """At least one part matches."""

    any: Annotated[list[Rule], Field(max_length=domain.MAX_CONDITIONS)]


def _kind(value: Any) -> str | None:
    # The shape picks the member, so a bad rule's errors come from the one it was meant to be.
    if isinstance(value, BaseModel):
        return type(value).__name__
    if isinstance(value, dict):
        return "AllOf" if "all" in value else "AnyOf" if "any" in value else "Condition"
    return None


Rule = Annotated[
    Union[Annotated[AllOf, Tag("AllOf")], Annotated[AnyOf, Tag("AnyOf")], Annotated[Condition, Tag("Condition")]],  # noqa: UP007
    Discriminator(_kind),
]


def rule_dict(rule: Rule) -> dict[str, Any]:
    """The rule as the domain keeps it."""
    return rule.model_dump(exclude_unset=True, mode="json")


class SegmentCreate(Body):
    """A custom segment: a name and a rule."""

    error_codes: ClassVar[dict[str, str]] = {"rule": "invalid_rule"}

    name: Annotated[str, line(100)]
    rule: Rule


class Segment(Out):
    """A segment as the API shows it; built-in ones cannot change."""

    id: str
    name: str
    rule: dict[str, Any]
    builtin: bool

    @classmethod
    def of(cls, s: domain.Segment) -> Segment:
        """Converter from the domain."""
        return cls(id=s.segment_id, name=s.name, rule=dict(s.rule), builtin=s.builtin)


class SegmentList(Out):
    """Built-ins first, then the shop's own."""

    items: list[Segment]


class SegmentCount(Out):
    """How many subscribers a segment reaches now."""

    segment_id: str
    count: int
