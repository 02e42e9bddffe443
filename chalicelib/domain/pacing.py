"""Pacing: never more than a sender number's MPS in message parts in any sliding second AT THE PROVIDER.

The state is constant-size whatever the rate: the exact scheduled instant of the last granted message and its
part count (a GCRA-style "next free instant"). ``decide`` hands out several evenly spaced send instants per call
(about a second's worth), so one DynamoDB read and one conditional write cover many messages.

Latency model (what ``MARGIN_MS`` buys). A message granted the slot ``s`` reaches the provider at
``s + offset`` where the offset, beyond a constant transit time that cancels out, stays within a band of width
``MARGIN_MS``:
- ``LATE_TOLERANCE_MS``: a worker sends less than this after its slot (``on_time``); later, it gives the
  slot up, because a late send squeezes the spacing to the next one (and never sends before its slot);
- ``ARRIVAL_JITTER_MS``: the spread of the time from the worker's call to the provider's clock (same region,
  kept-alive HTTPS connection);
- ``CLOCK_SKEW_MS``: the spread between workers' clocks (Lambda hosts follow the Amazon Time Sync Service).
So the pacer spaces messages as if a second were ``W = 1000 + MARGIN_MS`` ms: if any half-open interval of
``W`` ms holds at most ``limit`` parts of slots, any half-open second at the provider does too (a send that
arrives in ``[t, t + 1000)`` had its slot in ``[t - MARGIN_MS, t + 1000)``). The price is ``1000 / W`` of the
limit (0.992 at 8 ms); a lateness, jitter or skew beyond the model can break the limit by one message.

Spacing. ``n(p) = floor(L / p)`` messages of ``p`` parts fit ``W``: uniform messages go exactly ``W / n(p)``
apart (not ``p * W / L``, which lets two 2-part messages into one window at L=3). Between messages of
DIFFERENT part counts no pairwise rule that keeps the uniform spacing exact is safe (``W / n(max(a, b))``
lets 2, 2, 3 parts into one window at L=6, found by the exhaustive check in tests/unit/test_pacing.py), so a
change of part count waits the larger of half a window and the exact bound for one change in a window:
with every change at least ``W / 2`` apart, a window holds at most one change, and the bound makes the
tail of the old run plus the head of the new one fit. Mixed traffic pays for it (two changes a second at
most), so a sender should group a batch's messages by part count.

Time is kept in microseconds inside (at 3,000 MPS messages are 336 us apart) and slots are whole
milliseconds, rounded down: rounding every instant down keeps every window's count.

Clock jumps. Forward: slots simply start at the new now. Backward: a stored last instant further ahead of
now than any grant could reach (``max_wait + horizon`` plus one gap) can only come from a clock that moved
back; waiting for it would hold the number for as long as the jump, so the state is dropped and slots start
now. Slots handed out before the jump lie in the old future: a worker holding one must not sleep towards it.
A worker's clock that lags the others by more than about a second would reset the number too; AWS clocks are
within a millisecond of each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from functools import lru_cache
from itertools import pairwise

WINDOW_MS = 1000
LATE_TOLERANCE_MS = 3
ARRIVAL_JITTER_MS = 4
CLOCK_SKEW_MS = 1
MARGIN_MS = LATE_TOLERANCE_MS + ARRIVAL_JITTER_MS + CLOCK_SKEW_MS  # 8: 1000 / 1008 = 0.992 of the limit
HORIZON_MS = 1000  # one call grants at most about a second of slots: a newcomer waits about that much
MAX_WAIT_MS = 250  # a first slot further ahead than this is not granted: ask again later
# Slots start this long after the clock is read, so the conditional write that takes them (a few ms, a tail of
# tens) is back before the first one falls due; a worker answered later still drops the slots it missed.
GRANT_LEAD_MS = 25
# A refused worker waits what it was told plus up to this much at random: otherwise every waiter comes back at
# the same instant, all but one lose the conditional write, and the worker whose clock runs fastest wins every time.
RETRY_JITTER_MS = 50
# How a worker should ask (the order in which waiters come back decides who gets the next second of a saturated
# number, since the first to write wins): a worker never granted anything yet comes back as told; one that has
# been granted before comes back PRIOR_GRANT_BACKOFF_MS later; one still holding slots asks for more only
# COURTESY_MS after waiters could have (``rebook_at_ms``). So a new Send Now's worker takes the next round, the
# others share the rest, and the number never idles (everyone asks while the booked slots still reach more than
# GRANT_LEAD_MS ahead).
PRIOR_GRANT_BACKOFF_MS = 100
COURTESY_MS = 150
US_PER_MS = 1000


@dataclass(frozen=True)
class PacerState:
    """What a sender number's pacer stores: constant size whatever the rate."""

    last_ms: int | None  # send instant of the last granted message (ms since epoch, rounded down)
    last_parts: int = 1
    last_sub_us: int = 0  # exact instant = last_ms + last_sub_us microseconds (spacing below 1 ms is kept)


@dataclass(frozen=True)
class Decision:
    """The outcome of one ask: granted send instants, or how long to wait before asking again."""

    slots_ms: tuple[int, ...]  # one send instant per granted message: a prefix of the request, ascending
    wait_ms: int  # when nothing is granted: ask again after this many ms
    state: PacerState | None  # the state to store when something was granted


