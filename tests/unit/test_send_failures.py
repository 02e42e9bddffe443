"""The one send path under every provider failure, for every kind of message.

Each case drives a message the way production would (the engine's queue for campaigns, an HTTP client
retrying with its Idempotency-Key for replies, SNS redelivering the inbound event for auto-replies), with
one provider fault switched on, until nothing more happens. Then it counts what the provider accepted:
nothing is ever accepted twice, and a throttled message goes out later exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain.errors import SmscastError
from chalicelib.domain.inbox import ReplyState
from chalicelib.domain.messages import Direction, InboundSms, MessageKind
from chalicelib.domain.sending import SendState
from chalicelib.domain.subscribers import SubscriberStatus
from chalicelib.services import campaigns, subscribers
from chalicelib.services.inbound import receive_sms
from chalicelib.services.ports import Ports
from tests import commands
from tests.engine import Engine
from tests.fakes import FakeLedger, FakeSms, FrozenClock, WorkerCrash
from tests.unit.conftest import Api, body

SHOP = "demo.myshopify.com"
SENDER = "+15550100000"
NY = "+12125551234"
REPLIES = "/inbox/%2B12125551234/replies"
DAY = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York: no quiet hours
RETRIES = 4  # how often a client / SNS tries again after an error


def fake_sms(ports: Ports) -> FakeSms:
    assert isinstance(ports.sms, FakeSms)
    return ports.sms


def clock(ports: Ports) -> FrozenClock:
    assert isinstance(ports.clock, FrozenClock)
    return ports.clock


# --- the failures ----------------------------------------------------------------------------------------


def throttled(ports: Ports) -> None:
    fake_sms(ports).throttle_next = 1


def rejected(ports: Ports) -> None:
    fake_sms(ports).reject_next = 1


def opted_out_at_carrier(ports: Ports) -> None:
    # Our record says active, the carrier's list says opted out (a START within AWS's 30-day window).
    fake_sms(ports).opted_out.add((SENDER, NY))


def unknown_error(ports: Ports) -> None:
    fake_sms(ports).fail_next = 1


def answer_lost(ports: Ports) -> None:
    fake_sms(ports).lose_answer_next = 1


def crash_after_send(ports: Ports) -> None:
    fake_sms(ports).crash_after_send_next = 1


FAILURES: dict[str, Callable[[Ports], None]] = {
    "throttled": throttled,
    "rejected": rejected,
    "opted_out": opted_out_at_carrier,
    "unknown_error": unknown_error,
    "answer_lost": answer_lost,
    "crash_after_send": crash_after_send,
}


@dataclass(frozen=True)
class Result:
    accepted: int  # messages the provider took for the subscriber (what the phone got)
    recorded: str  # what smscast recorded about the message in the end


# --- the kinds of message, each driven to the end ----------------------------------------------------------


def campaign_message(api: Api, failure: Callable[[Ports], None]) -> Result:
    ports = api.ports
    started = ports.clock.now()
    c = campaigns.create_campaign(
        ports, SHOP, commands.new_campaign({"name": "Sale", "message": "20% off", "segment_id": "all", "send_at": "now"})
    )
    failure(ports)
    Engine(ports).run_until(started + timedelta(hours=1))
    assert isinstance(ports.ledger, FakeLedger)
    entry = ports.ledger.rows[(SHOP, c.campaign_id, NY)]
    sent = [s for s in fake_sms(ports).sent if s.sms.kind is MessageKind.CAMPAIGN]
    assert all(s.at is not None and s.at >= started for s in sent)
    return Result(fake_sms(ports).accepted(NY, MessageKind.CAMPAIGN), f"{entry.state.value}:{entry.reason or ''}")


def inbox_reply(api: Api, failure: Callable[[Ports], None]) -> Result:
    ports = api.ports
    failure(ports)
    statuses: list[int] = []
    for _ in range(RETRIES):
        try:
            response = api.call("POST", REPLIES, body={"text": "Yes, until 6pm"}, headers={"Idempotency-Key": "reply-1"})
        except WorkerCrash:
            statuses.append(0)
            clock(ports).advance(minutes=2)  # the crashed request's key frees itself when its lease ends
            continue
        statuses.append(response.status_code)
        if response.status_code < 500 and response.status_code != 409:
            break
        clock(ports).advance(seconds=5)
    [reply] = [r for (s, p, _), r in ports.replies.rows.items() if (s, p) == (SHOP, NY)]  # type: ignore[attr-defined]
    return Result(fake_sms(ports).accepted(NY, MessageKind.REPLY), f"{reply.state.value}:{reply.reason or ''}")


def auto_reply(api: Api, failure: Callable[[Ports], None]) -> Result:
    ports = api.ports
    failure(ports)
    stop = InboundSms("stop-1", NY, SENDER, "STOP", ports.clock.now())
    for _ in range(RETRIES):
        try:
            receive_sms(ports, stop)  # SNS -> Lambda redelivers the same event after an error
            break
        except (SmscastError, WorkerCrash):
            clock(ports).advance(seconds=30)
    # Consent work is never held up by the answer: STOP holds and the number is on the carrier's list.
    subscriber = ports.subscribers.get(SHOP, NY)
    assert subscriber is not None and subscriber.status is SubscriberStatus.OPTED_OUT
    assert (SENDER, NY) in fake_sms(ports).opted_out
    answered = [
        m
        for m in ports.conversations.thread(SHOP, NY).items
        if m.direction is Direction.OUTBOUND and m.kind is MessageKind.COMPLIANCE
    ]
    return Result(fake_sms(ports).accepted(NY, MessageKind.COMPLIANCE), "answered" if answered else "not_answered")


KINDS: dict[str, Callable[[Api, Callable[[Ports], None]], Result]] = {
    "campaign": campaign_message,
    "reply": inbox_reply,
    "auto_reply": auto_reply,
}

# What each (kind, failure) comes to: (messages the phone got, what smscast recorded).
# Throttled: given back and sent later, once. Rejected / opted out: final. Unknown error, a lost answer or
# a crash after the provider took it: may have gone out, so recorded failed and never tried again.
EXPECTED: dict[tuple[str, str], Result] = {
    ("campaign", "throttled"): Result(1, "sent:"),
    ("campaign", "rejected"): Result(0, "failed:rejected:INVALID_PARAMETER"),
    ("campaign", "opted_out"): Result(0, "skipped:carrier_opt_out"),
    ("campaign", "unknown_error"): Result(0, "failed:error:provider_error"),
    ("campaign", "answer_lost"): Result(1, "failed:error:provider_error"),
    ("campaign", "crash_after_send"): Result(1, "failed:interrupted"),
    ("reply", "throttled"): Result(1, "sent:"),
    ("reply", "rejected"): Result(0, "failed:provider_rejected"),
    ("reply", "opted_out"): Result(0, "failed:opted_out"),
    ("reply", "unknown_error"): Result(0, "failed:provider_error"),
    ("reply", "answer_lost"): Result(1, "failed:provider_error"),
    ("reply", "crash_after_send"): Result(1, "failed:interrupted"),
    ("auto_reply", "throttled"): Result(1, "answered"),
    ("auto_reply", "rejected"): Result(0, "not_answered"),
    ("auto_reply", "opted_out"): Result(0, "not_answered"),
    ("auto_reply", "unknown_error"): Result(0, "not_answered"),
    ("auto_reply", "answer_lost"): Result(1, "not_answered"),
    ("auto_reply", "crash_after_send"): Result(1, "not_answered"),
}


@pytest.fixture
def shop(api: Api) -> Api:
    clock(api.ports).at = DAY
    subscribers.add_subscriber(api.ports, SHOP, commands.add_subscriber({"phone": NY, "source": "checkout"}))
    return api


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_failure_for_each_kind_never_sends_twice(shop: Api, kind: str, failure: str) -> None:
    result = KINDS[kind](shop, FAILURES[failure])
    assert result.accepted <= 1
    assert result == EXPECTED[(kind, failure)]


@pytest.mark.parametrize("kind", list(KINDS))
def test_throttled_goes_out_later_exactly_once(shop: Api, kind: str) -> None:
    ports = shop.ports
    first_try = ports.clock.now()
    result = KINDS[kind](shop, throttled)
    [sent] = [s for s in fake_sms(ports).sent if s.sms.to_number == NY]
    assert result.accepted == 1 and sent.at is not None and sent.at > first_try
    assert fake_sms(ports).calls.count(f"send:{NY}") == 2  # the refused try and the later one


def test_the_matrix_is_complete() -> None:
    assert set(EXPECTED) == {(k, f) for k in KINDS for f in FAILURES}


def _reply_state(api: Api) -> Any:
    return [r.state for (s, p, _), r in api.ports.replies.rows.items() if (s, p) == (SHOP, NY)]  # type: ignore[attr-defined]


def test_a_reply_that_may_have_gone_out_answers_the_same_on_every_retry(shop: Api) -> None:
    answer_lost(shop.ports)
    answers = [shop.call("POST", REPLIES, body={"text": "Hi"}, headers={"Idempotency-Key": "k"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [502, 502, 502]
    assert {body(a)["error"]["code"] for a in answers} == {"provider_error"}
    assert fake_sms(shop.ports).accepted(NY, MessageKind.REPLY) == 1 and _reply_state(shop) == [ReplyState.FAILED]


def test_a_campaign_crash_before_the_ledger_records_is_not_sent_again(shop: Api) -> None:
    ports = shop.ports
    c = campaigns.create_campaign(
        ports, SHOP, commands.new_campaign({"name": "S", "message": "Sale", "segment_id": "all", "send_at": "now"})
    )
    assert isinstance(ports.ledger, FakeLedger)
    ports.ledger.crash_before_record.add(NY)
    engine = Engine(ports, duplicate_every_message=True)
    engine.run_until(ports.clock.now() + timedelta(hours=1))
    assert engine.crashes == 1 and fake_sms(ports).accepted(NY, MessageKind.CAMPAIGN) == 1
    assert ports.ledger.rows[(SHOP, c.campaign_id, NY)].state is SendState.FAILED
