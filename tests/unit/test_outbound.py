"""services/outbound.deliver on its own: one error policy, whatever the claim store."""

from __future__ import annotations

from datetime import datetime

import pytest

from chalicelib.domain.errors import (
    ConsentRequired,
    ProviderError,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
    SmscastError,
)
from chalicelib.domain.messages import ConversationMessage, Direction, MessageKind, OutboundSms
from chalicelib.services.outbound import Delivered, Delivery, deliver, outcome_of
from chalicelib.services.ports import ClaimResult, Ports
from tests.fakes import FakeSms, fake_ports

PHONE = "+15551230000"
SMS = OutboundSms(shop_id="shop", from_number="+15550100000", to_number=PHONE, body="Hello", kind=MessageKind.COMPLIANCE)


class RecordingClaim:
    """A SendClaim that remembers what deliver did with it."""

    def __init__(self, result: ClaimResult = ClaimResult.CLAIMED) -> None:
        self.result = result
        self.events: list[str] = []
        self.recorded: list[Delivered] = []

    def take(self, at: datetime) -> ClaimResult:
        self.events.append("take")
        return self.result

    def give_back(self) -> None:
        self.events.append("give_back")

    def record(self, delivered: Delivered) -> bool:
        self.events.append(f"record:{delivered.outcome.value}")
        self.recorded.append(delivered)
        return True


class RaisingSms(FakeSms):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def send(self, sms: OutboundSms) -> object:  # type: ignore[override]
        raise self.error


def ports_with(error: BaseException | None = None) -> Ports:
    ports = fake_ports()
    if error is not None:
        ports.sms = RaisingSms(error)
    return ports


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (ProviderThrottled("slow down"), Delivery.THROTTLED),
        (ProviderUnavailable("no route"), Delivery.THROTTLED),
        (ConsentRequired("opted out"), Delivery.OPTED_OUT),
        (ProviderRejected("bad number"), Delivery.REJECTED),
        (ProviderError("InternalServerException"), Delivery.UNCONFIRMED),
    ],
)
def test_each_provider_error_has_one_outcome(error: SmscastError, outcome: Delivery) -> None:
    assert outcome_of(error) is outcome


@pytest.mark.parametrize(
    ("error", "events"),
    [
        (ProviderThrottled("slow down"), ["take", "give_back"]),  # definitely not sent: free for a retry
        (ConsentRequired("opted out"), ["take", "record:opted_out"]),
        (ProviderRejected("bad number"), ["take", "record:rejected"]),
        (ProviderError("no answer"), ["take", "record:unconfirmed"]),  # may have gone out: kept, never again
    ],
)
def test_only_throttling_gives_the_claim_back(error: SmscastError, events: list[str]) -> None:
    claim = RecordingClaim()
    delivered = deliver(ports_with(error), SMS, claim)
    assert claim.events == events and delivered.error is error and delivered.receipt is None
    assert delivered.outcome.retry_later is (events[-1] == "give_back")


def test_anything_else_the_provider_raises_keeps_the_claim() -> None:
    claim = RecordingClaim()
    with pytest.raises(RuntimeError):
        deliver(ports_with(RuntimeError("bug")), SMS, claim)
    assert claim.events == ["take"]


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (ClaimResult.TAKEN, Delivery.TAKEN),
        (ClaimResult.CAMPAIGN_NOT_RUNNING, Delivery.CAMPAIGN_NOT_RUNNING),
        (ClaimResult.NOT_SUBSCRIBED, Delivery.NOT_SUBSCRIBED),
    ],
)
def test_an_unclaimed_message_is_not_sent(result: ClaimResult, outcome: Delivery) -> None:
    ports = ports_with()
    claim = RecordingClaim(result)
    delivered = deliver(ports, SMS, claim)
    assert delivered.outcome is outcome and not delivered.recorded and claim.events == ["take"]
    assert isinstance(ports.sms, FakeSms) and ports.sms.sent == []


def test_sent_is_recorded_then_the_thread_line_is_added_with_the_send_time() -> None:
    ports = ports_with()
    claim = RecordingClaim()
    line = ConversationMessage(
        "shop", PHONE, datetime(2000, 1, 1), "m-1", Direction.OUTBOUND, "Hello", kind=MessageKind.COMPLIANCE
    )
    delivered = deliver(ports, SMS, claim, line)
    assert delivered.outcome is Delivery.SENT and claim.events == ["take", "record:sent"]
    [added] = ports.conversations.thread("shop", PHONE).items
    assert delivered.receipt is not None
    assert (added.at, added.provider_message_id) == (delivered.at, delivered.receipt.provider_message_id)
