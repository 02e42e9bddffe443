"""Shared pacing in DynamoDB: one item per shop holds the sliding log of the last second's sends.

Every worker of the shop reads the log, lets ``domain.pacing.reserve`` decide, and writes the new log back
only if nobody else wrote in between (a version condition). A lost race is retried with a fresh read, so
two workers can never both take the last room in a window.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamo.conditions import condition_failed
from chalicelib.adapters.dynamo.tables import PacerRow
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.pacing import reserve
from chalicelib.services.ports import Clock

ATTEMPTS = 10
# After ATTEMPTS lost races the item is hot: back off briefly and let the caller ask again.
CONTENDED_WAIT_MS = 25


def _parse_log(raw: Any) -> tuple[tuple[int, int], ...]:
    # Written only by this adapter; anything else is dropped rather than trusted.
    if not isinstance(raw, list):
        return ()
    entries: list[tuple[int, int]] = []
    for entry in raw:
        if isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in entry):
            entries.append((entry[0], entry[1]))
    return tuple(entries)


class DynamoPacer:
    """``Pacer`` on the pacers table, timed by ``clock``."""

    def __init__(self, clock: Clock, *, attempts: int = ATTEMPTS) -> None:
        self._clock = clock
        self._attempts = attempts

    def reserve(self, shop_id: str, parts: int, limit: int) -> int:
        """Take room for ``parts`` message parts now (0), or take nothing and return milliseconds to wait."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput("the sending limit must be at least one message part per second", code="invalid_mps")
        if parts < 1:
            return 0
        for _ in range(self._attempts):
            try:
                row = PacerRow.get(shop_id, consistent_read=True)
                log, version = _parse_log(row.log), int(row.version or 0)
            except PacerRow.DoesNotExist:
                log, version = (), 0
            # Read the clock after the log, so with one shared clock no stored entry is later than "now".
            clock_ms = int(self._clock.now().timestamp() * 1000)
            # Across machines clocks differ by a few ms; a lagging worker must count entries "from the future"
            # rather than drop them, so it acts as if it were at the latest logged send.
            now_ms = max([clock_ms, *(at for at, _ in log)])
            outcome = reserve(log, now_ms, parts, limit)
            if outcome.log is None:
                return outcome.wait_ms + (now_ms - clock_ms)
            condition = PacerRow.shop_id.does_not_exist() if version == 0 else PacerRow.version == version
            try:
                PacerRow(shop_id, log=[list(entry) for entry in outcome.log], version=version + 1).save(condition=condition)
            except PutError as exc:
                if condition_failed(exc):
                    continue  # another worker wrote first: decide again on what it wrote
                raise
            return 0  # room taken: the caller must send now, not wait and ask again (that would take it twice)
        return CONTENDED_WAIT_MS
