"""One worker alone on a number keeps it at its limit: the next group is granted and claimed while the last slots
of the one sending are still ahead (services/sending.py's pipeline), on real threads over virtual time.

The provider counts a message when the worker calls it and answers 20-150 ms later; the ledger's writes, the
consent read and the pacer's write take a few milliseconds; the pacer leads by GRANT_LEAD_MS like DynamoPacer.
The rate is measured at the provider's recorded instants, like tests/unit/test_pacing_guard.py does.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.errors import ProviderThrottled
from chalicelib.domain.messages import OutboundSms, SendReceipt
from chalicelib.domain.pacing import GRANT_LEAD_MS, WINDOW_MS, Slots, window_peak
from chalicelib.domain.sending import (
    GROUP_SIZE,
    SENDS_IN_FLIGHT,
    Claim,
    GroupClaim,
    Release,
    SendBatch,
    SendState,
    Settlement,
    groups_in_flight,
    next_group_size,
)
from chalicelib.domain.subscribers import Subscriber
from chalicelib.services import campaigns, sending
from chalicelib.services.ports import Ports
from chalicelib.services.sending import CLAIM_STALE_AFTER
from tests.fakes import FakePacer, FrozenClock, WorkerCrash
from tests.unit.test_send_groups import SHOP, add, ledger, make_ports, phones, sms, start, texts
from tests.virtual_threads import VirtualThreads

US = 1_000_000


class Pipeline:
    """Ports on virtual threads with provider and write latencies, and what the worker did with them."""

    def __init__(self, mps: int, *, seed: int = 7) -> None:
        self.ports = ports = make_ports(mps=mps)
        clock = ports.clock
        assert isinstance(clock, FrozenClock)
        self.clock = clock
        self.threads = threads = VirtualThreads(clock)
        ports.sleep = threads.sleep
        ports.send_pool = threads.pool
        ports.concurrent_sends = SENDS_IN_FLIGHT
        self.rng = random.Random(seed)
        self.claims = self.settles = self.most_in_flight = self.reads = 0
        self.on_sent: list[tuple[str, datetime]] = []
        self._wrap(ports)

    def write(self) -> None:
        """A DynamoDB write or consistent read: a few milliseconds."""
        self.threads.sleep(self.rng.uniform(0.003, 0.008))

    def _wrap(self, ports: Ports) -> None:
        self.pacer = pacer = FakePacer(self.clock, lead_ms=GRANT_LEAD_MS)
        real_ledger = ledger(ports)
        claim, settle, get_many = real_ledger.claim, real_ledger.settle, ports.subscribers.get_many

        def grant(number: str, limit: int, parts: Sequence[int]) -> Slots:
            slots = FakePacer.grant(pacer, number, limit, parts)  # decided on the clock read, then written
            self.write()
            return slots

        def claimed(shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
            self.write()
            self.claims += 1
            self.most_in_flight = max(self.most_in_flight, self.claims - self.settles)
            return claim(shop_id, campaign_id, claims, at)

        def settled(
            shop_id: str, campaign_id: str, settlements: Sequence[Settlement], *, released: Sequence[Release] = ()
        ) -> frozenset[str]:
            self.write()
            self.settles += 1
            return settle(shop_id, campaign_id, settlements, released=released)

        def read(shop_id: str, phones: Sequence[str]) -> dict[str, Subscriber]:
            self.write()
            self.reads += 1
            return get_many(shop_id, phones)

        pacer.grant = grant  # type: ignore[method-assign]
        ports.pacer = pacer
        real_ledger.claim = claimed  # type: ignore[method-assign]
        real_ledger.settle = settled  # type: ignore[method-assign]
        ports.subscribers.get_many = read  # type: ignore[method-assign]
        sms(ports).on_send = self.provider_answers

    def provider_answers(self, message: object) -> None:
        """The provider counted the message as the worker called; its answer takes 20-150 ms."""
        self.threads.sleep(self.rng.uniform(0.020, 0.150))

    def sends(self) -> list[datetime]:
        return sorted(s.at for s in sms(self.ports).sent if s.sms.campaign_id and s.at is not None)


def _us(at: datetime) -> int:
    return round(at.timestamp() * US)


@pytest.mark.parametrize(("mps", "recipients"), [(100, 600), (10, 150)])
def test_one_worker_alone_keeps_its_number_at_the_limit(mps: int, recipients: int) -> None:
    run = Pipeline(mps)
    audience = phones(recipients)
    add(run.ports, audience)
    cid = start(run.ports)
    report = sending.send_batch(run.ports, SendBatch(SHOP, cid, tuple(audience)))
    assert report.sent == recipients and sorted(texts(run.ports)) == sorted(audience)

    sends = run.sends()
    peak = window_peak([(_us(at), 1) for at in sends], WINDOW_MS * 1000)
    assert peak <= mps  # no sliding second at the provider over the limit
    # The warm part: from a second after the first send to a second before the last.
    warm = [at for at in sends if sends[0] + timedelta(seconds=1) <= at <= sends[-1] - timedelta(seconds=1)]
    rate = (len(warm) - 1) / (warm[-1] - warm[0]).total_seconds() / mps
    # Slots back to back give what the pacer's 8 ms margin allows, 1000 / 1008 = 0.992 (the target is 0.98).
    # Asking only after a group had settled gave 0.799 at 100 MPS and 0.984 at 10 MPS here.
    assert rate >= 0.99, f"{rate:.3f} of the limit at the provider"
    assert run.most_in_flight == 2  # the next group is claimed while one sends, and never a third


def _invocation(run: Pipeline, recipients: int, per_record: int = 2 * GROUP_SIZE) -> tuple[str, list[str], list[SendBatch]]:
    """A started campaign to ``recipients`` new subscribers, and its send records of ``per_record`` phones."""
    audience = phones(recipients)
    add(run.ports, audience)
    cid = start(run.ports)
    records = [SendBatch(SHOP, cid, tuple(audience[i : i + per_record])) for i in range(0, len(audience), per_record)]
    return cid, audience, records


def _warm_rate(sends: list[datetime], mps: int, *, edge: float = 1.0) -> float:
    """Messages a second at the provider from ``edge`` seconds after the first send to as long before the last,
    over the limit."""
    warm = [at for at in sends if sends[0] + timedelta(seconds=edge) <= at <= sends[-1] - timedelta(seconds=edge)]
    return (len(warm) - 1) / (warm[-1] - warm[0]).total_seconds() / mps


def test_one_worker_keeps_its_number_at_the_limit_from_one_batch_of_its_invocation_to_the_next() -> None:
    # Batch by batch, each batch's last answers, settle, completion check and the next batch's three reads left
    # the number idle about 0.2 s per batch: 0.85 of the limit at 100 MPS with batches of two groups.
    run = Pipeline(100)
    _, audience, records = _invocation(run, 5 * 2 * GROUP_SIZE)
    outcomes = sending.send_batches(run.ports, records)
    assert all(isinstance(o, sending.BatchReport) and o.sent == 2 * GROUP_SIZE for o in outcomes)
    sent = texts(run.ports)
    assert len(sent) == len(set(sent)) and sorted(sent) == sorted(audience)
    assert window_peak([(_us(at), 1) for at in run.sends()], WINDOW_MS * 1000) <= 100
    assert _warm_rate(run.sends(), 100) >= 0.99
    assert run.most_in_flight == groups_in_flight(100) == 2  # across batches too


def test_a_fast_number_keeps_more_groups_in_flight_but_never_more_than_a_quarter_second_of_grants() -> None:
    # At 1,000 MPS a group of 49 goes out in 49 ms but stays unsettled until its slowest answer (up to 150 ms):
    # with two groups in flight a worker alone reached 0.44 of the limit.
    run = Pipeline(1000)
    audience = phones(40 * GROUP_SIZE)
    add(run.ports, audience)
    cid = start(run.ports)
    report = sending.send_batch(run.ports, SendBatch(SHOP, cid, tuple(audience)))
    assert report.sent == len(audience)
    assert window_peak([(_us(at), 1) for at in run.sends()], WINDOW_MS * 1000) <= 1000
    assert _warm_rate(run.sends(), 1000, edge=0.3) >= 0.98
    assert run.most_in_flight == groups_in_flight(1000) == 6  # 294 recipients: what the number grants in 0.3 s


def test_a_batch_that_raises_stops_alone_and_the_other_batches_of_its_invocation_finish() -> None:
    run = Pipeline(100)
    cid, audience, records = _invocation(run, 3 * 2 * GROUP_SIZE)
    broken = set(records[1].phones)
    claim = ledger(run.ports).claim

    def refusing(shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
        if {c.phone for c in claims} & broken:
            raise RuntimeError("DynamoDB said no")
        return claim(shop_id, campaign_id, claims, at)

    ledger(run.ports).claim = refusing  # type: ignore[method-assign]
    first, second, third = sending.send_batches(run.ports, records)
    assert isinstance(second, RuntimeError)  # its record comes back
    assert isinstance(first, sending.BatchReport) and first.sent == 2 * GROUP_SIZE
    assert isinstance(third, sending.BatchReport) and third.sent == 2 * GROUP_SIZE
    assert sorted(texts(run.ports)) == sorted(records[0].phones + records[2].phones)
    assert not any((SHOP, cid, p) in ledger(run.ports).rows for p in broken)  # nothing of it claimed

    ledger(run.ports).claim = claim  # type: ignore[method-assign]  # the record comes back, DynamoDB answers again
    again = sending.send_batch(run.ports, records[1])
    assert again.sent == 2 * GROUP_SIZE and sorted(texts(run.ports)) == sorted(audience)


def test_a_settle_that_raises_fails_the_batch_it_belongs_to_even_when_a_later_batch_is_sending() -> None:
    # The first batch's last group settles while the second batch is already claiming: the failure is the first's.
    run = Pipeline(100)
    _, audience, records = _invocation(run, 2 * 2 * GROUP_SIZE)
    last_group = set(records[0].phones[GROUP_SIZE:])
    settle = ledger(run.ports).settle
    claims_at_failure: list[int] = []

    def failing(
        shop_id: str, campaign_id: str, settlements: Sequence[Settlement], *, released: Sequence[Release] = ()
    ) -> frozenset[str]:
        if {s.entry.phone for s in settlements} & last_group:
            claims_at_failure.append(run.claims)
            raise RuntimeError("throughput exceeded")
        return settle(shop_id, campaign_id, settlements, released=released)

    ledger(run.ports).settle = failing  # type: ignore[method-assign]
    first, second = sending.send_batches(run.ports, records)
    assert claims_at_failure == [3]  # the second batch's first group was claimed before it
    assert isinstance(first, RuntimeError)
    assert isinstance(second, sending.BatchReport) and second.sent == 2 * GROUP_SIZE
    sent = texts(run.ports)
    assert len(sent) == len(set(sent)) and sorted(sent) == sorted(audience)  # every one sent once

    # Redelivered after the visibility timeout: the unsettled group is settled as interrupted, never resent.
    ledger(run.ports).settle = settle  # type: ignore[method-assign]
    run.clock.advance(seconds=CLAIM_STALE_AFTER.total_seconds() + 1)
    again = sending.send_batch(run.ports, records[0])
    assert again.failed == GROUP_SIZE and again.sent == 0
    assert len(texts(run.ports)) == len(audience)


def test_a_crash_between_the_second_claim_and_any_settle_costs_both_groups_and_the_rest_goes_once() -> None:
    run = Pipeline(100)
    audience = phones(3 * GROUP_SIZE + 3)
    add(run.ports, audience)
    cid = start(run.ports)
    at_crash: list[tuple[int, int]] = []

    def crash_on_the_first_groups_last(message: object) -> None:
        if not at_crash and sms(run.ports).sent[-1].sms.to_number == audience[GROUP_SIZE - 1]:
            at_crash.append((run.claims, run.settles))
            raise WorkerCrash("the worker died")
        run.provider_answers(message)

    sms(run.ports).on_send = crash_on_the_first_groups_last
    batch = SendBatch(SHOP, cid, tuple(audience))
    with pytest.raises(WorkerCrash):
        sending.send_batch(run.ports, batch)
    assert at_crash == [(2, 0)]  # two groups claimed, none settled
    assert sorted(texts(run.ports)) == sorted(audience[:GROUP_SIZE])  # the second group's slots were all later

    run.clock.advance(seconds=CLAIM_STALE_AFTER.total_seconds() + 1)  # redelivered after the visibility timeout
    report = sending.send_batch(run.ports, batch)
    rows = ledger(run.ports).rows
    in_flight, rest = audience[: 2 * GROUP_SIZE], audience[2 * GROUP_SIZE :]
    assert all((rows[(SHOP, cid, p)].state, rows[(SHOP, cid, p)].reason) == (SendState.FAILED, "interrupted") for p in in_flight)
    assert all(rows[(SHOP, cid, p)].state is SendState.SENT for p in rest)
    assert report.failed == len(in_flight) and report.sent == len(rest)
    sent = texts(run.ports)
    assert len(sent) == len(set(sent)) and sorted(sent) == sorted(audience[:GROUP_SIZE] + rest)


def test_end_campaign_while_the_second_group_sends_stops_the_pipeline() -> None:
    run = Pipeline(100)
    audience = phones(3 * GROUP_SIZE + 3)
    add(run.ports, audience)
    cid = start(run.ports)
    ended: list[datetime] = []
    claim = ledger(run.ports).claim

    def end_later() -> None:
        run.threads.sleep(0.05)  # the second group is claimed and about to send
        campaigns.end_campaign(run.ports, SHOP, cid)
        ended.append(run.clock.now())

    def claimed(shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
        outcome = claim(shop_id, campaign_id, claims, at)
        if run.claims == 2:
            run.threads.spawn(end_later)  # the merchant presses End on another Lambda
        return outcome

    ledger(run.ports).claim = claimed  # type: ignore[method-assign]
    report = sending.send_batch(run.ports, SendBatch(SHOP, cid, tuple(audience)))
    run.threads.sleep(5)  # End is still waiting out the leases: let it return
    assert ended and report.stopped
    assert all(at <= ended[0] for at in run.sends())  # nothing sent after End returned
    assert run.claims == 3  # the third group's claim was refused: nothing of it or later is sent or claimed
    assert not set(texts(run.ports)) & set(audience[2 * GROUP_SIZE :])
    assert all((SHOP, cid, p) not in ledger(run.ports).rows for p in audience[2 * GROUP_SIZE :])
    # The second group was claimed before End, so it may finish inside its lease, and it is settled.
    assert all(ledger(run.ports).rows[(SHOP, cid, p)].state.final for p in audience[: 2 * GROUP_SIZE])
    assert campaigns.get_campaign(run.ports, SHOP, cid).status is not CampaignStatus.IN_PROGRESS


def test_late_and_throttled_messages_of_a_pipelined_group_are_sent_again_or_handed_back_once() -> None:
    run = Pipeline(100)
    audience = phones(3 * GROUP_SIZE + 3)
    add(run.ports, audience)
    cid = start(run.ports)
    throttled = audience[GROUP_SIZE + 20]
    claim, send = ledger(run.ports).claim, sms(run.ports).send

    def slow_second_claim(shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
        if run.claims == 1:
            run.threads.sleep(0.15)  # a tail latency: the second group's first slots go by before it is claimed
        return claim(shop_id, campaign_id, claims, at)

    def throttling(sms: OutboundSms) -> SendReceipt:
        if sms.to_number == throttled:
            raise ProviderThrottled("slow down")
        return send(sms)

    ledger(run.ports).claim = slow_second_claim  # type: ignore[method-assign]
    sms(run.ports).send = throttling  # type: ignore[method-assign]
    report = sending.send_batch(run.ports, SendBatch(SHOP, cid, tuple(audience)))
    sent = texts(run.ports)
    assert len(sent) == len(set(sent)) and sorted(sent) == sorted(p for p in audience if p != throttled)
    assert report.retried == [throttled] and (SHOP, cid, throttled) not in ledger(run.ports).rows
    assert isinstance(run.ports.pacer, FakePacer) and run.ports.pacer.calls > run.claims  # the late ones were regranted
    assert window_peak([(_us(at), 1) for at in run.sends()], WINDOW_MS * 1000) <= 100
    assert run.most_in_flight == 2


def test_claims_slower_than_the_pacers_head_start_still_send_every_message_on_time() -> None:
    # Every claim takes 1.5 s and a consent read 0.3 s (devstack's moto copies tables on each transaction; a
    # throttled table in AWS): each group's slots are gone before it is claimed. Granted again right after the claim
    # they are kept; waiting for the group's settle, after the next group's read and equally slow claim, used to eat
    # the 3 s lease and hand every message of the batch back unsent, batch after batch.
    run = Pipeline(100)
    audience = phones(4 * GROUP_SIZE)
    add(run.ports, audience)
    cid = start(run.ports)
    claim = ledger(run.ports).claim

    read = run.ports.subscribers.get_many

    def slow_claim(shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
        run.threads.sleep(1.5)
        return claim(shop_id, campaign_id, claims, at)

    def slow_read(shop_id: str, phones: Sequence[str]) -> dict[str, Subscriber]:
        run.threads.sleep(0.3)
        return read(shop_id, phones)

    ledger(run.ports).claim = slow_claim  # type: ignore[method-assign]
    run.ports.subscribers.get_many = slow_read  # type: ignore[method-assign]
    deadline = run.clock.now() + timedelta(seconds=60)  # a Lambda's: what it cannot send by then goes back
    report = sending.send_batch(run.ports, SendBatch(SHOP, cid, tuple(audience)), deadline=deadline)
    sent = texts(run.ports)
    assert report.requeued == [] and sorted(sent) == sorted(audience) and len(sent) == len(set(sent))
    assert window_peak([(_us(at), 1) for at in run.sends()], WINDOW_MS * 1000) <= 100


class TestNextGroupSize:
    def test_a_full_group_while_there_is_room_for_one(self) -> None:
        assert next_group_size(500, 0, 100) == GROUP_SIZE
        assert next_group_size(500, GROUP_SIZE, 100) == GROUP_SIZE  # the second of two at 100 MPS
        assert next_group_size(500, 2 * GROUP_SIZE, 100) == 0  # settle the earliest first

    def test_a_short_group_in_flight_holds_only_its_own_room(self) -> None:
        # A batch's tail of 3 and a full group in flight: the next group is claimed 3 short, not after a settle.
        assert next_group_size(500, GROUP_SIZE + 3, 100) == GROUP_SIZE - 3
        # ... but never a sliver: under half a group of room waits for the earliest group's settle.
        assert next_group_size(500, 2 * GROUP_SIZE - 20, 100) == 0

    def test_what_is_left_goes_whole_when_it_fits(self) -> None:
        assert next_group_size(7, 2 * GROUP_SIZE - 10, 100) == 7
        assert next_group_size(0, 0, 100) == 0

    def test_the_bound_follows_what_one_grant_gives_at_a_slow_number(self) -> None:
        # At 10 MPS one grant is a second of slots, 10 messages: two groups in flight are 20 recipients, not 98.
        assert next_group_size(500, 0, 10, full=10) == 20  # asked for; the pacer grants 10 of them
        assert next_group_size(500, 10, 10, full=10) == 10
        assert next_group_size(500, 20, 10, full=10) == 0

    def test_a_fast_number_holds_six_groups(self) -> None:
        assert next_group_size(5000, 5 * GROUP_SIZE, 1000) == GROUP_SIZE
        assert next_group_size(5000, 6 * GROUP_SIZE, 1000) == 0


def test_batches_with_short_tails_follow_each_other_without_a_gap() -> None:
    # Records of 60 (a group and a tail of 11): the tail in flight must not make the next record's first group wait
    # for a settle.
    run = Pipeline(100)
    _, _, records = _invocation(run, 8 * 60, per_record=60)
    outcomes = sending.send_batches(run.ports, records)
    assert all(isinstance(o, sending.BatchReport) and o.sent == 60 for o in outcomes)
    assert window_peak([(_us(at), 1) for at in run.sends()], WINDOW_MS * 1000) <= 100
    assert _warm_rate(run.sends(), 100) >= 0.98


def test_at_a_slow_numbers_rate_a_group_costs_three_calls_and_consent_no_read() -> None:
    # At 20 MPS a group is what the pacer grants in about a second (20 messages): one grant, one claim, one settle,
    # and no consent read (the claim's condition on the contact window is the check). With the batch's three reads
    # per 100 recipients that is 1 + 3/20 + 3/100 = 1.18 AWS calls per recipient including the send, under the
    # 1.25 budget; a consent read per group would make it 1.23, and per recipient 2.18.
    mps, recipients = 20, 200
    run = Pipeline(mps)
    audience = phones(recipients)
    add(run.ports, audience)
    cid = start(run.ports)
    report = sending.send_batch(run.ports, SendBatch(SHOP, cid, tuple(audience)))

    assert report.sent == recipients and sorted(texts(run.ports)) == sorted(audience)
    groups = recipients // mps
    assert report.groups == run.claims == run.settles == run.pacer.calls == groups
    assert run.reads == 1  # the batch's own subscriber read, none per group
