"""Pacing: never more than the shop's MPS in message parts in any one-second window.

A token bucket would allow a full bucket plus a second's refill inside one sliding second (up to twice
the limit), so smscast keeps an exact sliding log instead: the sends of the last second, as
(millisecond, parts). A send of ``parts`` may start at ``now`` only if the parts already sent in
(now - 1 s, now] plus ``parts`` stay within the limit. The log is small (at most MPS entries) and lives
in one DynamoDB item per shop, updated with a condition so concurrent workers never both take the room.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW_MS = 1000


@dataclass(frozen=True)
class Reservation:
    """The outcome of asking for room: the new log to store, or how long to wait first."""

    log: tuple[tuple[int, int], ...] | None
    wait_ms: int


def reserve(log: tuple[tuple[int, int], ...], now_ms: int, parts: int, limit: int) -> Reservation:
    """Try to take ``parts`` at ``now_ms`` under ``limit`` parts per sliding second."""
    if parts > limit:
        parts = limit  # a message longer than a whole second's allowance goes out alone
    recent = tuple((at, n) for at, n in log if at > now_ms - WINDOW_MS and at <= now_ms)
    used = sum(n for _, n in recent)
    if used + parts <= limit:
        return Reservation(log=(*recent, (now_ms, parts)), wait_ms=0)
    # Wait until enough of the oldest entries leave the window.
    excess = used + parts - limit
    freed = 0
    for at, n in sorted(recent):
        freed += n
        if freed >= excess:
            return Reservation(log=None, wait_ms=at + WINDOW_MS - now_ms)
    return Reservation(log=None, wait_ms=WINDOW_MS)  # unreachable while parts <= limit


def window_peak(sends: list[tuple[int, int]]) -> int:
    """The most parts in any sliding one-second window of ``sends`` (ms, parts): for tests and benches."""
    ordered = sorted(sends)
    peak, total, start = 0, 0, 0
    for at, n in ordered:
        total += n
        while ordered[start][0] <= at - WINDOW_MS:
            total -= ordered[start][1]
            start += 1
        peak = max(peak, total)
    return peak


@dataclass(frozen=True)
class Slots:
    """Send instants granted for a prefix of the messages asked for; none means wait ``retry_after``."""

    at: tuple[datetime, ...]
    retry_after: timedelta = timedelta(0)


# A worker that wakes later than this after its slot does not send on it: a late send crowds the next slot.
LATE_TOLERANCE_MS = 3


def on_time(slot_ms: int, now_ms: int) -> bool:
    """May a message granted ``slot_ms`` still start at ``now_ms``?"""
    return now_ms - slot_ms <= LATE_TOLERANCE_MS
