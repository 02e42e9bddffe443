"""The campaign send path works a group at a time: what a group costs, and what its claim and lease promise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.pacing import Slots
from chalicelib.domain.sending import GROUP_SIZE, SEND_LEASE, Claim, ContactWindow, GroupClaim, SendBatch, SendState
from chalicelib.domain.shops import FrequencyCap
from chalicelib.domain.subscribers import SubscriberStatus
from chalicelib.services import campaigns, sending, subscribers
from chalicelib.services.ports import Ports
from tests.commands import add_subscriber, new_campaign
from tests.engine import Engine
from tests.fakes import FakeLedger, FakePacer, FakeSms, FrozenClock, VirtualTime, WorkerCrash, fake_ports
from tests.numbers import create_shop

SHOP = "demo.myshopify.com"
SENDER = "+15550100000"
DAYTIME = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York


def phones(n: int, start: int = 1000) -> list[str]:
    return [f"+1212555{k:04d}" for k in range(start, start + n)]


def make_ports(*, mps: int = 100, **settings: object) -> Ports:
    ports = fake_ports(FrozenClock(DAYTIME))
    create_shop(ports, shop_id=SHOP, settings={"shop_name": "Demo", **settings}, numbers={SENDER: mps})
    return ports


def add(ports: Ports, numbers: Sequence[str]) -> None:
    for phone in numbers:
        subscribers.add_subscriber(ports, SHOP, add_subscriber({"phone": phone, "source": "checkout"}))


def start(ports: Ports, message: str = "Hi {first_name|there}! 20% off today.") -> str:
    """A Send Now campaign, started, with its planning done but no batch sent yet."""
    command = new_campaign({"name": "Sale", "message": message, "segment_id": "all", "send_at": "now"})
    return campaigns.create_campaign(ports, SHOP, command).campaign_id


def ledger(ports: Ports) -> FakeLedger:
    assert isinstance(ports.ledger, FakeLedger)
    return ports.ledger


def sms(ports: Ports) -> FakeSms:
    assert isinstance(ports.sms, FakeSms)
    return ports.sms


def count_subscriber_reads(ports: Ports) -> list[int]:
    """The size of every batched subscriber read from now on."""
    sizes: list[int] = []
    real = ports.subscribers.get_many

    def counted(shop_id: str, found: Sequence[str]) -> Any:
        sizes.append(len(found))
        return real(shop_id, found)

    setattr(ports.subscribers, "get_many", counted)  # noqa: B010
    return sizes


def texts(ports: Ports) -> list[str]:
    return [s.sms.to_number for s in sms(ports).sent if s.sms.campaign_id]


class ScriptedPacer:
    """A pacer that grants what a test tells it to (instants relative to the clock at the call)."""

    def __init__(self, clock: FrozenClock, offsets: Sequence[timedelta]) -> None:
        self.clock = clock
        self.offsets = list(offsets)
        self.calls = 0

    def grant(self, number: str, limit: int, parts: Sequence[int]) -> Slots:
        self.calls += 1
        now = self.clock.now()
        granted = self.offsets[: len(parts)]
        self.offsets = self.offsets[len(granted) :]
        return Slots(tuple(now + offset for offset in granted))


class TestWhatAGroupCosts:
    def test_a_batch_takes_one_claim_and_one_settle_per_group(self) -> None:
        ports = make_ports()
        audience = phones(2 * GROUP_SIZE + 1)
        add(ports, audience)
        cid = start(ports)
        report = sending.send_batch(ports, SendBatch(SHOP, cid, tuple(audience)))
        assert report.sent == len(audience) and report.groups == 3
        assert (ledger(ports).claim_calls, ledger(ports).settle_calls) == (3, 3)
        assert sorted(texts(ports)) == sorted(audience)

    def test_the_pacer_is_asked_once_per_group(self) -> None:
        ports = make_ports()
        audience = phones(GROUP_SIZE + 5)
        add(ports, audience)
        pacer = FakePacer(ports.clock)  # type: ignore[arg-type]
        calls: list[int] = []
        original = pacer.grant

        def counted(number: str, limit: int, parts: Sequence[int]) -> Slots:
            calls.append(len(parts))
            return original(number, limit, parts)

        pacer.grant = counted  # type: ignore[method-assign]
        ports.pacer = pacer
        cid = start(ports)
        sending.send_batch(ports, SendBatch(SHOP, cid, tuple(audience)))
        assert calls == [GROUP_SIZE, 5]

    def test_each_message_starts_at_its_own_slot(self) -> None:
        ports = make_ports()
        audience = phones(3)
        add(ports, audience)
        clock = ports.clock
        assert isinstance(clock, FrozenClock)
        offsets = [timedelta(milliseconds=ms) for ms in (0, 400, 800)]
        ports.pacer = ScriptedPacer(clock, offsets)
        cid = start(ports)
        began = clock.now()
        sending.send_batch(ports, SendBatch(SHOP, cid, tuple(audience)))
        assert [s.at for s in sms(ports).sent] == [began + offset for offset in offsets]


class TestLease:
    def test_no_send_starts_after_the_lease_even_when_granted_later(self) -> None:
        ports = make_ports()
        audience = phones(3)
        add(ports, audience)
        clock = ports.clock
        assert isinstance(clock, FrozenClock)
        # The third slot lies beyond the group's lease: it must be given back, not sent late.
        late = SEND_LEASE + timedelta(milliseconds=1)
        ports.pacer = ScriptedPacer(clock, [timedelta(0), timedelta(milliseconds=10), late, timedelta(0)])
        cid = start(ports)
        began = clock.now()
        report = sending.send_batch(ports, SendBatch(SHOP, cid, tuple(audience)))
        assert clock.now() - began < SEND_LEASE  # it did not even sleep toward the slot it could not use
        assert texts(ports)[:2] == audience[:2]
        # given back (absent again) and sent by a later group of the same batch, on a fresh slot and lease
        assert report.sent == 3 and sorted(texts(ports)) == sorted(audience)
        assert ledger(ports).rows[(SHOP, cid, audience[2])].state is SendState.SENT

    def test_a_worker_late_for_its_slot_does_not_send_on_it(self) -> None:
        ports = make_ports()
        audience = phones(2)
        add(ports, audience)
        clock = ports.clock
        assert isinstance(clock, FrozenClock)

        # The call takes 50 ms: the next slot, 10 ms later, is missed.
        sms(ports).on_send = lambda _: clock.advance(seconds=0.05)
        ports.pacer = ScriptedPacer(clock, [timedelta(0), timedelta(milliseconds=10), timedelta(0)])
        cid = start(ports)
        sending.send_batch(ports, SendBatch(SHOP, cid, tuple(audience)))
        sent = sms(ports).sent
        assert [s.sms.to_number for s in sent] == audience
        assert sent[1].at is not None and sent[0].at is not None
        assert sent[1].at - sent[0].at >= timedelta(milliseconds=50)  # on a new slot, not crowding the missed one

    def test_end_campaign_returns_only_after_every_lease_has_run_out(self) -> None:
        ports = make_ports()
        add(ports, phones(1))
        cid = start(ports)
        sleep = ports.sleep
        assert isinstance(sleep, VirtualTime)
        before = sleep.slept
        campaigns.end_campaign(ports, SHOP, cid)
        assert sleep.slept - before >= SEND_LEASE.total_seconds()

    def test_end_between_claim_and_send_within_the_lease_is_the_last_group(self) -> None:
        ports = make_ports()
        audience = phones(GROUP_SIZE + 3)
        add(ports, audience)
        cid = start(ports)
        ended: list[bool] = []

        def end_once(_: object) -> None:
            if not ended:
                ended.append(True)
                campaigns.end_campaign(ports, SHOP, cid)

        sms(ports).on_send = end_once
        report = sending.send_batch(ports, SendBatch(SHOP, cid, tuple(audience)))
        # The group claimed before End may finish inside its lease; nothing after it is claimed or sent.
        assert report.stopped and len(texts(ports)) <= GROUP_SIZE
        assert all(p not in texts(ports) for p in audience[GROUP_SIZE:])
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED


class TestConsentAtTheClaim:
    def test_a_stop_while_an_earlier_group_sends_is_refused_by_the_later_groups_claim(self) -> None:
        ports = make_ports()
        audience = phones(GROUP_SIZE + 3)
        add(ports, audience)
        cid = start(ports)
        late_stopper = audience[-1]

        def stop_once(_: object) -> None:
            current = ports.subscribers.get(SHOP, late_stopper)
            if current is not None and current.status is SubscriberStatus.ACTIVE:
                subscribers.opt_out(ports, SHOP, late_stopper, source=subscribers.ConsentSource.MERCHANT, text="x")

        sms(ports).on_send = stop_once
        reads = count_subscriber_reads(ports)
        report = sending.send_batch(ports, SendBatch(SHOP, cid, tuple(audience)))
        assert late_stopper not in texts(ports) and report.sent == len(audience) - 1
        # No consent read per group: the batch read its subscribers once, and the claim's condition on the contact
        # window (moved by the STOP) refused the stopper, who is handed back to be decided again.
        assert reads == [len(audience)] and report.requeued == [late_stopper]
        assert (SHOP, cid, late_stopper) not in ledger(ports).rows
        Engine(ports).run_until(ports.clock.now() + timedelta(minutes=1))
        assert late_stopper not in texts(ports)
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED

    @pytest.mark.parametrize("stop_after", ["windows", "get_many"])
    def test_a_stop_between_the_batchs_reads_is_caught_whichever_read_it_follows(self, stop_after: str) -> None:
        # The windows are read before the subscribers: a STOP after the window read but before the subscriber read
        # is skipped at once; after both reads, the moved window refuses the claim. No order lets it through.
        ports = make_ports()
        audience = phones(3)
        add(ports, audience)
        cid = start(ports)
        stopper = audience[1]
        reader: Any = ports.contacts if stop_after == "windows" else ports.subscribers
        read = getattr(reader, stop_after)

        def read_then_stop(shop_id: str, found: Sequence[str]) -> Any:
            got = read(shop_id, found)
            current = ports.subscribers.get(SHOP, stopper)
            if stopper in found and current is not None and current.status is SubscriberStatus.ACTIVE:
                subscribers.opt_out(ports, SHOP, stopper, source=subscribers.ConsentSource.MERCHANT, text="x")
            return got

        setattr(reader, stop_after, read_then_stop)
        Engine(ports).run_until(ports.clock.now() + timedelta(minutes=1))
        assert stopper not in texts(ports)
        assert sorted(texts(ports)) == sorted(p for p in audience if p != stopper)
        entry = ledger(ports).rows[(SHOP, cid, stopper)]
        assert (entry.state, entry.reason) == (SendState.SKIPPED, "not_subscribed")
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED


class TestFrequencyCapAcrossCampaigns:
    def test_a_window_changed_by_another_campaign_is_decided_again_and_the_cap_holds(self) -> None:
        ports = make_ports(frequency_cap={"messages": 1, "days": 7})
        audience = phones(3)
        add(ports, audience)
        first, second = start(ports, "First"), start(ports, "Second")
        real = ledger(ports)
        other_claimed = False

        # Campaign one claims the same people just after campaign two read their contact windows.
        def claim(shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
            nonlocal other_claimed
            if campaign_id == second and not other_claimed:
                other_claimed = True
                sending.send_batch(ports, SendBatch(SHOP, first, tuple(audience)))
            return FakeLedger.claim(real, shop_id, campaign_id, claims, at)

        real.claim = claim  # type: ignore[method-assign]
        sending.send_batch(ports, SendBatch(SHOP, second, tuple(audience)))
        Engine(ports).run_until(DAYTIME + timedelta(minutes=5))
        for phone in audience:
            assert texts(ports).count(phone) == 1  # the cap is one message a week, whichever campaign won
            assert ledger(ports).rows[(SHOP, second, phone)].reason == "frequency_cap"
        assert ports.contacts.windows(SHOP, audience)[audience[0]].count_since(DAYTIME - timedelta(days=7)) == 1

    def test_the_window_remembers_only_what_the_cap_can_look_at(self) -> None:
        now = DAYTIME
        window = ContactWindow((now - timedelta(days=200), now - timedelta(days=3)), version=4).with_send(now)
        assert window.sent == (now, now - timedelta(days=3)) and window.version == 5
        assert window.count_since(now - timedelta(days=7)) == 2
        assert FrequencyCap(messages=2, days=7).messages <= window.count_since(now - timedelta(days=7))


class TestOneInvocation:
    def test_batches_of_one_invocation_read_the_campaign_and_shop_once(self) -> None:
        ports = make_ports()
        audience = phones(6)
        add(ports, audience)
        cid = start(ports)
        reads: list[str] = []

        class Counted:
            """The service's view of a repository, counting its reads (the fakes keep their own references)."""

            def __init__(self, name: str, target: object) -> None:
                self.name, self.target = name, target

            def __getattr__(self, attr: str) -> object:
                if attr == "get":
                    reads.append(self.name)
                return getattr(self.target, attr)

        ports.campaigns = Counted("campaign", ports.campaigns)  # type: ignore[assignment]
        ports.shops = Counted("shop", ports.shops)  # type: ignore[assignment]
        invocation = sending.Invocation()
        for half in (audience[:3], audience[3:]):
            sending.send_batch(ports, SendBatch(SHOP, cid, tuple(half)), invocation=invocation)
        assert sorted(reads) == ["campaign", "shop"] and sorted(texts(ports)) == sorted(audience)

    def test_a_campaign_ended_after_the_invocation_read_it_sends_nothing_more(self) -> None:
        ports = make_ports()
        audience = phones(4)
        add(ports, audience)
        cid = start(ports)
        invocation = sending.Invocation()
        sending.send_batch(ports, SendBatch(SHOP, cid, tuple(audience[:2])), invocation=invocation)
        campaigns.end_campaign(ports, SHOP, cid)
        report = sending.send_batch(ports, SendBatch(SHOP, cid, tuple(audience[2:])), invocation=invocation)
        assert report.stopped and sorted(texts(ports)) == sorted(audience[:2])  # the group's claim refused it


