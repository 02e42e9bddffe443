"""Pacing (domain/pacing.py): no sliding second at the provider ever holds more than the limit in message parts,
even with every send landing anywhere within MARGIN_MS of its slot, and the spacing stays close to the limit.

Everything runs on virtual milliseconds: no test sleeps or reads the real clock.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.pacing import (
    COURTESY_MS,
    GRANT_LEAD_MS,
    HORIZON_MS,
    LATE_TOLERANCE_MS,
    MARGIN_MS,
    MAX_WAIT_MS,
    PRIOR_GRANT_BACKOFF_MS,
    RETRY_JITTER_MS,
    WINDOW_MS,
    Decision,
    PacerState,
    Slots,
    decide,
    gap_us,
    on_time,
    rebook_at_ms,
    retry_ms,
    slots_of,
    window_peak,
)

W = WINDOW_MS + MARGIN_MS  # the pacer's second
W_US = W * 1000
T0 = 1_740_830_400_000  # 2025-03-01 12:00 UTC in ms
EMPTY = PacerState(last_ms=None)
LIMITS = [*range(1, 41), 100, 1000, 3000]


def _brute_peak(sends: list[tuple[int, int]]) -> int:
    """Most parts in any window (x - 1 s, x]; the busiest window always ends at some send."""
    return max((sum(n for at, n in sends if x - WINDOW_MS < at <= x) for x, _ in sends), default=0)


def _run(limit: int, parts: list[int], rng: random.Random, *, idle: float = 0.0, request: int = 50) -> list[tuple[int, int]]:
    """Ask ``decide`` for ``parts`` in requests of up to ``request``, sleeping exactly as told (or longer, at
    random, when ``idle``): the (ms, parts) of every granted slot."""
    state, now, todo, sent = EMPTY, T0, list(parts), []
    for _ in range(100_000):
        if not todo:
            return sent
        decision = decide(state, now, todo[:request], limit)
        if decision.state is None:
            assert decision.wait_ms >= 1 and not decision.slots_ms
            now += decision.wait_ms
            continue
        got = len(decision.slots_ms)
        sent += [(at, min(p, limit)) for at, p in zip(decision.slots_ms, todo, strict=False)]
        todo = todo[got:]
        state = decision.state
        now = decision.slots_ms[-1] if rng.random() >= idle else decision.slots_ms[-1] + rng.randint(0, 3 * W)
    raise AssertionError("the pacer never granted everything")


# --- the spacing rule, exhaustively -----------------------------------------------------------------------------


def _most_parts_in_a_window(limit: int, max_parts: int) -> int:
    """The most parts any run of messages (1..max_parts each) can carry while its gaps sum to less than W.

    Exhaustive over every sequence: a search over (last message's parts, gaps used so far)."""
    best, frontier = 0, {}
    for p in range(1, max_parts + 1):
        key = (min(p, limit), 0)
        frontier[key] = max(frontier.get(key, 0), min(p, limit))
    seen = dict(frontier)
    while frontier:
        following: dict[tuple[int, int], int] = {}
        for (last, used), total in frontier.items():
            best = max(best, total)
            for p in range(1, max_parts + 1):
                clamped = min(p, limit)
                spent = used + gap_us(last, clamped, limit, W_US)
                if spent >= W_US:
                    continue
                if seen.get((clamped, spent), -1) < total + clamped:
                    seen[(clamped, spent)] = following[(clamped, spent)] = total + clamped
        frontier = following
    return best


@pytest.mark.parametrize("limit", [*range(1, 41), 100])
def test_no_sequence_of_messages_of_1_to_4_parts_overfills_a_window(limit: int) -> None:
    assert _most_parts_in_a_window(limit, 4) <= limit


def test_the_max_rule_would_not_be_safe() -> None:
    # W / floor(L / max(p_prev, p_next)) lets 2, 2, 3 parts share a window at L=6: 1/3 + 1/2 of a window apart.
    assert 2 * W // 6 + W // 2 < W and 2 + 2 + 3 > 6
    assert gap_us(2, 2, 6, W_US) + gap_us(2, 3, 6, W_US) >= W_US  # ours does not


@pytest.mark.parametrize(
    ("limit", "parts", "per_window"), [(3, 2, 1), (3, 1, 3), (5, 2, 2), (100, 3, 33), (3000, 1, 3000), (1000, 2, 500)]
)
def test_uniform_messages_are_spaced_w_over_floor_l_over_p(limit: int, parts: int, per_window: int) -> None:
    assert gap_us(parts, parts, limit, W_US) == -(-W_US // per_window)


def test_a_change_of_part_count_waits_at_least_half_a_window() -> None:
    assert gap_us(1, 2, 100, W_US) == W_US // 2
    assert gap_us(2, 1, 100, W_US) == W_US // 2
    assert gap_us(1, 3, 3, W_US) == W_US  # a 3-part message at L=3 fills a window alone


# --- decide, one call at a time ----------------------------------------------------------------------------------


def test_an_empty_state_grants_from_now_evenly_spaced() -> None:
    decision = decide(EMPTY, T0, [1] * 5, 10)
    assert decision.slots_ms == tuple(T0 + i * W // 10 for i in range(5))
    assert decision.wait_ms == 0
    assert decision.state == PacerState(last_ms=T0 + 403, last_parts=1, last_sub_us=200)


def test_slots_continue_exactly_where_the_last_grant_ended_even_below_a_millisecond() -> None:
    # 3,000 MPS: 336 us apart. Asked in many small calls, the lattice loses nothing to rounding.
    state, slots = EMPTY, []
    for _ in range(60):
        decision = decide(state, T0, [1] * 50, 3000, max_wait_ms=10_000)
        assert decision.state is not None
        state, slots = decision.state, [*slots, *decision.slots_ms]
    assert slots == [T0 + i * 336 // 1000 for i in range(3000)]
    assert window_peak([(at, 1) for at in slots], W) == 3000


def test_grants_a_prefix_up_to_the_horizon_and_never_more_than_asked() -> None:
    assert len(decide(EMPTY, T0, [1] * 3, 100).slots_ms) == 3
    many = decide(EMPTY, T0, [1] * 500, 100)
    assert len(many.slots_ms) == 100  # 0 .. 99 * 10.08 ms; the next would be past one horizon
    assert many.slots_ms[-1] - many.slots_ms[0] <= HORIZON_MS
    assert list(many.slots_ms) == sorted(many.slots_ms)


def test_a_number_booked_beyond_max_wait_says_when_to_ask_again() -> None:
    booked = decide(EMPTY, T0, [1] * 100, 100).state
    assert booked is not None
    refused = decide(booked, T0, [1], 100)
    assert refused == Decision(slots_ms=(), wait_ms=1008 - MAX_WAIT_MS, state=None)
    later = decide(booked, T0 + refused.wait_ms, [1], 100)
    assert later.slots_ms == (T0 + 1008,)  # then exactly max_wait ahead
    assert decide(booked, T0 + refused.wait_ms - 1, [1], 100).state is None


def test_parts_are_clamped_to_the_limit_and_an_empty_ask_takes_nothing() -> None:
    alone = decide(EMPTY, T0, [12, 1], 5)
    assert alone.slots_ms == (T0,) and alone.state is not None and alone.state.last_parts == 5
    assert decide(EMPTY, T0, [], 5) == Decision(slots_ms=(), wait_ms=0, state=None)
    with pytest.raises(ValueError, match="at least one"):
        decide(EMPTY, T0, [1], 0)


def test_a_forward_jump_starts_slots_at_the_new_now() -> None:
    state = decide(EMPTY, T0, [1] * 5, 5).state
    assert state is not None
    assert decide(state, T0 + 3_600_000, [1], 5).slots_ms == (T0 + 3_600_000,)


def test_a_backward_jump_of_hours_resets_instead_of_waiting() -> None:
    state = decide(EMPTY, T0 + 3 * 3_600_000, [1] * 100, 100).state
    assert state is not None
    assert decide(state, T0, [1, 1], 100).slots_ms == (T0, T0 + 10)


def test_a_small_backward_jump_still_respects_what_was_granted() -> None:
    # Within what a grant can legitimately reach, the stored instant may be real: wait for it.
    state = decide(EMPTY, T0, [1] * 100, 100).state
    assert state is not None and state.last_ms is not None
    refused = decide(state, T0 - 500, [1], 100)
    assert refused.state is None and refused.wait_ms == 1008 + 500 - MAX_WAIT_MS


def test_on_time_allows_the_tolerance_and_no_more() -> None:
    # The clock is read in whole milliseconds (rounded down): T0 + 2 may really be T0 + 2.999, never later.
    assert on_time(T0, T0 - 5) and on_time(T0, T0) and on_time(T0, T0 + LATE_TOLERANCE_MS - 1)
    assert not on_time(T0, T0 + LATE_TOLERANCE_MS)


def test_the_asking_order_puts_newcomers_first_and_never_lets_the_number_idle() -> None:
    # Told to come back at "room - MAX_WAIT_MS" (+ jitter): a newcomer, then workers granted before, then holders.
    newcomer_latest = retry_ms(RETRY_JITTER_MS, granted_before=False)
    others_earliest = retry_ms(0, granted_before=True)
    assert newcomer_latest <= others_earliest
    holder_asks = rebook_at_ms(T0) - (T0 - MAX_WAIT_MS)  # relative to the moment the number has room again
    assert retry_ms(RETRY_JITTER_MS, granted_before=True) <= holder_asks
    # Everyone has asked while the booked slots still reach further ahead than a grant's lead.
    assert MAX_WAIT_MS - holder_asks > GRANT_LEAD_MS
    assert PRIOR_GRANT_BACKOFF_MS + RETRY_JITTER_MS <= COURTESY_MS


def test_margin_keeps_nearly_the_whole_limit() -> None:
    assert WINDOW_MS / W >= 0.99
    assert MARGIN_MS >= LATE_TOLERANCE_MS and GRANT_LEAD_MS > 0


def test_slots_of_gives_utc_instants_or_a_wait() -> None:
    granted = slots_of(Decision(slots_ms=(T0, T0 + 5), wait_ms=0, state=EMPTY))
    start = datetime(2025, 3, 1, 12, tzinfo=timezone.utc)
    assert granted == Slots(at=(start, start + timedelta(milliseconds=5)))
    assert slots_of(Decision(slots_ms=(), wait_ms=40, state=None)) == Slots(at=(), retry_after=timedelta(milliseconds=40))


# --- schedules: any limit, any parts, at the provider ----------------------------------------------------------------


@pytest.mark.parametrize("limit", LIMITS)
def test_random_part_sequences_never_overfill_a_window_at_the_provider(limit: int) -> None:
    rng = random.Random(limit)
    count = min(400, 6 * limit + 40)
    for idle in (0.0, 0.3):
        parts = [rng.randint(1, 4) for _ in range(count)]
        sent = _run(limit, parts, rng, idle=idle)
        assert len(sent) == count
        assert window_peak(sent, W) <= limit  # the pacer's own bound
        # Each send reaches the provider anywhere in [slot, slot + margin]: no real second overflows.
        arrivals = [(at * 1000 + rng.randint(0, MARGIN_MS * 1000), p) for at, p in sent]
        assert window_peak(arrivals, WINDOW_MS * 1000) <= limit
        # The adversary's worst: the first message of each window late by the whole margin, the others early.
        squeezed = [(at * 1000 + (MARGIN_MS * 1000 if i % 7 == 0 else 0), p) for i, (at, p) in enumerate(sent)]
        assert window_peak(squeezed, WINDOW_MS * 1000) <= limit


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize("parts", [1, 2])
def test_uniform_backlog_runs_at_floor_l_over_p_per_window(limit: int, parts: int) -> None:
    per_window = limit // parts
    if per_window == 0:
        return
    count = max(3 * per_window, 10)
    sent = _run(limit, [parts] * count, random.Random(0))
    span = sent[-1][0] - sent[0][0]
    # count - 1 gaps of W / per_window, rounded to the microsecond and then to the millisecond.
    assert abs(span - (count - 1) * W / per_window) <= 1 + (count - 1) / 1000
    assert window_peak(sent, W) == per_window * parts


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(1, 60),
    parts=st.lists(st.integers(1, 6), min_size=1, max_size=60),
    jitter=st.lists(st.integers(0, MARGIN_MS * 1000), min_size=60, max_size=60),
)
def test_any_parts_any_arrival_within_the_margin_holds_the_limit(limit: int, parts: list[int], jitter: list[int]) -> None:
    sent = _run(limit, parts, random.Random(limit), request=7)
    arrivals = [(at * 1000 + jitter[i % len(jitter)], p) for i, (at, p) in enumerate(sent)]
    assert window_peak(arrivals, WINDOW_MS * 1000) <= limit


# --- window_peak --------------------------------------------------------------------------------------------------


def test_window_peak_by_hand() -> None:
    assert window_peak([]) == 0
    assert window_peak([(0, 3)]) == 3
    assert window_peak([(0, 3), (999, 4)]) == 7
    assert window_peak([(0, 3), (1000, 4)]) == 4  # a second apart: never in the same window
    assert window_peak([(1000, 4), (0, 3), (1000, 2)]) == 6  # unsorted, two at one millisecond
    assert window_peak([(0, 3), (1000, 4)], 1008) == 7  # the pacer's longer second


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4000).map(lambda ms: ms - ms % 250 if ms % 3 == 0 else ms), st.integers(1, 10))))
def test_window_peak_matches_a_brute_force_count(sends: list[tuple[int, int]]) -> None:
    assert window_peak(sends) == _brute_peak(sends)
