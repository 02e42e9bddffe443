"""services.inbound.receive_sms on fakes: consent, dedupe, crash/resume, throttling, races."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import ConcurrentUpdate, ConfigurationError, ProviderThrottled
from chalicelib.domain.keywords import Intent
from chalicelib.domain.messages import Direction, InboundSms, MessageKind
from chalicelib.domain.subscribers import ConsentAction, ConsentSource, SubscriberStatus
from chalicelib.services.inbound import receive_sms
from chalicelib.services.ports import Ports
from tests.fakes import FakeClaims, FakeSms, FakeSubscriberStore, fake_ports
from tests.numbers import create_shop

SHOP = "demo.myshopify.com"
SENDER = "+15550100000"
PHONE = "+15551230000"
_counter = iter(range(10_000))


@pytest.fixture
def ports() -> Ports:
    ports = fake_ports()
    create_shop(ports, shop_id=SHOP, settings={"sender_number": SENDER, "shop_name": "Demo Store"})
    return ports


def sms(body: str, *, phone: str = PHONE, message_id: str | None = None, to: str = SENDER) -> InboundSms:
    n = next(_counter)
    return InboundSms(
        message_id=message_id or f"in-{n}",
        from_number=phone,
        to_number=to,
        body=body,
        received_at=datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc) + timedelta(seconds=n),
    )


def fake_sms(ports: Ports) -> FakeSms:
    assert isinstance(ports.sms, FakeSms)
    return ports.sms


def store(ports: Ports) -> FakeSubscriberStore:
    assert isinstance(ports.subscribers, FakeSubscriberStore)
    return ports.subscribers


def status(ports: Ports, phone: str = PHONE) -> SubscriberStatus | None:
    sub = ports.subscribers.get(SHOP, phone)
    return sub.status if sub else None


class TestKeywordDoubleOptIn:
    def test_join_then_yes_subscribes_with_both_events_and_texts(self, ports: Ports) -> None:
        receive_sms(ports, sms("JOIN"))
        assert status(ports) is SubscriberStatus.PENDING
        assert "reply Y to confirm" in fake_sms(ports).bodies_to(PHONE)[0]
        receive_sms(ports, sms("y"))
        assert status(ports) is SubscriberStatus.ACTIVE
        assert fake_sms(ports).bodies_to(PHONE)[1].startswith("Welcome to Demo Store")
        actions = [e.action for e in ports.subscribers.consent_history(SHOP, PHONE)]
        assert actions == [ConsentAction.REQUESTED, ConsentAction.OPTED_IN]
        assert all(e.source is ConsentSource.SMS for e in ports.subscribers.consent_history(SHOP, PHONE))
        assert [e.text for e in ports.subscribers.consent_history(SHOP, PHONE)] == ["JOIN", "y"]

    def test_keyword_is_case_and_space_insensitive(self, ports: Ports) -> None:
        receive_sms(ports, sms("  join \n"))
        assert status(ports) is SubscriberStatus.PENDING

    def test_yes_from_unknown_number_is_just_a_message(self, ports: Ports) -> None:
        result = receive_sms(ports, sms("Y"))
        assert status(ports) is None
        assert result.reply is None and fake_sms(ports).sent == []
        lines = ports.conversations.thread(SHOP, PHONE).items
        assert [(m.body, m.intent) for m in lines] == [("Y", "message")]


class TestOptOut:
    @pytest.mark.parametrize(
        "word", ["STOP", "  stop ", "Unsubscribe", "cancel", "END", "quit", "opt-out", "arret", "td", "STOP."]
    )
    def test_every_stop_word_opts_out_confirms_and_blocks_at_provider(self, ports: Ports, word: str) -> None:
        receive_sms(ports, sms("JOIN"))
        receive_sms(ports, sms("Y"))
        receive_sms(ports, sms(word))
        assert status(ports) is SubscriberStatus.OPTED_OUT
        assert "unsubscribed" in fake_sms(ports).bodies_to(PHONE)[-1]
        assert (SENDER, PHONE) in fake_sms(ports).opted_out
        assert ports.subscribers.consent_history(SHOP, PHONE)[-1].text == word

    def test_confirmation_is_sent_before_the_number_is_blocked(self, ports: Ports) -> None:
        receive_sms(ports, sms("STOP"))
        calls = fake_sms(ports).calls
        assert calls.index(f"send:{PHONE}") < calls.index(f"add_opt_out:{PHONE}")

    def test_stop_from_unknown_number_is_remembered(self, ports: Ports) -> None:
        receive_sms(ports, sms("STOP"))
        assert status(ports) is SubscriberStatus.OPTED_OUT

    def test_start_comes_back_and_lifts_the_block(self, ports: Ports) -> None:
        receive_sms(ports, sms("JOIN"))
        receive_sms(ports, sms("Y"))
        receive_sms(ports, sms("STOP"))
        receive_sms(ports, sms("start"))
        assert status(ports) is SubscriberStatus.ACTIVE
        assert (SENDER, PHONE) not in fake_sms(ports).opted_out

    def test_help_is_answered(self, ports: Ports) -> None:
        receive_sms(ports, sms("HELP"))
        assert "for help" in fake_sms(ports).bodies_to(PHONE)[-1]

    def test_help_after_stop_is_refused_by_the_provider_and_consent_holds(self, ports: Ports) -> None:
        # AWS refuses every send to a number on the opt-out list: the HELP answer cannot go out, and
        # that must neither fail the delivery (no retry storm) nor change consent.
        receive_sms(ports, sms("STOP"))
        result = receive_sms(ports, sms("HELP"))
        assert not result.replied and len(fake_sms(ports).bodies_to(PHONE)) == 1
        assert status(ports) is SubscriberStatus.OPTED_OUT

    def test_provider_refusing_to_lift_the_block_does_not_lose_the_opt_in(self, ports: Ports) -> None:
        # End User Messaging lets a number leave the opt-out list once per 30 days; a second START
        # within that time is refused. Our consent record still says active.
        receive_sms(ports, sms("STOP"))
        fake_sms(ports).refuse_removal = True
        receive_sms(ports, sms("START"))
        assert status(ports) is SubscriberStatus.ACTIVE


class TestExactlyOnce:
    def test_duplicate_delivery_stores_once_and_answers_once(self, ports: Ports) -> None:
        first = receive_sms(ports, sms("JOIN", message_id="dup-1"))
        second = receive_sms(ports, sms("JOIN", message_id="dup-1"))
        assert not first.duplicate and second.duplicate
        assert len(fake_sms(ports).sent) == 1
        assert len([m for m in ports.conversations.thread(SHOP, PHONE).items if m.direction is Direction.INBOUND]) == 1
        assert len(ports.subscribers.consent_history(SHOP, PHONE)) == 1

    def test_plain_message_twice_is_one_line(self, ports: Ports) -> None:
        for _ in range(3):
            receive_sms(ports, sms("Do you ship to Canada?", message_id="q-1"))
        inbound = [m for m in ports.conversations.thread(SHOP, PHONE).items if m.direction is Direction.INBOUND]
        assert [m.body for m in inbound] == ["Do you ship to Canada?"]

    def test_throttled_confirmation_is_retried_and_sent_once(self, ports: Ports) -> None:
        fake_sms(ports).throttle_next = 1
        with pytest.raises(ProviderThrottled):
            receive_sms(ports, sms("STOP", message_id="stop-1"))
        # Consent is already durable although the answer failed: STOP holds during the retry window.
        assert status(ports) is SubscriberStatus.OPTED_OUT
        result = receive_sms(ports, sms("STOP", message_id="stop-1"))
        assert result.duplicate and result.replied
        assert len(fake_sms(ports).bodies_to(PHONE)) == 1
        assert (SENDER, PHONE) in fake_sms(ports).opted_out
        assert len(ports.subscribers.consent_history(SHOP, PHONE)) == 1

    def test_crash_after_send_before_record_does_not_send_again(self, ports: Ports) -> None:
        receive_sms(ports, sms("HELP", message_id="help-1"))
        # The retry finds the claim taken: the answer is not repeated.
        result = receive_sms(ports, sms("HELP", message_id="help-1"))
        assert not result.replied
        assert len(fake_sms(ports).bodies_to(PHONE)) == 1

    def test_claim_taken_by_a_concurrent_delivery_is_respected(self, ports: Ports) -> None:
        assert isinstance(ports.claims, FakeClaims)
        ports.claims.claim("auto-reply#race-1", ports.clock.now())
        receive_sms(ports, sms("JOIN", message_id="race-1"))
        assert fake_sms(ports).sent == []
        assert status(ports) is SubscriberStatus.PENDING


class TestRaces:
    def test_subscriber_changed_while_deciding_is_decided_again(self, ports: Ports) -> None:
        receive_sms(ports, sms("JOIN"))
        store(ports).fail_next_apply = ConcurrentUpdate("someone else wrote")
        receive_sms(ports, sms("Y"))
        assert status(ports) is SubscriberStatus.ACTIVE

    def test_unknown_sender_number_is_an_error_not_a_drop(self, ports: Ports) -> None:
        with pytest.raises(ConfigurationError):
            receive_sms(ports, sms("JOIN", to="+15550109999"))


class TestConversation:
    def test_plain_text_from_subscriber_is_kept_without_answer(self, ports: Ports) -> None:
        receive_sms(ports, sms("JOIN"))
        receive_sms(ports, sms("Y"))
        result = receive_sms(ports, sms("Is the blue one back in stock?"))
        assert result.intent is Intent.MESSAGE and result.reply is None
        lines = ports.conversations.thread(SHOP, PHONE).items
        assert lines[-1].body == "Is the blue one back in stock?"
        assert lines[-1].intent == "message"

    def test_auto_replies_are_in_the_thread(self, ports: Ports) -> None:
        receive_sms(ports, sms("JOIN"))
        outbound = [m for m in ports.conversations.thread(SHOP, PHONE).items if m.direction is Direction.OUTBOUND]
        assert len(outbound) == 1 and outbound[0].kind is MessageKind.COMPLIANCE
        assert outbound[0].provider_message_id == "fake-1"

    def test_national_spelling_of_sender_still_routes(self, ports: Ports) -> None:
        receive_sms(ports, sms("JOIN", phone="5551230000"))
        assert status(ports) is SubscriberStatus.PENDING