class TestLowRates:
    def test_a_batch_at_one_part_a_second_keeps_sending_and_hands_back_only_at_its_deadline(self) -> None:
        ports = make_ports(mps=1)
        audience = phones(12)
        add(ports, audience)
        cid = start(ports)
        clock = ports.clock
        assert isinstance(clock, FrozenClock)
        report = sending.send_batch(ports, SendBatch(SHOP, cid, tuple(audience)), deadline=clock.now() + timedelta(seconds=30))
        # twelve seconds of pacing in small waits is sending, not waiting: nothing handed back
        assert report.sent == 12 and report.requeued == []
        report = sending.send_batch(
            ports, SendBatch(SHOP, start(ports), tuple(audience)), deadline=clock.now() + timedelta(seconds=5)
        )
        assert 3 <= report.sent <= 6 and len(report.requeued) == 12 - report.sent  # the rest goes back at the deadline


def test_at_most_once_rows_a_dead_worker_left_claimed_are_settled_interrupted_even_after_end() -> None:
    # Found by the chaos rounds: a worker died between its claim and its settle, End came, and the record's
    # redelivery stopped at "campaign not running", so the rows stayed claimed for good, out of every count
    # (and a message the provider had taken was missing from Sent).
    ports = make_ports()
    audience = phones(5)
    add(ports, audience)
    cid = start(ports)
    batch = SendBatch(SHOP, cid, tuple(audience))

    def die_after_the_third(message: object) -> None:
        if len(sms(ports).sent) == 3:
            raise WorkerCrash("the worker died after the provider took the third message")

    sms(ports).on_send = die_after_the_third
    try:
        sending.send_batch(ports, batch)
    except WorkerCrash:
        pass
    else:
        raise AssertionError("the worker should have died")
    assert {r.state for r in ledger(ports).rows.values()} == {SendState.CLAIMED}
    campaigns.end_campaign(ports, SHOP, cid)
    sms(ports).on_send = None
    clock = ports.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(seconds=sending.CLAIM_STALE_AFTER.total_seconds() + 1)  # the record comes back

    report = sending.send_batch(ports, batch)
    assert report.stopped and report.failed == len(audience)
    rows = [ledger(ports).rows[(SHOP, cid, p)] for p in audience]
    assert all((r.state, r.reason) == (SendState.FAILED, "interrupted") for r in rows)
    assert len(texts(ports)) == 3  # nothing more sent after End
    c = campaigns.get_campaign(ports, SHOP, cid)
    assert c.stats.failed == len(audience) and c.stats.sent == 0
