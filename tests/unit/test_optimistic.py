"""retry_on_conflict: the one optimistic-lock loop every use case shares."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import ConcurrentUpdate, NotFound
from chalicelib.services.optimistic import ATTEMPTS, retry_on_conflict


class Writer:
    """Loses the race ``conflicts`` times, then writes; counts its attempts."""

    def __init__(self, conflicts: int, error: Exception | None = None) -> None:
        self.conflicts = conflicts
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.calls <= self.conflicts:
            raise ConcurrentUpdate("someone else wrote first")
        return f"written on attempt {self.calls}"


def test_returns_the_first_attempt_that_wins() -> None:
    writer = Writer(conflicts=0)
    assert retry_on_conflict(writer, gave_up="x") == "written on attempt 1"
    assert writer.calls == 1


def test_a_conflict_starts_the_attempt_over() -> None:
    writer = Writer(conflicts=ATTEMPTS - 1)
    assert retry_on_conflict(writer, gave_up="x") == f"written on attempt {ATTEMPTS}"


def test_gives_up_after_the_attempts_with_the_callers_message() -> None:
    writer = Writer(conflicts=99)
    with pytest.raises(ConcurrentUpdate, match="campaign kept changing"):
        retry_on_conflict(writer, attempts=3, gave_up="campaign kept changing")
    assert writer.calls == 3


def test_other_errors_are_not_retried() -> None:
    writer = Writer(conflicts=0, error=NotFound("gone", code="campaign_not_found"))
    with pytest.raises(NotFound):
        retry_on_conflict(writer, gave_up="x")
    assert writer.calls == 1
