"""Pacing: never more than the shop's MPS in message parts in any sliding second, and close to it while work waits.

Everything runs on a virtual millisecond clock: a greedy sender asks reserve() for room and, when refused,
jumps ahead by exactly the wait it was told. No test sleeps or reads the real clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.pacing import WINDOW_MS, reserve, window_peak

Log = tuple[tuple[int, int], ...]


def _brute_peak(sends: list[tuple[int, int]]) -> int:
    """Most parts in any window (x - 1 s, x]; the busiest window always ends at some send."""
    return max((sum(n for at, n in sends if x - WINDOW_MS < at <= x) for x, _ in sends), default=0)


# --- reserve, one call at a time ------------------------------------------------------------------------------


def test_an_empty_log_admits_and_records_the_send() -> None:
    outcome = reserve((), 5000, 3, 10)
    assert outcome.log == ((5000, 3),) and outcome.wait_ms == 0


def test_the_window_is_the_last_second_inclusive_of_now() -> None:
    # An entry exactly one second old has left the window; one a millisecond younger has not.
    assert reserve(((4000, 10),), 5000, 1, 10).log == ((5000, 1),)
    refused = reserve(((4001, 10),), 5000, 1, 10)
    assert refused.log is None and refused.wait_ms == 1
    assert reserve(((5000, 9),), 5000, 1, 10).log == ((5000, 9), (5000, 1))  # same millisecond, room left


def test_old_entries_are_dropped_from_the_stored_log() -> None:
    log: Log = ((1000, 1), (3500, 2), (4200, 3))
    assert reserve(log, 5000, 1, 10).log == ((4200, 3), (5000, 1))


def test_a_refusal_waits_for_just_enough_of_the_oldest_sends_to_leave() -> None:
    log: Log = ((4100, 4), (4300, 3), (4900, 3))  # 10 used of 10
    assert reserve(log, 5000, 4, 10).wait_ms == 100  # (4100, 4) leaves at 5100: room for 4
    assert reserve(log, 5000, 5, 10).wait_ms == 300  # 4 is not enough: wait for (4300, 3) as well
    assert reserve(log, 5000, 10, 10).wait_ms == 900


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(st.tuples(st.integers(0, 2999), st.integers(1, 10)), max_size=25),
    parts=st.integers(1, 12),
    limit=st.integers(1, 50),
)
def test_reserve_admits_exactly_when_there_is_room_and_waits_exactly_long_enough(
    entries: list[tuple[int, int]], parts: int, limit: int
) -> None:
    now = 3000
    log: Log = tuple(sorted(entries))
    used = sum(n for at, n in log if at > now - WINDOW_MS)
    taken = min(parts, limit)
    outcome = reserve(log, now, parts, limit)
    if used + taken <= limit:
        assert outcome.log is not None and outcome.wait_ms == 0
        assert sum(n for _, n in outcome.log) == used + taken <= limit
        assert all(at > now - WINDOW_MS for at, _ in outcome.log)
        return
    assert outcome.log is None and 1 <= outcome.wait_ms <= WINDOW_MS
    later = reserve(log, now + outcome.wait_ms, parts, limit)
    assert later.log is not None, "after the wait there must be room"
    if outcome.wait_ms > 1:
        assert reserve(log, now + outcome.wait_ms - 1, parts, limit).log is None, "the wait is the shortest that works"


def test_a_message_with_more_parts_than_the_limit_goes_out_alone() -> None:
    # Twelve parts at 5 a second can never fit a window, and splitting one SMS is not ours to do: it waits
    # for an empty window, goes alone, and fills the log so nothing joins it for a second.
    assert reserve(((4500, 1),), 5000, 12, 5).wait_ms == 500
    alone = reserve((), 5000, 12, 5)
    assert alone.log == ((5000, 5),)
    assert reserve(alone.log, 5999, 1, 5).log is None
    assert reserve(alone.log, 5999, 1, 5).wait_ms == 1
    assert reserve(alone.log, 6000, 1, 5).log == ((6000, 1),)


# --- window_peak --------------------------------------------------------------------------------------------------


def test_window_peak_by_hand() -> None:
    assert window_peak([]) == 0
    assert window_peak([(0, 3)]) == 3
    assert window_peak([(0, 3), (999, 4)]) == 7
    assert window_peak([(0, 3), (1000, 4)]) == 4  # a second apart: never in the same window
    assert window_peak([(1000, 4), (0, 3), (1000, 2)]) == 6  # unsorted, two at one millisecond


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4000).map(lambda ms: ms - ms % 250 if ms % 3 == 0 else ms), st.integers(1, 10))))
def test_window_peak_matches_a_brute_force_count(sends: list[tuple[int, int]]) -> None:
    assert window_peak(sends) == _brute_peak(sends)


# --- a greedy sender on a virtual clock ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    arrived: int
    at: int
    parts: int  # real parts of the message
    taken: int  # parts recorded in the log (capped at the limit)


def _simulate(arrivals: list[tuple[int, int]], limit: int) -> tuple[list[Sent], list[tuple[int, int]]]:
    """FIFO: each message waits for room, exactly as long as reserve() says; returns sends and refusals."""
    log: Log = ()
    now = 0
    sent: list[Sent] = []
    refusals: list[tuple[int, int]] = []  # (time, parts of the blocked head)
    for arrived, parts in arrivals:
        now = max(now, arrived)
        for _ in range(10_000):  # a bound, so a pacer that never admits fails the test instead of hanging it
            outcome = reserve(log, now, parts, limit)
            if outcome.log is not None:
                log = outcome.log
                sent.append(Sent(arrived, now, parts, min(parts, limit)))
                break
            assert outcome.wait_ms >= 1  # never a busy loop
            refusals.append((now, parts))
            now += outcome.wait_ms
        else:
            raise AssertionError(f"a {parts}-part message was never admitted at a limit of {limit}")
    return sent, refusals


def _arrivals(rng: random.Random, limit: int, max_parts: int, load: float, count: int) -> list[tuple[int, int]]:
    """Poisson arrivals offering ``load`` times the limit in parts; a load below 1 leaves idle gaps."""
    mean_parts = (1 + max_parts) / 2
    per_ms = limit * load / mean_parts / 1000
    t, out = 0, []
    for _ in range(count):
        t += int(rng.expovariate(per_ms))
        out.append((t, rng.randint(1, max_parts)))
    return out


def _busy_periods(sent: list[Sent]) -> list[list[Sent]]:
    """Maximal runs during which some message was waiting (arrived and not yet sent)."""
    periods: list[list[Sent]] = []
    end = -1
    for s in sent:  # FIFO: arrivals and sends are both in order
        if periods and s.arrived < end:
            periods[-1].append(s)
        else:
            periods.append([s])
        end = max(end, s.at)
    return periods


def _window_sum(sent: list[Sent], end: int) -> int:
    return sum(s.taken for s in sent if end - WINDOW_MS < s.at <= end)


SCENARIOS = [(seed, random.Random(seed).randint(1, 50), random.Random(-seed).randint(1, 10)) for seed in range(40)]


@pytest.mark.parametrize(("seed", "limit", "max_parts"), SCENARIOS)
@pytest.mark.parametrize("load", [0.6, 1.5, 4.0])
def test_greedy_sender_never_exceeds_the_limit_and_wastes_no_room(seed: int, limit: int, max_parts: int, load: float) -> None:
    rng = random.Random(seed * 31 + int(load * 10))
    arrivals = _arrivals(rng, limit, max_parts, load, 300)
    sent, refusals = _simulate(arrivals, limit)

    assert [s.arrived for s in sent] == [a for a, _ in arrivals]  # FIFO, nobody lost
    assert all(s.at >= s.arrived for s in sent)
    assert window_peak([(s.at, s.taken) for s in sent]) <= limit
    # Counting real parts, a window can only be over the limit because of one long message sent alone.
    for s in sent:
        window = [o for o in sent if s.at - WINDOW_MS < o.at <= s.at]
        if sum(o.parts for o in window) > limit:
            assert len(window) == 1 and window[0].parts > limit

    # Work-conserving: a refusal means the last second really holds more than limit - parts.
    for at, parts in refusals:
        assert _window_sum(sent, at) > limit - min(parts, limit)

    # Hence throughput while work waits: in a busy period [start, end], each whole second counted back from
    # the last send holds at least limit - (largest message) + 1 parts.
    for period in _busy_periods(sent):
        start, end = period[0].arrived, period[-1].at
        biggest = max(s.taken for s in period)
        whole_seconds = (end - start) // WINDOW_MS
        admitted = sum(s.taken for s in sent if start - WINDOW_MS < s.at <= end)
        assert admitted >= whole_seconds * (limit - biggest + 1) + period[-1].taken


@pytest.mark.parametrize("seed", range(20))
def test_throughput_stays_near_the_limit_while_work_is_queued(seed: int) -> None:
    # Messages small next to the limit (at most a tenth of it), offered at three times the limit.
    rng = random.Random(1000 + seed)
    limit = rng.randint(10, 50)
    sent, _ = _simulate(_arrivals(rng, limit, max(1, limit // 10), 3.0, 600), limit)
    long_periods = [p for p in _busy_periods(sent) if p[-1].at - p[0].arrived >= 5 * WINDOW_MS]
    assert long_periods, "the load should keep the sender busy for seconds at a time"
    for period in long_periods:
        start, end = period[0].arrived, period[-1].at
        admitted = sum(s.taken for s in period)
        seconds = (end - start) / WINDOW_MS + 1  # the last send still occupies a window
        assert admitted >= 0.9 * limit * seconds, (admitted, limit, seconds)


def test_a_backlog_at_one_part_each_runs_at_exactly_the_limit() -> None:
    limit = 7
    sent, _ = _simulate([(0, 1)] * (limit * 10), limit)
    assert [s.at for s in sent] == [second * 1000 for second in range(10) for _ in range(limit)]


def test_long_messages_at_a_limit_of_one_go_one_per_second() -> None:
    sent, _ = _simulate([(0, 10), (0, 3), (0, 1)], 1)
    assert [(s.at, s.taken) for s in sent] == [(0, 1), (1000, 1), (2000, 1)]
