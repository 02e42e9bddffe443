"""Guard for the pacing benchmark (bench/pacing.py): on virtual time, a few of its rows still hold the limit at
the provider and reach 98 % of it, and a clock moved back by hours never holds a sender number.

Counts and ratios only: the simulation is seeded and its clock is virtual, so this is the same on any machine.
"""

from __future__ import annotations

import pytest

from bench.pacing import simulate
from chalicelib.domain.pacing import MAX_WAIT_MS, PacerState, decide

HOUR_MS = 3_600_000
T0 = 1_740_830_400_000


@pytest.mark.parametrize(
    ("workers", "limit", "parts"), [(1, 3, 2), (1, 10, 1), (10, 10, 1), (10, 100, 2), (50, 100, 1), (10, 1000, 1)]
)
def test_simulated_rows_hold_the_limit_at_the_provider_and_reach_it(workers: int, limit: int, parts: int) -> None:
    row = simulate(workers, limit, parts)
    assert row.fullest <= limit
    assert row.rate >= 0.98
    assert row.messages > 0


@pytest.mark.parametrize(("limit", "floor"), [(100, 0.8), (1000, 0.3)])
def test_one_worker_alone_at_a_high_rate_holds_the_limit_and_keeps_what_the_pipeline_gives(limit: int, floor: float) -> None:
    # The simulated worker does what services.sending does: groups of 49, pipelined one group deep inside a batch
    # of 98, the pipeline drained between batches. So a lone worker loses about a group's answers and settle per
    # batch (0.848 at 100 MPS), and cannot hold 1,000 MPS at all (0.328): a campaign that fast has many workers.
    row = simulate(1, limit, 1)
    assert row.fullest <= limit
    assert row.rate >= floor


def test_a_clock_moved_back_by_hours_does_not_livelock_a_number() -> None:
    # A backlog sent at the limit, the clock moved back three hours halfway, and the same backlog goes on:
    # every ask after the jump is answered with slots within max_wait, and the backlog is done in seconds.
    state, now, sent, asks = PacerState(last_ms=None), T0, 0, 0
    while sent < 500:
        asks += 1
        assert asks < 5_000, "the pacer stopped granting"
        if sent >= 250 and now > T0:
            now -= 3 * HOUR_MS + (now - T0)  # the jump back
        decision = decide(state, now, [1] * 50, 100)
        if decision.state is None:
            assert decision.wait_ms <= MAX_WAIT_MS + 1_008
            now += decision.wait_ms
            continue
        assert decision.slots_ms[0] - now <= MAX_WAIT_MS
        state, sent = decision.state, sent + len(decision.slots_ms)
        now = decision.slots_ms[-1]
    assert now - (T0 - 3 * HOUR_MS) < 5_000
