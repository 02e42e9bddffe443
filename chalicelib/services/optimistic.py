"""Optimistic locking: read, decide, write with the version read; start over when someone else wrote first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from chalicelib.domain.errors import ConcurrentUpdate

T = TypeVar("T")

# Enough for a burst of writers on one record (a double click, a duplicate delivery, a checkout add);
# a record that keeps changing past this is reported to the caller instead of spinning.
ATTEMPTS = 5


def retry_on_conflict(attempt: Callable[[], T], *, gave_up: str, attempts: int = ATTEMPTS) -> T:
    """Run ``attempt`` until it ends without ConcurrentUpdate, at most ``attempts`` times, else ConcurrentUpdate(gave_up).

    ``attempt`` must re-read what it decides on: a ConcurrentUpdate from anywhere in it starts it over, so
    keep steps that must run once after the write (queueing, scheduling) outside it.
    """
    for _ in range(attempts):
        try:
            return attempt()
        except ConcurrentUpdate:
            continue
    raise ConcurrentUpdate(gave_up)
