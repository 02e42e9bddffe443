"""One-time claims on the dedupe table: a conditional put succeeds for exactly one caller."""

from __future__ import annotations

from datetime import datetime

from chalicelib.adapters.dynamo.conditions import save_new
from chalicelib.adapters.dynamo.keys import utc
from chalicelib.adapters.dynamo.tables import DedupeRow


class DynamoClaims:
    """``Claims`` on the dedupe table."""

    def claim(self, key: str, at: datetime) -> bool:
        """True if this call took ``key``, False if anyone took it before."""
        # No expiry: the port promises a claim succeeds once, ever (send ledger, order ids).
        return save_new(DedupeRow(key, taken_at=utc(at)), DedupeRow.key.does_not_exist())

    def release(self, key: str) -> None:
        """Give ``key`` back (deleting a key nobody holds is fine), so the next claim succeeds."""
        DedupeRow(key).delete()

    def taken(self, key: str) -> bool:
        """True if ``key`` was claimed (and not released)."""
        try:
            DedupeRow.get(key, consistent_read=True)
        except DedupeRow.DoesNotExist:
            return False
        return True
