"""DynamoPacer on moto with virtual clocks: no one-second window ever carries more message parts than the
shop's limit, however many workers ask at once, and the pace stays close to the limit while work waits."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo.pacer import DynamoPacer
from chalicelib.adapters.dynamo.tables import PacerRow
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.pacing import window_peak
from tests.integration.conftest import Race

SHOP = "alpha.myshopify.com"
OTHER_SHOP = "beta.myshopify.com"
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
T0_MS = int(T0.timestamp() * 1000)

pytestmark = pytest.mark.integration


class VirtualClock:
    """A shared clock that only moves when told to; remembers what it last told each thread."""

    def __init__(self, at: datetime = T0) -> None:
        self._ms = int(at.timestamp() * 1000)
        self._lock = threading.Lock()
        self._seen = threading.local()

    def now(self) -> datetime:
        with self._lock:
            ms = self._ms
        self._seen.ms = ms
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)

    def last_read_ms(self) -> int:
        """The instant this thread's last ``now()`` returned (when the pacer decided)."""
        return int(self._seen.ms)

    def advance_to(self, ms: int) -> None:
        """Move forward to ``ms`` (never backwards): a virtual sleep."""
        with self._lock:
            self._ms = max(self._ms, ms)

    def advance(self, ms: int) -> None:
        with self._lock:
            self._ms += ms


@pytest.fixture
def clock(aws: None) -> VirtualClock:
    return VirtualClock()


class TestFrozenClock:
    def test_admits_up_to_the_limit_then_says_how_long_to_wait(self, clock: VirtualClock) -> None:
        pacer = DynamoPacer(clock)
        assert [pacer.reserve(SHOP, 3, 10) for _ in range(3)] == [0, 0, 0]
        assert pacer.reserve(SHOP, 3, 10) == 1000
        assert pacer.reserve(SHOP, 1, 10) == 0  # what still fits goes
        assert pacer.reserve(SHOP, 1, 10) == 1000

    def test_room_frees_as_the_window_slides(self, clock: VirtualClock) -> None:
        pacer = DynamoPacer(clock)
        assert pacer.reserve(SHOP, 4, 5) == 0
        clock.advance(400)
        assert pacer.reserve(SHOP, 1, 5) == 0
        assert pacer.reserve(SHOP, 2, 5) == 600  # the 4 parts leave at +1000
        clock.advance(600)
        assert pacer.reserve(SHOP, 2, 5) == 0

    def test_a_message_longer_than_the_limit_goes_alone(self, clock: VirtualClock) -> None:
        pacer = DynamoPacer(clock)
        assert pacer.reserve(SHOP, 8, 5) == 0
        assert pacer.reserve(SHOP, 1, 5) == 1000

    def test_shops_are_paced_separately(self, clock: VirtualClock) -> None:
        pacer = DynamoPacer(clock)
        assert pacer.reserve(SHOP, 5, 5) == 0
        assert pacer.reserve(OTHER_SHOP, 5, 5) == 0
        assert pacer.reserve(SHOP, 1, 5) > 0

    def test_the_log_stays_bounded(self, clock: VirtualClock) -> None:
        pacer = DynamoPacer(clock)
        for _ in range(30):
            pacer.reserve(SHOP, 1, 3)
            clock.advance(250)
        log = PacerRow.get(SHOP).log
        assert isinstance(log, list) and len(log) <= 3

    def test_racing_workers_never_share_the_last_room(self, clock: VirtualClock, race: Race) -> None:
        pacer = DynamoPacer(clock)

        waits = race(10, lambda _: pacer.reserve(SHOP, 1, 4))

        assert waits.count(0) == 4
        assert all(wait == 1000 for wait in waits if wait)

    def test_a_lagging_worker_counts_sends_logged_ahead_of_its_clock(self, clock: VirtualClock) -> None:
        ahead = VirtualClock(T0 + timedelta(milliseconds=300))
        assert DynamoPacer(ahead).reserve(SHOP, 5, 5) == 0

        # This worker's clock is 300 ms behind: the window it must respect still holds those 5 parts.
        assert DynamoPacer(clock).reserve(SHOP, 1, 5) == 1300

    def test_bad_limits_are_refused_and_nothing_to_send_takes_no_room(self, clock: VirtualClock) -> None:
        pacer = DynamoPacer(clock)
        for limit in (0, -1):
            with pytest.raises(InvalidInput):
                pacer.reserve(SHOP, 1, limit)
        assert pacer.reserve(SHOP, 0, 5) == 0
        assert not PacerRow.count(SHOP)


class TestAdvancingClock:
    def test_concurrent_workers_stay_within_the_limit_and_close_to_it(self, clock: VirtualClock, race: Race) -> None:
        pacer = DynamoPacer(clock)
        limit = 6
        messages = {worker: [1 + (worker + i) % 3 for i in range(6)] for worker in range(4)}  # parts per message
        admitted: list[tuple[int, int]] = []
        record = threading.Lock()

        def work(worker: int) -> None:
            for parts in messages[worker]:
                while True:
                    wait = pacer.reserve(SHOP, parts, limit)
                    decided_at = clock.last_read_ms()
                    if wait == 0:
                        with record:
                            admitted.append((decided_at, parts))
                        break
                    assert wait > 0
                    clock.advance_to(decided_at + wait)  # a virtual sleep

        race(len(messages), work)

        total = sum(sum(parts) for parts in messages.values())
        assert sum(parts for _, parts in admitted) == total
        assert window_peak(admitted) <= limit
        # Close to the limit: the sends span little more than total / limit seconds of virtual time.
        span_ms = max(at for at, _ in admitted) - T0_MS
        assert span_ms <= (total // limit + 1) * 1000
