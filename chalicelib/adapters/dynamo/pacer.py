"""Shared pacing in DynamoDB: one small item per sender number (domain/pacing.py's ``PacerState``).

A grant is ``decide`` on the state and one PutItem conditioned on that state's version, so two workers can never
both take the same instants. The state is what this worker itself wrote last, when it wrote last (one call per
grant while it has the number to itself, as a campaign's worker mostly does), else a strongly consistent GetItem.
A lost race re-reads and decides again, a bounded number of times; then the caller is told to come back
shortly. A refusal (the number is booked too far ahead) costs the read at most, and the wait it answers is
spread out at random by up to ``RETRY_JITTER_MS``. Deciding on its own last write is safe: if anyone wrote since,
the number is booked further ahead than it knows, so a refusal is only early and a grant fails its condition.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamo.conditions import condition_failed
from chalicelib.adapters.dynamo.tables import PacerRow
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.pacing import GRANT_LEAD_MS, RETRY_JITTER_MS, PacerState, Slots, decide, epoch_ms, slots_of
from chalicelib.services.ports import Clock

ATTEMPTS = 4
# The head start of a grant's first slot follows how long this worker's writes take: twice a moving average of
# them, from GRANT_LEAD_MS (DynamoDB's few milliseconds) up to MAX_LEAD_MS (a busy local stand-in), so the write
# is back before its first slot falls due and the slots are not missed.
MAX_LEAD_MS = 200
_LATENCY_WEIGHT = 0.2
# After ATTEMPTS lost races the item is hot: back off briefly and let the caller ask again.
CONTENDED_WAIT = timedelta(milliseconds=10)


def _state(row: PacerRow) -> PacerState:
    last_ms = row.last_ms
    return PacerState(
        last_ms=None if last_ms is None else int(last_ms),
        last_parts=int(row.last_parts or 1),
        last_sub_us=int(row.last_sub_us or 0),
    )


class DynamoPacer:
    """``Pacer`` on the pacers table, timed by ``clock``."""

    def __init__(
        self, clock: Clock, *, attempts: int = ATTEMPTS, lead_ms: int = GRANT_LEAD_MS, jitter_ms: int = RETRY_JITTER_MS
    ) -> None:
        self._clock = clock
        self._attempts = attempts
        self._lead_ms = lead_ms
        self._jitter_ms = jitter_ms
        self._written: dict[str, tuple[PacerState, int]] = {}  # number -> the state and version this worker wrote
        self._write_ms = 0.0  # moving average of how long a grant's write took, on the clock

    @property
    def lead_ms(self) -> int:
        """How far ahead of now the next grant's first slot starts."""
        return int(min(MAX_LEAD_MS, max(self._lead_ms, 2 * self._write_ms)))

    def grant(self, number: str, limit: int, parts: Sequence[int]) -> Slots:
        """Send instants for a prefix of ``parts`` at ``number`` under ``limit`` parts a second, or a wait."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput("the sending limit must be at least one message part per second", code="invalid_mps")
        if not parts:
            return Slots(at=())
        for _ in range(self._attempts):
            known = self._written.pop(number, None)
            if known is not None:
                state, version = known
            else:
                try:
                    row = PacerRow.get(number, consistent_read=True)
                    state, version = _state(row), int(row.version or 0)
                except PacerRow.DoesNotExist:
                    state, version = PacerState(last_ms=None), 0
            # The clock is read after the item, so with one shared clock the stored instant is never "from
            # the future" except after a real jump back, which decide() recognises.
            started_ms = epoch_ms(self._clock.now())
            decision = decide(state, started_ms + self.lead_ms, parts, limit)
            if decision.state is None:
                if known is not None:
                    self._written[number] = known  # still the best this worker knows; a wait needs no write
                refused = slots_of(decision)
                # Spread the waiters out (see RETRY_JITTER_MS); not a secret, so the plain generator will do.
                jitter = timedelta(milliseconds=random.uniform(0, self._jitter_ms))
                return Slots(at=(), retry_after=refused.retry_after + jitter)
            new = decision.state
            condition = PacerRow.number.does_not_exist() if version == 0 else PacerRow.version == version
            row = PacerRow(
                number, last_ms=new.last_ms, last_parts=new.last_parts, last_sub_us=new.last_sub_us, version=version + 1
            )
            try:
                row.save(condition=condition)
            except PutError as exc:
                if condition_failed(exc):
                    continue  # another worker took instants first: decide again on what it wrote
                raise
            self._written[number] = (new, version + 1)
            took = max(0, epoch_ms(self._clock.now()) - started_ms)
            self._write_ms += _LATENCY_WEIGHT * (took - self._write_ms)
            return slots_of(decision)
        return Slots(at=(), retry_after=CONTENDED_WAIT)
