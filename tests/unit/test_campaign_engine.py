"""The campaign engine on fakes: every promise of issue 3 attacked (duplicates, crashes, STOP, End,
quiet hours across timezones, pacing on a virtual clock, throttling, duplicate firing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.messages import InboundSms
from chalicelib.domain.pacing import window_peak
from chalicelib.domain.quiet_hours import Recipient, is_quiet
from chalicelib.domain.sending import GROUP_SIZE, SendState
from chalicelib.domain.shops import QuietHours
from chalicelib.services import campaigns, subscribers
from chalicelib.services.inbound import receive_sms
from chalicelib.services.ports import Ports
from chalicelib.services.shops import update_settings
from tests.commands import add_subscriber, campaign_edit, new_campaign
from tests.engine import Engine
from tests.fakes import FakeLedger, FakeSchedules, FakeSms, FrozenClock, fake_ports
from tests.numbers import create_shop

SHOP = "demo.myshopify.com"
SENDER = "+15550100000"
# Friday 2026-11-20 15:00 UTC = 10:00 in New York: everyone in the continental US is awake.
DAYTIME = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)

NY = [f"+1212555{n:04d}" for n in range(1000, 1010)]


def make_ports(at: datetime = DAYTIME, *, mps: int = 100, **settings: object) -> Ports:
    ports = fake_ports(FrozenClock(at))
    create_shop(ports, shop_id=SHOP, settings={"shop_name": "Demo", **settings}, numbers={SENDER: mps})
    return ports


def add(ports: Ports, *phones: str, name: str | None = None) -> None:
    for phone in phones:
        body: dict[str, object] = {"phone": phone, "source": "checkout"}
        if name:
            body["name"] = name
        subscribers.add_subscriber(ports, SHOP, add_subscriber(body))


def sms(ports: Ports) -> FakeSms:
    assert isinstance(ports.sms, FakeSms)
    return ports.sms


def ledger(ports: Ports) -> FakeLedger:
    assert isinstance(ports.ledger, FakeLedger)
    return ports.ledger


def campaign_texts(ports: Ports) -> list[str]:
    return [s.sms.to_number for s in sms(ports).sent if s.sms.campaign_id]


def opens_promptly(sent: datetime, opening: datetime) -> bool:
    """Sent once the window opened, on one of the first pacer slots after it (never before it)."""
    return opening <= sent < opening + timedelta(seconds=1)


def send_now(ports: Ports, message: str = "Hi {first_name|there}! 20% off today.", segment: str = "all") -> str:
    command = new_campaign({"name": "Sale", "message": message, "segment_id": segment, "send_at": "now"})
    c = campaigns.create_campaign(ports, SHOP, command)
    assert c.status is CampaignStatus.IN_PROGRESS
    return c.campaign_id


class TestSendNow:
    def test_every_active_member_gets_exactly_one_message(self) -> None:
        ports = make_ports()
        add(ports, *NY)
        subscribers.opt_out(ports, SHOP, NY[0], source=subscribers.ConsentSource.MERCHANT, text="x")
        receive_sms(ports, InboundSms("in-1", "+13125550100", SENDER, "JOIN", DAYTIME))  # pending: not a member
        cid = send_now(ports)
        Engine(ports).run()
        assert sorted(campaign_texts(ports)) == NY[1:]
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert c.status is CampaignStatus.COMPLETED and not c.ended_early
        assert (c.stats.planned, c.stats.sent, c.stats.skipped, c.stats.failed) == (9, 9, 0, 0)

    def test_personalisation_and_opt_out_hint(self) -> None:
        ports = make_ports()
        add(ports, NY[0], name="Ada Lovelace")
        add(ports, NY[1])
        send_now(ports)
        Engine(ports).run()
        bodies = {s.sms.to_number: s.sms.body for s in sms(ports).sent}
        assert bodies[NY[0]] == "Hi Ada! 20% off today.\nReply STOP to opt out"
        assert bodies[NY[1]].startswith("Hi there!")

    def test_empty_audience_completes_at_once(self) -> None:
        ports = make_ports()
        cid = send_now(ports, segment="ordered")
        Engine(ports).run()
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED

    def test_audience_is_fixed_at_start(self) -> None:
        ports = make_ports()
        add(ports, *NY[:3])
        send_now(ports)
        ports.clock.advance(seconds=1)  # type: ignore[attr-defined]
        add(ports, NY[9])  # joins after the campaign started
        Engine(ports).run()
        assert sorted(campaign_texts(ports)) == NY[:3]

    def test_send_now_pressed_twice_starts_once(self) -> None:
        ports = make_ports()
        add(ports, *NY)
        command = new_campaign({"name": "S", "message": "Hi", "segment_id": "all", "draft": True})
        draft = campaigns.create_campaign(ports, SHOP, command)
        first = campaigns.send_now(ports, SHOP, draft.campaign_id)
        second = campaigns.send_now(ports, SHOP, draft.campaign_id)
        assert first.started_at == second.started_at
        Engine(ports).run()
        assert sorted(campaign_texts(ports)) == NY


class TestAtMostOnce:
    def test_every_message_delivered_twice_still_sends_once(self) -> None:
        ports = make_ports()
        add(ports, *NY)
        cid = send_now(ports)
        engine = Engine(ports, duplicate_every_message=True)
        engine.run()
        assert sorted(campaign_texts(ports)) == NY
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert (c.stats.planned, c.stats.sent, c.status) == (10, 10, CampaignStatus.COMPLETED)

    def test_crash_after_claim_before_send_never_sends_and_is_visible(self) -> None:
        ports = make_ports()
        add(ports, *NY)
        ledger(ports).crash_after_claim.add(NY[4])
        cid = send_now(ports)
        engine = Engine(ports)
        engine.run_until(DAYTIME + timedelta(minutes=15))
        assert engine.crashes == 1
        # The whole group was claimed in one transaction before the crash: none of it is ever sent, and every
        # one of them is shown as interrupted rather than left hanging.
        assert campaign_texts(ports) == []
        for phone in NY:
            entry = ledger(ports).rows[(SHOP, cid, phone)]
            assert (entry.state, entry.reason) == (SendState.FAILED, "interrupted")
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert (c.stats.sent, c.stats.failed, c.status) == (0, 10, CampaignStatus.COMPLETED)

    def test_a_crash_costs_at_most_one_group(self) -> None:
        ports = make_ports()
        phones = [f"+1212555{n:04d}" for n in range(2000, 2000 + GROUP_SIZE + 7)]
        add(ports, *phones)
        ledger(ports).crash_after_claim.add(phones[0])
        cid = send_now(ports)
        engine = Engine(ports)
        engine.run_until(DAYTIME + timedelta(minutes=15))
        assert engine.crashes == 1
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert (c.stats.sent, c.stats.failed, c.status) == (7, GROUP_SIZE, CampaignStatus.COMPLETED)
        assert sorted(campaign_texts(ports)) == sorted(phones[GROUP_SIZE:])

    def test_crash_after_send_before_record_sends_no_second_message(self) -> None:
        ports = make_ports()
        add(ports, *NY)
        ledger(ports).crash_before_record.add(NY[4])
        cid = send_now(ports)
        engine = Engine(ports)
        engine.run_until(DAYTIME + timedelta(minutes=15))
        assert engine.crashes == 1
        assert campaign_texts(ports).count(NY[4]) == 1  # the phone got it once, and only once
        assert sorted(campaign_texts(ports)) == NY
        assert ledger(ports).rows[(SHOP, cid, NY[4])].state is SendState.FAILED  # outcome unknown: shown as such
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED

    def test_duplicate_schedule_firing_starts_once(self) -> None:
        ports = make_ports()
        add(ports, *NY)
        c = campaigns.create_campaign(
            ports, SHOP, new_campaign({"name": "S", "message": "Hi", "segment_id": "all", "send_at": "2026-11-20T11:00"})
        )
        assert c.status is CampaignStatus.SCHEDULED
        engine = Engine(ports, duplicate_every_message=True)
        engine.run_until(DAYTIME + timedelta(hours=2))
        assert sorted(campaign_texts(ports)) == NY
        assert campaigns.get_campaign(ports, SHOP, c.campaign_id).status is CampaignStatus.COMPLETED

    def test_provider_throttling_is_retried_without_double_sending(self) -> None:
        ports = make_ports()
        add(ports, *NY)
        sms(ports).throttle_next = 4
        cid = send_now(ports)
        Engine(ports).run_until(DAYTIME + timedelta(minutes=10))
        assert sorted(campaign_texts(ports)) == NY
        assert campaigns.get_campaign(ports, SHOP, cid).stats.sent == 10

    def test_throttled_forever_fails_with_reason_and_completes(self) -> None:
        ports = make_ports()
        add(ports, NY[0])
        sms(ports).throttle_next = 10_000
        cid = send_now(ports)
        Engine(ports).run_until(DAYTIME + timedelta(hours=2))
        assert campaign_texts(ports) == []
        assert ledger(ports).rows[(SHOP, cid, NY[0])].reason == "throttled"
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED


class TestConsentAndEnd:
    def test_stop_after_planning_is_respected_at_send_time(self) -> None:
        ports = make_ports()
        add(ports, *NY)
        cid = send_now(ports)
        engine = Engine(ports)
        engine.step()  # the planning page runs; batches are queued with NY[3] in them
        receive_sms(ports, InboundSms("stop-1", NY[3], SENDER, "stop", DAYTIME))
        engine.run()
        assert NY[3] not in campaign_texts(ports)
        assert ledger(ports).rows[(SHOP, cid, NY[3])].reason == "not_subscribed"
        assert len(campaign_texts(ports)) == 9

    def test_stop_between_eligibility_check_and_claim_is_caught_by_the_claim(self) -> None:
        ports = make_ports(mps=1)
        add(ports, *NY[:3])
        cid = send_now(ports)

        def stop_next(sent: object) -> None:
            if len(campaign_texts(ports)) == 1:  # while the worker is mid-batch
                receive_sms(ports, InboundSms("stop-2", NY[1], SENDER, "STOP", ports.clock.now()))

        sms(ports).on_send = stop_next
        # The claim refuses NY[1] (the STOP moved its contact window) and hands it back; the batch that decides it
        # again a second later reads the STOP and skips it.
        Engine(ports).run_until(ports.clock.now() + timedelta(minutes=1))
        assert NY[1] not in campaign_texts(ports)
        entry = ledger(ports).rows[(SHOP, cid, NY[1])]
        assert (entry.state, entry.reason) == (SendState.SKIPPED, "not_subscribed")
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED

    def test_nothing_starts_after_end_returns(self) -> None:
        ports = make_ports()
        add(ports, *NY)
        cid = send_now(ports)
        ended: list[int] = []

        def end_after_third(sent: object) -> None:
            if len(campaign_texts(ports)) == 3 and not ended:
                campaigns.end_campaign(ports, SHOP, cid)
                ended.append(len(campaign_texts(ports)))

        sms(ports).on_send = end_after_third
        Engine(ports, duplicate_every_message=True).run()
        assert ended == [3] and len(campaign_texts(ports)) == 3
        c = campaigns.get_campaign(ports, SHOP, cid)
        assert c.status is CampaignStatus.COMPLETED and c.ended_early and c.not_sent == 7

    def test_end_only_in_progress(self) -> None:
        ports = make_ports()
        command = new_campaign({"name": "S", "message": "Hi", "segment_id": "all", "draft": True})
        draft = campaigns.create_campaign(ports, SHOP, command)
        with pytest.raises(campaigns.Conflict):
            campaigns.end_campaign(ports, SHOP, draft.campaign_id)


# Thursday 2026-11-19 03:30 UTC = 22:30 New York, 21:30 Chicago, 19:30 Los Angeles, 17:30 Honolulu.
LATE = datetime(2026, 11, 19, 3, 30, tzinfo=timezone.utc)
CHICAGO = ["+13125550101", "+13125550102"]
LOS_ANGELES = ["+12135550101", "+12135550102"]
HONOLULU = ["+18085550101"]
MIAMI = ["+13055550101"]


class TestQuietHours:
    def test_each_recipient_is_sent_only_outside_quiet_hours_in_their_own_time(self) -> None:
        ports = make_ports(LATE)
        everyone = NY[:3] + CHICAGO + LOS_ANGELES + HONOLULU + MIAMI
        add(ports, *everyone)
        cid = send_now(ports)
        engine = Engine(ports)
        engine.run()
        # West coast and Hawaii now; New York, Miami and Chicago wait.
        assert sorted(campaign_texts(ports)) == sorted(LOS_ANGELES + HONOLULU)
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.IN_PROGRESS
        engine.run_until(LATE + timedelta(days=1))
        assert sorted(campaign_texts(ports)) == sorted(everyone)
        settings = ports.shops.get(SHOP).settings
        for (_, _, phone), entry in ledger(ports).rows.items():
            assert entry.state is SendState.SENT
            assert not is_quiet(Recipient.of(phone, settings.timezone), settings.quiet_hours, entry.at), phone
        sent_at = {phone: entry.at for (_, _, phone), entry in ledger(ports).rows.items()}
        # released when the window opens: 09:00 local (the shop's quiet hours end)
        assert opens_promptly(sent_at[NY[0]], datetime(2026, 11, 19, 14, 0, tzinfo=timezone.utc))
        assert opens_promptly(sent_at[MIAMI[0]], datetime(2026, 11, 19, 14, 0, tzinfo=timezone.utc))
        assert opens_promptly(sent_at[CHICAGO[0]], datetime(2026, 11, 19, 15, 0, tzinfo=timezone.utc))
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED

    def test_schedules_grow_with_release_times_not_recipients(self) -> None:
        ports = make_ports(LATE)
        add(ports, *NY, *CHICAGO)
        send_now(ports)
        Engine(ports).run()
        assert isinstance(ports.schedules, FakeSchedules)
        waves = {name for name in ports.schedules.created if name.startswith("wave-")}
        assert len(waves) == 2  # New York and Chicago: two release times for twelve recipients

    def test_legal_floor_holds_when_shop_quiet_hours_are_off(self) -> None:
        ports = make_ports(LATE, quiet_hours={"enabled": False})
        add(ports, NY[0], MIAMI[0])
        send_now(ports)
        engine = Engine(ports)
        engine.run()
        assert campaign_texts(ports) == []  # 22:30 in New York and Miami: after the 21:00 / 20:00 floor
        engine.run_until(LATE + timedelta(days=1))
        sent_at = {phone: e.at for (_, _, phone), e in ledger(ports).rows.items()}
        assert opens_promptly(sent_at[NY[0]], datetime(2026, 11, 19, 13, 0, tzinfo=timezone.utc))  # 08:00 New York

    def test_settings_changed_while_waiting_loses_none_and_sends_none_inside_the_new_window(self) -> None:
        ports = make_ports(LATE)
        add(ports, *NY[:3])
        cid = send_now(ports)
        engine = Engine(ports)
        engine.run()
        update_settings(ports, SHOP, {"quiet_hours": {"end": "11:00"}})
        engine.run_until(LATE + timedelta(days=1))
        assert sorted(campaign_texts(ports)) == NY[:3]
        for phone in NY[:3]:
            at = ledger(ports).rows[(SHOP, cid, phone)].at
            assert opens_promptly(at, datetime(2026, 11, 19, 16, 0, tzinfo=timezone.utc))  # 11:00 New York
        assert QuietHours().end.hour == 9  # the default was 09:00: the change really moved the window

    def test_end_while_recipients_wait_sends_them_nothing(self) -> None:
        ports = make_ports(LATE)
        add(ports, *NY[:3])
        cid = send_now(ports)
        engine = Engine(ports)
        engine.run()
        campaigns.end_campaign(ports, SHOP, cid)
        engine.run_until(LATE + timedelta(days=1))
        assert campaign_texts(ports) == []
        assert campaigns.get_campaign(ports, SHOP, cid).not_sent == 3


class TestPacing:
    def test_no_one_second_window_exceeds_the_mps_in_parts(self) -> None:
        ports = make_ports(mps=3)
        phones = [f"+1212555{n:04d}" for n in range(2000, 2030)]
        add(ports, *phones)
        long_message = "Big weekend sale on everything in store, today only, with free shipping on all orders " * 2
        send_now(ports, message=long_message.strip())  # two parts each
        Engine(ports).run_until(DAYTIME + timedelta(minutes=5), tick=timedelta(seconds=1))
        assert sorted(campaign_texts(ports)) == phones
        sends = [(int(s.at.timestamp() * 1000), s.receipt.parts) for s in sms(ports).sent if s.at]
        assert len(sends) == 30 and all(parts == 2 for _, parts in sends)
        assert window_peak(sends) <= 3  # measured at the provider, not at the pacer
        first, last = min(t for t, _ in sends), max(t for t, _ in sends)
        # 30 messages x 2 parts at 3 parts/s: about 20 s when kept close to the limit (never 2x slower)
        assert (last - first) / 1000 < 40

    def test_frequency_cap_skips_over_cap_recipients(self) -> None:
        ports = make_ports(frequency_cap={"messages": 1, "days": 7})
        add(ports, *NY[:2])
        send_now(ports)
        Engine(ports).run()
        second = send_now(ports)
        Engine(ports).run()
        assert len(campaign_texts(ports)) == 2
        assert {e.reason for (_, c, _), e in ledger(ports).rows.items() if c == second} == {"frequency_cap"}


class CountedGets:
    """A store whose ``get`` calls from the services are counted (its own internal reads are not)."""

    def __init__(self, inner: object) -> None:
        self.inner, self.gets = inner, 0

    def get(self, *args: object) -> object:
        self.gets += 1
        return self.inner.get(*args)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class TestSendNowReads:
    def test_send_now_starts_on_the_shop_and_campaign_it_just_read(self) -> None:
        ports = make_ports()
        add(ports, *NY[:2])
        shops, stored = CountedGets(ports.shops), CountedGets(ports.campaigns)
        cid = send_now(replace(ports, shops=shops, campaigns=stored))  # type: ignore[arg-type]
        assert (shops.gets, stored.gets) == (1, 0)  # the shop once (creating it), the campaign never: it was just written
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.IN_PROGRESS

    def test_a_start_on_a_stale_campaign_reads_it_again_and_starts_once(self) -> None:
        ports = make_ports()
        add(ports, *NY[:2])
        command = new_campaign({"name": "Sale", "message": "Hi", "segment_id": "all", "send_at": "now", "draft": True})
        draft = campaigns.create_campaign(ports, SHOP, command)
        campaigns.edit_campaign(ports, SHOP, draft.campaign_id, campaign_edit({"name": "Sale, renamed"}))  # moved on
        started = campaigns.start_now(ports, draft)  # decided first on the stale copy: its save conflicts, then re-read
        assert started.status is CampaignStatus.IN_PROGRESS and started.name == "Sale, renamed"
        Engine(ports).run()
        assert sorted(campaign_texts(ports)) == sorted(NY[:2])
