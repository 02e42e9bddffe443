"""One-time claims on the dedupe table: a conditional put succeeds for exactly one caller."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamo.subscribers import utc
from chalicelib.adapters.dynamo.tables import DedupeRow


class DynamoClaims:
    """``Claims`` on the dedupe table."""

    def claim(self, key: str, at: datetime) -> bool:
        """True if this call took ``key``, False if anyone took it before."""
        # No expiry: the port promises a claim succeeds once, ever (send ledger, order ids).
        try:
            DedupeRow(key, taken_at=utc(at)).save(condition=DedupeRow.key.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, key: str) -> None:
        """Give ``key`` back (deleting a key nobody holds is fine), so the next claim succeeds."""
        DedupeRow(key).delete()
