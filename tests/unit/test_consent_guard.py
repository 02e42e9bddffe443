"""ConsentGuard: the consent check right before the provider, with in-file fakes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import pytest

from chalicelib.adapters.sms.consent_guard import ConsentGuard
from chalicelib.domain.errors import ConsentRequired
from chalicelib.domain.messages import MessageKind, OutboundSms, SendReceipt
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberStatus

SHOP = "shop-1"
SENDER = "+15555550100"
OTHER_SENDER = "+15555550101"
PHONE = "+15555550123"
AT = datetime(2025, 3, 1, 15, 0, tzinfo=timezone.utc)


class RecordingProvider:
    """Keeps what reached it."""

    def __init__(self) -> None:
        self.sent: list[OutboundSms] = []
        self.opt_outs: list[tuple[str, tuple[str, ...], str]] = []

    def send(self, sms: OutboundSms) -> SendReceipt:
        self.sent.append(sms)
        return SendReceipt(provider_message_id=f"fake-{len(self.sent)}", parts=1)

    def add_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        self.opt_outs.append(("add", tuple(sender_numbers), phone))

    def remove_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        self.opt_outs.append(("remove", tuple(sender_numbers), phone))

    def number_kind(self, number: str) -> str | None:
        return "SIMULATOR" if number == SENDER else None


class DictSubscribers:
    """Subscribers keyed by (shop, phone)."""

    def __init__(self, *subscribers: Subscriber) -> None:
        self.by_key = {(s.shop_id, s.phone): s for s in subscribers}

    def get(self, shop_id: str, phone: str) -> Subscriber | None:
        return self.by_key.get((shop_id, phone))


def subscriber(status: SubscriberStatus, shop_id: str = SHOP) -> Subscriber:
    return Subscriber(shop_id=shop_id, phone=PHONE, status=status, source=Source.KEYWORD, joined_at=AT, updated_at=AT)


def sms(kind: MessageKind) -> OutboundSms:
    return OutboundSms(shop_id=SHOP, from_number=SENDER, to_number=PHONE, body="hello", kind=kind)


@pytest.fixture
def inner() -> RecordingProvider:
    return RecordingProvider()


GUARDED = [MessageKind.CAMPAIGN, MessageKind.REPLY]


class TestConsentRequired:
    @pytest.mark.parametrize("kind", GUARDED)
    @pytest.mark.parametrize("status", [SubscriberStatus.OPTED_OUT, SubscriberStatus.PENDING])
    def test_inactive_subscriber_is_refused(self, inner: RecordingProvider, kind: MessageKind, status: SubscriberStatus) -> None:
        guard = ConsentGuard(inner, DictSubscribers(subscriber(status)))
        with pytest.raises(ConsentRequired) as caught:
            guard.send(sms(kind))
        assert caught.value.details["status"] == status.value
        assert inner.sent == []

    @pytest.mark.parametrize("kind", GUARDED)
    def test_unknown_number_is_refused(self, inner: RecordingProvider, kind: MessageKind) -> None:
        guard = ConsentGuard(inner, DictSubscribers())
        with pytest.raises(ConsentRequired):
            guard.send(sms(kind))
        assert inner.sent == []

    @pytest.mark.parametrize("kind", GUARDED)
    def test_consent_given_to_another_shop_does_not_count(self, inner: RecordingProvider, kind: MessageKind) -> None:
        guard = ConsentGuard(inner, DictSubscribers(subscriber(SubscriberStatus.ACTIVE, shop_id="shop-2")))
        with pytest.raises(ConsentRequired):
            guard.send(sms(kind))
        assert inner.sent == []

    @pytest.mark.parametrize("kind", GUARDED)
    def test_active_subscriber_gets_the_message(self, inner: RecordingProvider, kind: MessageKind) -> None:
        guard = ConsentGuard(inner, DictSubscribers(subscriber(SubscriberStatus.ACTIVE)))
        receipt = guard.send(sms(kind))
        assert receipt.provider_message_id == "fake-1"
        assert inner.sent == [sms(kind)]

    def test_consent_is_read_at_send_time(self, inner: RecordingProvider) -> None:
        subscribers = DictSubscribers(subscriber(SubscriberStatus.ACTIVE))
        guard = ConsentGuard(inner, subscribers)
        guard.send(sms(MessageKind.CAMPAIGN))
        subscribers.by_key[(SHOP, PHONE)] = subscriber(SubscriberStatus.OPTED_OUT)  # STOP arrives mid-campaign
        with pytest.raises(ConsentRequired):
            guard.send(sms(MessageKind.CAMPAIGN))
        assert len(inner.sent) == 1


class TestCompliance:
    @pytest.mark.parametrize("present", [None, SubscriberStatus.OPTED_OUT, SubscriberStatus.PENDING])
    def test_compliance_texts_pass_whatever_the_consent(self, inner: RecordingProvider, present: SubscriberStatus | None) -> None:
        subscribers = DictSubscribers(subscriber(present)) if present else DictSubscribers()
        guard = ConsentGuard(inner, subscribers)
        guard.send(sms(MessageKind.COMPLIANCE))
        assert inner.sent == [sms(MessageKind.COMPLIANCE)]


def test_opt_out_list_changes_are_delegated(inner: RecordingProvider) -> None:
    guard = ConsentGuard(inner, DictSubscribers())
    guard.add_opt_out([SENDER, OTHER_SENDER], PHONE)
    guard.remove_opt_out([SENDER], PHONE)
    assert inner.opt_outs == [("add", (SENDER, OTHER_SENDER), PHONE), ("remove", (SENDER,), PHONE)]
    assert guard.number_kind(SENDER) == "SIMULATOR" and guard.number_kind(OTHER_SENDER) is None
