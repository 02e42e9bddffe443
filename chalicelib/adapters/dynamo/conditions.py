"""Conditional writes: the one place that knows how DynamoDB says 'your condition did not hold'."""

from __future__ import annotations

from pynamodb.exceptions import PutError, PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

CONDITION_FAILED = "ConditionalCheckFailedException"


def condition_failed(exc: PynamoDBException) -> bool:
    """True when a write was refused because its condition did not hold (nothing was written)."""
    return exc.cause_response_code == CONDITION_FAILED


def save_new(row: Model, condition: Condition) -> bool:
    """Put ``row`` if ``condition`` holds (typically 'key does not exist yet'); False when it did not."""
    try:
        row.save(condition=condition)
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise
    return True