@dataclass(frozen=True)
class Slots:
    """What ``Pacer.grant`` answers: send instants (UTC) for a prefix of the messages, or a wait."""

    at: tuple[datetime, ...]
    retry_after: timedelta = timedelta(0)


def epoch_ms(at: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    return int(at.timestamp() * 1000)


def instant(ms: int) -> datetime:
    """The UTC datetime of ``ms`` milliseconds since the epoch."""
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)


def slots_of(decision: Decision) -> Slots:
    """``decision`` in the port's terms."""
    return Slots(at=tuple(instant(ms) for ms in decision.slots_ms), retry_after=timedelta(milliseconds=decision.wait_ms))


def on_time(slot_ms: int, now_ms: int) -> bool:
    """Whether a worker waking at ``now_ms`` may still send on ``slot_ms`` (an early worker sleeps first).

    Strictly less than the tolerance: ``now_ms`` is a clock rounded down, so this keeps the real lateness
    under ``LATE_TOLERANCE_MS`` whatever the sub-millisecond part."""
    return now_ms - slot_ms < LATE_TOLERANCE_MS


def retry_ms(retry_after_ms: int, *, granted_before: bool) -> int:
    """How long a refused worker waits before asking again (``retry_after_ms`` already carries the jitter)."""
    return retry_after_ms + (PRIOR_GRANT_BACKOFF_MS if granted_before else 0)


def rebook_at_ms(last_slot_ms: int) -> int:
    """When a worker holding slots up to ``last_slot_ms`` (and more to send) asks for the next ones."""
    return last_slot_ms - MAX_WAIT_MS + COURTESY_MS


def _ceil_us(fraction_of_window: Fraction, window_us: int) -> int:
    exact = fraction_of_window * window_us
    return -((-exact.numerator) // exact.denominator)


@lru_cache(maxsize=4096)
def gap_us(before: int, after: int, limit: int, window_us: int) -> int:
    """The shortest safe distance (us, rounded up) between a message of ``before`` parts and one of ``after``."""
    if before == after:
        return _ceil_us(Fraction(1, limit // before), window_us)
    return _ceil_us(max(Fraction(1, 2), _one_change_bound(before, after, limit)), window_us)


def _one_change_bound(a: int, b: int, limit: int) -> Fraction:
    """The least gap (in windows) after which k1 messages of ``a`` parts then k2 of ``b``, each run at its own
    uniform spacing, never share a window while k1*a + k2*b > limit."""
    n_a, n_b = limit // a, limit // b
    worst = Fraction(0)
    for k1 in range(1, n_a + 1):
        k2 = max(1, (limit - k1 * a) // b + 1)  # fewest b-messages that overflow with k1 a-messages
        if k2 > n_b:
            continue  # that many b-messages never share a window anyway
        worst = max(worst, 1 - Fraction(k1 - 1, n_a) - Fraction(k2 - 1, n_b))
    return worst


def decide(
    state: PacerState,
    now_ms: int,
    parts: Sequence[int],
    limit: int,
    *,
    margin_ms: int = MARGIN_MS,
    horizon_ms: int = HORIZON_MS,
    max_wait_ms: int = MAX_WAIT_MS,
) -> Decision:
    """Send instants for a prefix of messages of ``parts`` parts each under ``limit`` parts per second."""
    if limit < 1:
        raise ValueError("the limit must be at least one part per second")
    if not parts:
        return Decision(slots_ms=(), wait_ms=0, state=None)
    clamped = [min(max(p, 1), limit) for p in parts]  # a message longer than the limit goes out alone
    window_us = (WINDOW_MS + margin_ms) * US_PER_MS
    now_us = now_ms * US_PER_MS
    first_us = now_us
    if state.last_ms is not None:
        last_us = state.last_ms * US_PER_MS + state.last_sub_us
        reachable_us = (max_wait_ms + horizon_ms) * US_PER_MS + window_us  # no grant can lie further ahead
        if last_us - now_us <= reachable_us:  # else the clock moved back: drop the state rather than wait
            first_us = max(now_us, last_us + gap_us(state.last_parts, clamped[0], limit, window_us))
    ahead_us = first_us - now_us
    if ahead_us > max_wait_ms * US_PER_MS:
        wait_us = ahead_us - max_wait_ms * US_PER_MS
        return Decision(slots_ms=(), wait_ms=-(-wait_us // US_PER_MS), state=None)
    granted = [first_us]
    end_us = first_us + horizon_ms * US_PER_MS
    for before, after in pairwise(clamped):
        at = granted[-1] + gap_us(before, after, limit, window_us)
        if at > end_us:
            break
        granted.append(at)
    last = granted[-1]
    return Decision(
        slots_ms=tuple(at // US_PER_MS for at in granted),
        wait_ms=0,
        state=PacerState(last_ms=last // US_PER_MS, last_parts=clamped[len(granted) - 1], last_sub_us=last % US_PER_MS),
    )


def window_peak(sends: Sequence[tuple[int, int]], window: int = WINDOW_MS) -> int:
    """The most parts in any sliding window of ``sends`` (instant, parts): for tests and benches.

    Instants and ``window`` share one unit (ms by default; the bench counts microseconds at the provider).
    """
    ordered = sorted(sends)
    peak, total, start = 0, 0, 0
    for at, n in ordered:
        total += n
        while ordered[start][0] <= at - window:
            total -= ordered[start][1]
            start += 1
        peak = max(peak, total)
    return peak
