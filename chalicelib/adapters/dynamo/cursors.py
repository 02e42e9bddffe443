"""Opaque page cursors: a DynamoDB LastEvaluatedKey as urlsafe base64 of compact JSON, checked on the way back.

A cursor comes back from the caller, so it is untrusted input: decoding refuses anything that is not
exactly the key shape the query expects, and repositories also check that it belongs to the caller's
partition (tenant) before handing it to DynamoDB.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from chalicelib.domain.errors import InvalidInput

MAX_CURSOR_LENGTH = 1024
MIN_LIMIT = 1
MAX_LIMIT = 200
_NUMBER = re.compile(r"^-?\d{1,38}(\.\d{1,38})?$")


def _invalid(why: str) -> InvalidInput:
    return InvalidInput(f"invalid cursor: {why}", code="invalid_cursor")


def _compact(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def encode_cursor(last_evaluated_key: dict[str, Any]) -> str:
    """The opaque cursor for a LastEvaluatedKey (DynamoDB wire format, e.g. {"phone": {"S": "+1..."}})."""
    # Padding is dropped so the cursor can sit in a query string without escaping.
    return base64.urlsafe_b64encode(_compact(last_evaluated_key)).decode("ascii").rstrip("=")


def _valid_value(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, raw),) = value.items()
    if kind == "S":
        return isinstance(raw, str) and raw != ""
    if kind == "N":
        return isinstance(raw, str) and bool(_NUMBER.match(raw))
    return False


def decode_cursor(cursor: str, *, expected_keys: set[str]) -> dict[str, Any]:
    """The LastEvaluatedKey inside ``cursor``; InvalidInput (code ``invalid_cursor``) if malformed or tampered."""
    if not isinstance(cursor, str) or not cursor:
        raise _invalid("must be a non-empty string")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise _invalid("too long")
    try:
        raw = cursor.encode("ascii")
        padded = raw + b"=" * (-len(raw) % 4)
        # validate=True refuses characters outside the alphabet instead of silently skipping them.
        decoded = base64.b64decode(padded, altchars=b"-_", validate=True)
        data = json.loads(decoded.decode("utf-8"))
    except (UnicodeError, binascii.Error, ValueError) as exc:
        raise _invalid("not a cursor this service issued") from exc
    if not isinstance(data, dict) or set(data) != expected_keys:
        raise _invalid("wrong shape")
    if not all(_valid_value(value) for value in data.values()):
        raise _invalid("wrong key types")
    # Only the exact encoding we produce is accepted, so edited variants of a valid cursor are refused too.
    if encode_cursor(data) != cursor:
        raise _invalid("not in canonical form")
    return data


def require_partition(key: dict[str, Any], attribute: str, value: str) -> None:
    """Refuse a cursor whose hash key is not the partition being read (another tenant's, say)."""
    if key.get(attribute) != {"S": value}:
        raise _invalid("does not belong to this listing")


def validate_limit(limit: Any) -> int:
    """A page size from 1 to 200, else InvalidInput with code ``invalid_limit``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not MIN_LIMIT <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from {MIN_LIMIT} to {MAX_LIMIT}", code="invalid_limit")
    return limit
