"""``RateLimiter`` on the rate-limits table: one conditional ADD per request, so a limit holds under any race."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamo.conditions import condition_failed
from chalicelib.adapters.dynamo.keys import utc
from chalicelib.adapters.dynamo.tables import RateLimitRow
from chalicelib.domain.errors import TransientError


class DynamoRateLimiter:
    """Fixed-window counters: ``hits`` is ADDed to only while it is under the limit (one UpdateItem, atomic)."""

    def take(self, key: str, limit: int, expires_at: datetime) -> bool:
        """Count one request on ``key`` unless it has ``limit`` already (then False, nothing written)."""
        try:
            RateLimitRow(key).update(
                actions=[RateLimitRow.hits.add(1), RateLimitRow.expires_at.set(int(utc(expires_at).timestamp()))],
                condition=RateLimitRow.hits.does_not_exist() | (RateLimitRow.hits < limit),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise TransientError("request counters are unavailable; try again", code="temporarily_unavailable") from exc
        return True
