"""A shop's pool of operator-assigned numbers: batches spread over it by rate, inbound on any of them reaches the
Inbox, replies follow the number the subscriber used, STOP holds for every number, and the registry guards it all."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest

from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.errors import Conflict, InvalidInput, NotFound
from chalicelib.domain.messages import InboundSms, MessageKind
from chalicelib.domain.pacing import Slots
from chalicelib.domain.senders import batch_key, choose
from chalicelib.domain.sending import SendBatch, SkipReason
from chalicelib.domain.shops import SenderNumber
from chalicelib.domain.subscribers import SubscriberStatus
from chalicelib.ops import numbers as ops_numbers
from chalicelib.services import campaigns, inbox, numbers, planning, sending, shops, subscribers
from chalicelib.services.inbound import receive_sms
from chalicelib.services.ports import Ports
from tests.commands import add_subscriber, new_campaign, reply_request
from tests.engine import Engine
from tests.fakes import FakePacer, FakeSms, FrozenClock, fake_ports
from tests.numbers import create_shop

SHOP, OTHER = "demo.myshopify.com", "other.myshopify.com"
SLOW, FAST, SPARE = "+15550100010", "+15550100011", "+15550100012"  # 10 and 100 MPS; SPARE: the other shop's
DAYTIME = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York
NY = [f"+1212555{n:04d}" for n in range(1000, 1400)]


class RecordingPacer(FakePacer):
    """The fake pacer, remembering the limit it was asked with for each number."""

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock)
        self.limits: dict[str, set[int]] = {}

    def grant(self, number: str, limit: int, parts: Sequence[int]) -> Slots:
        self.limits.setdefault(number, set()).add(limit)
        return super().grant(number, limit, parts)


def make_ports() -> Ports:
    clock = FrozenClock(DAYTIME)
    ports = fake_ports(clock)
    ports.pacer = RecordingPacer(clock)
    create_shop(ports, shop_id=SHOP, settings={"shop_name": "Demo"}, numbers={SLOW: 10, FAST: 100})
    create_shop(ports, shop_id=OTHER, settings={"shop_name": "Other"}, numbers={SPARE: 100})
    return ports


def sms(ports: Ports) -> FakeSms:
    assert isinstance(ports.sms, FakeSms)
    return ports.sms


def join(ports: Ports, *phones: str) -> None:
    for phone in phones:
        subscribers.add_subscriber(ports, SHOP, add_subscriber({"phone": phone, "source": "checkout"}))


def send_now(ports: Ports) -> str:
    command = new_campaign({"name": "Sale", "message": "20% off today", "segment_id": "all", "send_at": "now"})
    return campaigns.create_campaign(ports, SHOP, command).campaign_id


_ids = iter(range(1, 1_000_000))


def text(ports: Ports, body: str, phone: str, to: str) -> None:
    receive_sms(ports, InboundSms(f"in-{next(_ids)}", phone, to, body, ports.clock.now()))


# --- choosing the number of a batch ---------------------------------------------------------------------


class TestChoose:
    POOL = (SenderNumber(SLOW, 10), SenderNumber(FAST, 100))

    def test_batches_split_in_proportion_to_each_numbers_rate(self) -> None:
        picks = Counter(choose(self.POOL, batch_key("cmp", [f"+1212{n:07d}"])).number for n in range(22_000))
        assert picks[FAST] / picks[SLOW] == pytest.approx(10, rel=0.15)

    def test_a_redelivered_batch_picks_the_same_number(self) -> None:
        key = batch_key("cmp", NY[:98])
        assert len({choose(self.POOL, key).number for _ in range(5)}) == 1
        assert choose(tuple(reversed(self.POOL)), key) == choose(self.POOL, key)  # the pool's order is no input

    def test_adding_a_number_only_moves_batches_to_it(self) -> None:
        bigger = (*self.POOL, SenderNumber(SPARE, 50))
        for n in range(2_000):
            key = batch_key("cmp", [str(n)])
            after = choose(bigger, key).number
            assert after in (choose(self.POOL, key).number, SPARE)

    def test_an_empty_pool_has_no_number(self) -> None:
        with pytest.raises(InvalidInput):
            choose((), "k")


# --- campaign sending over the pool ---------------------------------------------------------------------


class TestCampaignOverThePool:
    def test_each_batch_goes_from_one_number_paced_at_that_numbers_own_rate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Campaign ids are random and choose() hashes them with the batch: with five 98-recipient batches all of them
        # would go from FAST in (10/11)^5 = 62% of runs. One recipient a batch: SLOW gets none in (10/11)^400 ~ 3e-17.
        monkeypatch.setattr(planning, "RECIPIENTS_PER_BATCH", 1)
        ports = make_ports()
        join(ports, *NY)
        cid = send_now(ports)
        Engine(ports).run()
        assert campaigns.get_campaign(ports, SHOP, cid).status is CampaignStatus.COMPLETED
        sent = [s.sms for s in sms(ports).sent if s.sms.campaign_id == cid]
        assert sorted(s.to_number for s in sent) == NY  # everyone once
        assert {s.from_number for s in sent} == {SLOW, FAST}  # both numbers of the pool were used
        assert isinstance(ports.pacer, RecordingPacer)
        assert ports.pacer.limits == {SLOW: {10}, FAST: {100}}  # each number paced with its own MPS

    def test_a_shop_without_numbers_skips_with_no_sender(self) -> None:
        ports = make_ports()
        join(ports, NY[0])
        numbers.unassign(ports, SLOW)
        numbers.unassign(ports, FAST)
        cid = send_now(ports)
        Engine(ports).run()
        assert not [s for s in sms(ports).sent if s.sms.campaign_id == cid]
        entry = ports.ledger.get_many(SHOP, cid, [NY[0]])[NY[0]]
        assert entry.reason == SkipReason.NO_SENDER.value

    def test_an_unassigned_number_is_no_longer_used(self) -> None:
        ports = make_ports()
        join(ports, *NY[:200])
        numbers.unassign(ports, FAST)
        cid = send_now(ports)
        Engine(ports).run()
        assert {s.sms.from_number for s in sms(ports).sent if s.sms.campaign_id == cid} == {SLOW}
        assert ports.shops.shop_for_sender(FAST) is None


# --- inbound, Inbox replies and opt-outs ------------------------------------------------------------------


class TestInboundOverThePool:
    def test_a_text_to_any_pool_number_reaches_the_shops_inbox(self) -> None:
        ports = make_ports()
        join(ports, NY[0])
        text(ports, "Do you ship to Canada?", NY[0], FAST)
        conversation = ports.inbox.get(SHOP, NY[0])
        assert conversation is not None and conversation.last_message == "Do you ship to Canada?"
        assert conversation.number == FAST

    def test_a_reply_goes_from_the_number_the_subscriber_used(self) -> None:
        ports = make_ports()
        join(ports, NY[0], NY[1])
        text(ports, "Hello?", NY[0], FAST)
        inbox.reply(ports, SHOP, NY[0], reply_request({"text": "Hi!"}))
        inbox.reply(ports, SHOP, NY[1], reply_request({"text": "Hi!"}))  # never texted: the primary
        replies = {s.sms.to_number: s.sms.from_number for s in sms(ports).sent if s.sms.kind is MessageKind.REPLY}
        assert replies == {NY[0]: FAST, NY[1]: SLOW}

    def test_a_reply_falls_back_to_the_primary_once_that_number_is_unassigned(self) -> None:
        ports = make_ports()
        join(ports, NY[0])
        text(ports, "Hello?", NY[0], FAST)
        numbers.unassign(ports, FAST)
        inbox.reply(ports, SHOP, NY[0], reply_request({"text": "Hi!"}))
        assert [s.sms.from_number for s in sms(ports).sent if s.sms.kind is MessageKind.REPLY] == [SLOW]

    def test_stop_to_one_pool_number_blocks_sends_from_every_number(self) -> None:
        ports = make_ports()
        join(ports, NY[0])
        text(ports, "STOP", NY[0], FAST)
        assert ports.subscribers.get(SHOP, NY[0]).status is SubscriberStatus.OPTED_OUT  # type: ignore[union-attr]
        assert {(SLOW, NY[0]), (FAST, NY[0])} <= sms(ports).opted_out  # every number's carrier list
        stop_answer = [s.sms for s in sms(ports).sent if s.sms.kind is MessageKind.COMPLIANCE]
        assert [m.from_number for m in stop_answer] == [FAST]  # answered where the STOP went
        cid = send_now(ports)
        Engine(ports).run()
        assert not [s for s in sms(ports).sent if s.sms.campaign_id == cid]
        text(ports, "START", NY[0], SLOW)
        assert not {(SLOW, NY[0]), (FAST, NY[0])} & sms(ports).opted_out

    def test_a_keyword_join_on_a_pool_number_is_confirmed_from_the_primary(self) -> None:
        ports = make_ports()
        text(ports, "JOIN", NY[5], FAST)
        confirmations = [s.sms for s in sms(ports).sent if s.sms.to_number == NY[5]]
        assert confirmations and {m.from_number for m in confirmations} == {SLOW}

    def test_a_number_of_another_shop_routes_there(self) -> None:
        ports = make_ports()
        text(ports, "hi", NY[0], SPARE)
        assert ports.inbox.get(OTHER, NY[0]) is not None and ports.inbox.get(SHOP, NY[0]) is None


# --- the operator's registry and the merchant's primary ---------------------------------------------------


class TestRegistry:
    def test_the_first_number_is_the_primary_and_the_merchant_may_choose_another_of_the_pool(self) -> None:
        ports = make_ports()
        assert ports.shops.get(SHOP).primary == SLOW
        shops.update_settings(ports, SHOP, {"sender_number": FAST})
        assert ports.shops.get(SHOP).primary == FAST

    @pytest.mark.parametrize("number", [SPARE, "+15550100099"])
    def test_a_shop_cannot_choose_another_shops_or_an_unassigned_number(self, number: str) -> None:
        ports = make_ports()
        before = ports.shops.get(SHOP)
        with pytest.raises(Conflict) as caught:
            shops.update_settings(ports, SHOP, {"shop_name": "Changed", "sender_number": number})
        assert caught.value.code == "sender_number_not_assigned"
        assert ports.shops.get(SHOP) == before

    def test_a_number_assigned_elsewhere_is_refused(self) -> None:
        ports = make_ports()
        with pytest.raises(Conflict) as caught:
            numbers.assign(ports, SPARE, SHOP, mps=1000)
        assert caught.value.code == "sender_number_taken"
        assert not ports.shops.get(SHOP).owns(SPARE)
        assert ports.shops.shop_for_sender(SPARE).shop_id == OTHER  # type: ignore[union-attr]

    def test_a_number_the_account_does_not_have_is_refused(self) -> None:
        ports = make_ports()
        sms(ports).not_in_account.add("+15550100077")
        with pytest.raises(NotFound) as caught:
            numbers.assign(ports, "+15550100077", SHOP, mps=3)
        assert caught.value.code == "number_not_in_account"
        assert not ports.shops.get(SHOP).owns("+15550100077")

    @pytest.mark.parametrize("mps", [0, -1, 3001])
    def test_a_rate_out_of_range_is_refused(self, mps: int) -> None:
        ports = make_ports()
        with pytest.raises(InvalidInput):
            numbers.assign(ports, "+15550100078", SHOP, mps=mps)

    def test_a_new_shop_cannot_name_a_number(self) -> None:
        ports = make_ports()
        with pytest.raises(Conflict):
            shops.create_shop(ports, shop_id="new.myshopify.com", settings={"sender_number": "+15550100079"})


class TestOperatorCommand:
    def test_assign_list_unassign(self, capsys: pytest.CaptureFixture[str]) -> None:
        ports = make_ports()
        out = io.StringIO()
        assert ops_numbers.main(["assign", "+15550100013", SHOP, "--mps", "3"], ports=ports, out=out) == 0
        assert "primary " + SLOW in out.getvalue()
        listing = io.StringIO()
        assert ops_numbers.main(["list"], ports=ports, out=listing) == 0
        assert listing.getvalue().splitlines() == [
            f"{SLOW}\t10 MPS\tSIMULATOR\t{SHOP}",
            f"{FAST}\t100 MPS\tSIMULATOR\t{SHOP}",
            f"{SPARE}\t100 MPS\tSIMULATOR\t{OTHER}",
            f"+15550100013\t3 MPS\tSIMULATOR\t{SHOP}",
        ]
        assert ops_numbers.main(["unassign", "+15550100013"], ports=ports, out=io.StringIO()) == 0
        assert not ports.shops.get(SHOP).owns("+15550100013")

    def test_a_refusal_exits_1_with_its_reason(self, capsys: pytest.CaptureFixture[str]) -> None:
        ports = make_ports()
        assert ops_numbers.main(["assign", SPARE, SHOP, "--mps", "3"], ports=ports, out=io.StringIO()) == 1
        assert "sender_number_taken" in capsys.readouterr().err
        assert ops_numbers.main(["unassign", "+15550100099"], ports=ports, out=io.StringIO()) == 1
        assert "number_not_assigned" in capsys.readouterr().err


def test_send_batch_picks_the_same_number_on_redelivery() -> None:
    ports = make_ports()
    join(ports, *NY[:98])
    cid = send_now(ports)
    batch = SendBatch(SHOP, cid, tuple(NY[:98]))
    expected = choose(ports.shops.get(SHOP).numbers, batch_key(cid, NY[:98])).number
    sending.send_batch(ports, batch)
    sending.send_batch(ports, batch)  # redelivered: nothing more is sent, and nothing from another number
    sent = [s.sms for s in sms(ports).sent if s.sms.campaign_id == cid]
    assert len(sent) == 98 and {s.from_number for s in sent} == {expected}
