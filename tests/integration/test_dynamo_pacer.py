"""DynamoPacer on moto with virtual clocks: one small item per sender number, shared by every worker; racing
workers never share an instant, no window holds more than the limit, and clock jumps never hold a number."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from itertools import pairwise

import pytest

from chalicelib.adapters.dynamo.pacer import ATTEMPTS, CONTENDED_WAIT, DynamoPacer
from chalicelib.adapters.dynamo.tables import PacerRow
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.pacing import (
    GRANT_LEAD_MS,
    MARGIN_MS,
    MAX_WAIT_MS,
    RETRY_JITTER_MS,
    WINDOW_MS,
    Slots,
    epoch_ms,
    on_time,
    window_peak,
)
from tests.integration.conftest import Race

NUMBER = "+15551230000"
OTHER_NUMBER = "+15551230001"
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
T0_MS = epoch_ms(T0)
W = WINDOW_MS + MARGIN_MS

pytestmark = pytest.mark.integration


class VirtualClock:
    """A shared clock that only moves when told to."""

    def __init__(self, at: datetime = T0) -> None:
        self._ms = epoch_ms(at)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            ms = self._ms
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)

    def ms(self) -> int:
        with self._lock:
            return self._ms

    def advance_to(self, ms: int) -> None:
        """Move forward to ``ms`` (never backwards): a virtual sleep."""
        with self._lock:
            self._ms = max(self._ms, ms)

    def set(self, ms: int) -> None:
        """Jump anywhere, backwards too."""
        with self._lock:
            self._ms = ms


class MeddlingClock(VirtualClock):
    """While the pacer decides (it reads the clock between its read and its write), another worker grants first."""

    def __init__(self, times: int, limit: int) -> None:
        super().__init__()
        self.times, self.limit = times, limit
        self.rival = DynamoPacer(VirtualClock())
        self.rival_slots: list[datetime] = []

    def now(self) -> datetime:
        if self.times:
            self.times -= 1
            self.rival_slots += self.rival.grant(NUMBER, self.limit, [1]).at
        return super().now()


@pytest.fixture
def clock(aws: None) -> VirtualClock:
    return VirtualClock()


def _ms(slots: tuple[datetime, ...] | list[datetime]) -> list[int]:
    return [epoch_ms(at) for at in slots]


class TestOneWorker:
    def test_grants_evenly_spaced_slots_from_a_small_item(self, clock: VirtualClock) -> None:
        slots = DynamoPacer(clock).grant(NUMBER, 10, [1] * 4)
        assert _ms(slots.at) == [T0_MS + GRANT_LEAD_MS + i * W // 10 for i in range(4)]
        assert all(at.tzinfo is not None for at in slots.at) and slots.retry_after == timedelta(0)
        row = PacerRow.get(NUMBER, consistent_read=True)
        assert (row.last_ms, row.last_parts, row.version) == (_ms(slots.at)[-1], 1, 1)

    def test_a_booked_number_says_when_to_ask_again(self, clock: VirtualClock) -> None:
        pacer = DynamoPacer(clock, jitter_ms=0)
        assert len(pacer.grant(NUMBER, 10, [1] * 50).at) == 10  # one horizon's worth
        refused = pacer.grant(NUMBER, 10, [1])
        assert refused.at == () and refused.retry_after == timedelta(milliseconds=W - MAX_WAIT_MS)
        # Waiters are spread out, so they do not all come back at once.
        spread = {DynamoPacer(clock).grant(NUMBER, 10, [1]).retry_after for _ in range(5)}
        assert len(spread) > 1
        latest = refused.retry_after + timedelta(milliseconds=RETRY_JITTER_MS)
        assert all(refused.retry_after <= wait <= latest for wait in spread)
        clock.advance_to(T0_MS + W - MAX_WAIT_MS)
        assert _ms(pacer.grant(NUMBER, 10, [1]).at) == [T0_MS + GRANT_LEAD_MS + W]

    def test_numbers_are_paced_separately_and_shops_share_a_number(self, clock: VirtualClock) -> None:
        shop_a, shop_b = DynamoPacer(clock), DynamoPacer(clock)  # two shops' workers, one number
        first = shop_a.grant(NUMBER, 5, [1] * 5)
        assert shop_b.grant(NUMBER, 5, [1]).at == ()
        assert len(shop_b.grant(OTHER_NUMBER, 5, [1] * 5).at) == 5
        assert len(first.at) == 5

    def test_bad_limits_are_refused_and_nothing_to_send_takes_nothing(self, clock: VirtualClock) -> None:
        pacer = DynamoPacer(clock)
        for limit in (0, -1):
            with pytest.raises(InvalidInput):
                pacer.grant(NUMBER, limit, [1])
        assert pacer.grant(NUMBER, 5, []).at == ()
        assert not PacerRow.count(NUMBER)

    def test_the_item_stays_the_same_size_at_3000_mps(self, clock: VirtualClock) -> None:
        pacer = DynamoPacer(clock)
        sizes, granted = set(), 0
        while granted < 30_000:  # ten seconds at the limit
            slots = pacer.grant(NUMBER, 3000, [1] * 500)
            granted += len(slots.at)
            clock.advance_to(epoch_ms(slots.at[-1]) if slots.at else clock.ms() + slots.retry_after // timedelta(milliseconds=1))
            sizes.add(len(json.dumps(PacerRow.get(NUMBER).serialize())))
        assert len(sizes) <= 2 and max(sizes) < 200  # a few numbers, whatever the rate (the old log: 60 KB)


class TestLostRaces:
    def test_a_lost_race_reads_again_and_takes_the_next_instants(self, aws: None) -> None:
        clock = MeddlingClock(times=1, limit=10)
        mine = DynamoPacer(clock).grant(NUMBER, 10, [1, 1])
        assert len(clock.rival_slots) == 1
        assert _ms(mine.at) == [_ms(clock.rival_slots)[0] + W // 10, _ms(clock.rival_slots)[0] + 2 * W // 10]

    def test_endless_losses_give_up_with_a_short_wait(self, aws: None) -> None:
        clock = MeddlingClock(times=ATTEMPTS, limit=1000)
        assert DynamoPacer(clock).grant(NUMBER, 1000, [1]) == Slots(at=(), retry_after=CONTENDED_WAIT)
        assert len(clock.rival_slots) == ATTEMPTS  # every attempt lost to a write that really happened

    def test_racing_workers_never_share_an_instant(self, clock: VirtualClock, race: Race) -> None:
        pacer = DynamoPacer(clock)

        grants = race(10, lambda _: pacer.grant(NUMBER, 100, [1] * 30))

        slots = sorted(ms for g in grants for ms in _ms(g.at))
        assert len(slots) >= 30 and window_peak([(at, 1) for at in slots], W) <= 100
        assert all(b - a >= 10 for a, b in pairwise(slots))  # 10.08 ms apart, rounded down
        assert all(g.retry_after > timedelta(0) for g in grants if not g.at)

    def test_concurrent_workers_on_an_advancing_clock_stay_within_the_limit_and_close_to_it(
        self, clock: VirtualClock, race: Race
    ) -> None:
        pacer, limit, per_worker = DynamoPacer(clock), 20, 30
        sent: list[tuple[int, int]] = []
        record = threading.Lock()

        def work(worker: int) -> None:
            parts = [2 if worker % 2 else 1] * per_worker  # two campaigns on one number: 1- and 2-part messages
            for _ in range(2_000):
                if not parts:
                    return
                slots = pacer.grant(NUMBER, limit, parts)
                if not slots.at:
                    clock.advance_to(clock.ms() + slots.retry_after // timedelta(milliseconds=1))
                    continue
                missed = []
                for at, p in zip(_ms(slots.at), parts, strict=False):
                    clock.advance_to(at)  # a virtual sleep until the slot; another worker may have slept further
                    if on_time(at, clock.ms()):
                        with record:
                            sent.append((at, p))
                    else:
                        missed.append(p)  # a late send would squeeze the spacing: give the slot up, ask again
                parts = missed + parts[len(slots.at) :]
            raise AssertionError("a worker never got through its messages")

        race(4, work)

        assert len(sent) == 4 * per_worker
        assert window_peak(sent, W) <= limit and window_peak(sent) <= limit


class TestClockJumps:
    def test_a_jump_back_of_hours_does_not_hold_the_number(self, clock: VirtualClock) -> None:
        clock.set(T0_MS + 5 * 3_600_000)
        DynamoPacer(clock).grant(NUMBER, 10, [1] * 10)
        clock.set(T0_MS)
        assert _ms(DynamoPacer(clock).grant(NUMBER, 10, [1]).at) == [T0_MS + GRANT_LEAD_MS]

    def test_a_jump_forward_starts_at_the_new_now(self, clock: VirtualClock) -> None:
        DynamoPacer(clock).grant(NUMBER, 10, [1] * 10)
        clock.set(T0_MS + 3_600_000)
        assert _ms(DynamoPacer(clock).grant(NUMBER, 10, [1]).at) == [T0_MS + 3_600_000 + GRANT_LEAD_MS]


class TestOneCallPerGrant:
    @staticmethod
    def calls() -> list[str]:
        seen: list[str] = []
        events = PacerRow._get_connection().connection.client.meta.events
        events.register("before-call.dynamodb", lambda model, **_: seen.append(model.name))
        return seen

    def test_a_worker_alone_on_its_number_grants_with_one_write_and_rereads_after_another_wrote(self, aws: None) -> None:
        clock = VirtualClock()
        mine, theirs = DynamoPacer(clock, jitter_ms=0), DynamoPacer(clock, jitter_ms=0)
        first = mine.grant(NUMBER, 100, [1] * 10)
        seen = self.calls()
        clock.advance_to(epoch_ms(first.at[-1]))
        second = mine.grant(NUMBER, 100, [1] * 10)
        assert seen == ["PutItem"]  # decided on its own last write: no read
        assert second.at[0] > first.at[-1]
        seen.clear()
        other = theirs.grant(NUMBER, 100, [1] * 10)
        assert other.at[0] > second.at[-1]
        seen.clear()
        third = mine.grant(NUMBER, 100, [1] * 10)
        # its own state was stale: the write failed its condition, then a read and a write on the fresh state
        assert seen == ["PutItem", "GetItem", "PutItem"]
        assert third.at[0] > other.at[-1]

    def test_slow_writes_move_the_first_slot_further_ahead_so_it_is_not_missed(self, aws: None) -> None:
        clock = VirtualClock()
        pacer = DynamoPacer(clock, jitter_ms=0)
        events = PacerRow._get_connection().connection.client.meta.events

        def slow(model: object, **_: object) -> None:
            clock.advance_to(clock.ms() + 90)  # a write that takes 90 ms (a busy local stand-in)

        events.register("before-call.dynamodb.PutItem", slow)
        try:
            for _ in range(20):
                slots = pacer.grant(NUMBER, 100, [1] * 5)
                clock.advance_to(epoch_ms(slots.at[-1]))
        finally:
            events.unregister("before-call.dynamodb.PutItem", slow)
        assert pacer.lead_ms >= 150
        before = clock.ms()
        slots = pacer.grant(NUMBER, 100, [1] * 5)  # no longer slow: the write is back long before the slot
        assert epoch_ms(slots.at[0]) - before >= 150 and on_time(epoch_ms(slots.at[0]), clock.ms())
