"""SandboxProvider on moto DynamoDB: the durable outbox, opt-out lists and fault switches."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from threading import Barrier

import pytest

from chalicelib.adapters.sms.sandbox import SandboxMessage, SandboxProvider
from chalicelib.domain.errors import ConsentRequired, ProviderRejected, ProviderThrottled
from chalicelib.domain.messages import MessageKind, OutboundSms
from tests.fakes import FrozenClock

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]

SENDER = "+15555550100"
OTHER_SENDER = "+15555550101"
PHONE = "+15555550123"
OTHER_PHONE = "+15555550124"
START = datetime(2025, 3, 1, 15, 0, tzinfo=timezone.utc)
MEDIA = "s3://smscast-test-media/sale.jpg"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def sandbox(clock: FrozenClock) -> SandboxProvider:
    return SandboxProvider(clock)


def sms(
    body: str = "Sale today",
    *,
    kind: MessageKind = MessageKind.CAMPAIGN,
    to: str = PHONE,
    sender: str = SENDER,
    campaign_id: str | None = "camp-1",
    media_urls: tuple[str, ...] = (),
) -> OutboundSms:
    return OutboundSms(
        shop_id="shop-1",
        from_number=sender,
        to_number=to,
        body=body,
        kind=kind,
        campaign_id=campaign_id,
        media_urls=media_urls,
    )


def try_send(sandbox: SandboxProvider, message: OutboundSms) -> str:
    """Send and name the outcome, for counting outcomes across threads."""
    try:
        sandbox.send(message)
    except ProviderThrottled:
        return "throttled"
    except ProviderRejected:
        return "rejected"
    return "sent"


class TestOutbox:
    def test_a_send_is_recorded_and_readable(self, sandbox: SandboxProvider) -> None:
        receipt = sandbox.send(sms("x" * 161))
        assert receipt.provider_message_id.startswith("sandbox-")
        assert receipt.parts == 2
        assert sandbox.received(PHONE) == [
            SandboxMessage(
                provider_message_id=receipt.provider_message_id,
                shop_id="shop-1",
                from_number=SENDER,
                to_number=PHONE,
                body="x" * 161,
                kind=MessageKind.CAMPAIGN,
                sent_at=START,
                campaign_id="camp-1",
                parts=2,
            )
        ]
        assert sandbox.received(OTHER_PHONE) == []

    def test_mms_keeps_its_media(self, sandbox: SandboxProvider) -> None:
        receipt = sandbox.send(sms("Look", kind=MessageKind.REPLY, campaign_id=None, media_urls=(MEDIA,)))
        [message] = sandbox.received(PHONE)
        assert (message.media_urls, message.kind, message.campaign_id) == ((MEDIA,), MessageKind.REPLY, None)
        assert message.parts == receipt.parts == 1

    def test_the_sandbox_refuses_what_end_user_messaging_refuses(self, sandbox: SandboxProvider) -> None:
        with pytest.raises(ProviderRejected) as caught:
            sandbox.send(sms(media_urls=("https://cdn.example.com/sale.jpg",)))
        assert caught.value.details["reason"] == "MEDIA_URL_NOT_S3"
        assert sandbox.count_sent() == 0

    def test_messages_read_back_oldest_first_even_when_the_clock_stands_still(
        self, sandbox: SandboxProvider, clock: FrozenClock
    ) -> None:
        for body in ("one", "two", "three"):  # same instant: order comes from the id
            sandbox.send(sms(body))
        clock.advance(minutes=5)
        sandbox.send(sms("four", sender=OTHER_SENDER))
        assert [m.body for m in sandbox.received(PHONE)] == ["one", "two", "three", "four"]
        assert [m.body for m in sandbox.sent_from(SENDER)] == ["one", "two", "three"]
        assert [m.sent_at for m in sandbox.sent_from(OTHER_SENDER)] == [START.replace(minute=5)]

    def test_count_sent_applies_every_filter(self, sandbox: SandboxProvider) -> None:
        sandbox.send(sms("a"))
        sandbox.send(sms("b", to=OTHER_PHONE))
        sandbox.send(sms("c", campaign_id="camp-2"))
        sandbox.send(sms("d", sender=OTHER_SENDER, kind=MessageKind.COMPLIANCE, campaign_id=None))
        assert sandbox.count_sent() == 4
        assert sandbox.count_sent(to_number=PHONE) == 3
        assert sandbox.count_sent(to_number=PHONE, from_number=SENDER) == 2
        assert sandbox.count_sent(from_number=SENDER, campaign_id="camp-1") == 2
        assert sandbox.count_sent(campaign_id="camp-2") == 1
        assert sandbox.count_sent(kind=MessageKind.COMPLIANCE) == 1

    def test_the_outbox_outlives_the_provider_object(self, clock: FrozenClock) -> None:
        receipt = SandboxProvider(clock).send(sms())
        later = SandboxProvider(clock)
        assert [m.provider_message_id for m in later.received(PHONE)] == [receipt.provider_message_id]


class TestOptOutList:
    @pytest.mark.parametrize("kind", [MessageKind.CAMPAIGN, MessageKind.REPLY, MessageKind.COMPLIANCE])
    def test_a_listed_number_is_refused_and_nothing_recorded(self, sandbox: SandboxProvider, kind: MessageKind) -> None:
        sandbox.add_opt_out([SENDER], PHONE)
        with pytest.raises(ConsentRequired) as caught:
            sandbox.send(sms(kind=kind))
        assert caught.value.details["reason"] == "DESTINATION_PHONE_NUMBER_OPTED_OUT"
        assert sandbox.received(PHONE) == []

    def test_confirmation_sent_before_listing_arrives(self, sandbox: SandboxProvider) -> None:
        sandbox.send(sms("You are unsubscribed.", kind=MessageKind.COMPLIANCE, campaign_id=None))
        sandbox.add_opt_out([SENDER], PHONE)
        assert [m.body for m in sandbox.received(PHONE)] == ["You are unsubscribed."]

    def test_lists_are_per_sender(self, sandbox: SandboxProvider) -> None:
        sandbox.add_opt_out([SENDER], PHONE)
        sandbox.send(sms(sender=OTHER_SENDER))
        assert sandbox.is_opted_out(SENDER, PHONE)
        assert not sandbox.is_opted_out(OTHER_SENDER, PHONE)
        assert sandbox.count_sent(to_number=PHONE) == 1

    def test_a_shops_opt_out_goes_on_the_list_of_every_number_of_its_pool(self, sandbox: SandboxProvider) -> None:
        sandbox.add_opt_out([SENDER, OTHER_SENDER], PHONE)
        for sender in (SENDER, OTHER_SENDER):
            with pytest.raises(ConsentRequired):
                sandbox.send(sms(sender=sender))
        sandbox.remove_opt_out([SENDER, OTHER_SENDER], PHONE)
        assert not sandbox.is_opted_out(SENDER, PHONE) and not sandbox.is_opted_out(OTHER_SENDER, PHONE)

    def test_the_sandbox_account_holds_the_fictional_numbers_only(self, sandbox: SandboxProvider) -> None:
        assert sandbox.number_kind(SENDER) == "SIMULATOR"
        assert sandbox.number_kind("+12125551234") is None  # a real number is not in a sandbox's account

    def test_removal_lets_sends_through_again_and_is_idempotent(self, sandbox: SandboxProvider, clock: FrozenClock) -> None:
        sandbox.add_opt_out([SENDER], PHONE)
        SandboxProvider(clock).remove_opt_out([SENDER], PHONE)  # another process (the START handler)
        sandbox.remove_opt_out([SENDER], PHONE)  # already off the list: fine
        sandbox.send(sms())
        assert not sandbox.is_opted_out(SENDER, PHONE)
        assert sandbox.count_sent(to_number=PHONE) == 1


class TestFaults:
    def test_throttle_next_throttles_exactly_n_sends_then_stops(self, sandbox: SandboxProvider, clock: FrozenClock) -> None:
        SandboxProvider(clock).throttle_next(2)  # flipped from elsewhere: the switch lives in DynamoDB
        outcomes = [try_send(sandbox, sms(str(i))) for i in range(4)]
        assert outcomes == ["throttled", "throttled", "sent", "sent"]
        assert [m.body for m in sandbox.received(PHONE)] == ["2", "3"]

    def test_throttle_next_is_exact_under_concurrent_workers(self, clock: FrozenClock, serialised_moto: None) -> None:
        SandboxProvider(clock).throttle_next(5)
        workers, sends_each = 6, 3
        start = Barrier(workers)

        def worker(index: int) -> list[str]:
            provider = SandboxProvider(clock)  # one provider per worker, as separate Lambdas would have
            start.wait()
            return [try_send(provider, sms(f"{index}-{n}", to=f"+1555555{index:04d}")) for n in range(sends_each)]

        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = [o for result in pool.map(worker, range(workers)) for o in result]
        assert outcomes.count("throttled") == 5
        assert outcomes.count("sent") == workers * sends_each - 5
        assert SandboxProvider(clock).count_sent() == workers * sends_each - 5

    def test_fail_next_rejects_n_sends_with_the_reason(self, sandbox: SandboxProvider) -> None:
        sandbox.fail_next(1, reason="INVALID_PARAMETER")
        with pytest.raises(ProviderRejected) as caught:
            sandbox.send(sms("first"))
        assert caught.value.details["reason"] == "INVALID_PARAMETER"
        sandbox.send(sms("second"))
        assert [m.body for m in sandbox.received(PHONE)] == ["second"]

    def test_a_refused_opt_out_does_not_use_up_a_failure(self, sandbox: SandboxProvider) -> None:
        sandbox.add_opt_out([SENDER], PHONE)
        sandbox.fail_next(1)
        with pytest.raises(ConsentRequired):
            sandbox.send(sms())
        assert try_send(sandbox, sms(to=OTHER_PHONE)) == "rejected"

    def test_fail_numbers_always_rejects_those_numbers_only(self, sandbox: SandboxProvider) -> None:
        sandbox.fail_numbers({PHONE})
        outcomes = [try_send(sandbox, sms(to=PHONE)) for _ in range(3)]
        assert outcomes == ["rejected"] * 3
        sandbox.send(sms(to=OTHER_PHONE))
        assert sandbox.count_sent(to_number=PHONE) == 0
        assert sandbox.count_sent(to_number=OTHER_PHONE) == 1

    def test_clear_faults_switches_everything_off_but_keeps_opt_outs(self, sandbox: SandboxProvider) -> None:
        sandbox.throttle_next(3)
        sandbox.fail_next(3)
        sandbox.fail_numbers({PHONE})
        sandbox.add_opt_out([SENDER], OTHER_PHONE)
        sandbox.clear_faults()
        sandbox.send(sms(to=PHONE))
        assert sandbox.count_sent(to_number=PHONE) == 1
        with pytest.raises(ConsentRequired):
            sandbox.send(sms(to=OTHER_PHONE))

    def test_a_negative_count_is_refused(self, sandbox: SandboxProvider) -> None:
        with pytest.raises(ValueError):
            sandbox.throttle_next(-1)
