"""services.subscribers on fakes."""

from __future__ import annotations

import pytest

from chalicelib.api.http import parse
from chalicelib.api.models.subscribers import SubscriberQuery
from chalicelib.domain.errors import ConsentRequired, InvalidInput, NotFound
from chalicelib.domain.subscribers import ConsentAction, ConsentSource, Source, SubscriberStatus
from chalicelib.services import subscribers
from chalicelib.services.ports import Ports
from tests.commands import add_subscriber
from tests.fakes import FakeSms, fake_ports
from tests.numbers import create_shop

SHOP, OTHER = "demo.myshopify.com", "other.myshopify.com"


@pytest.fixture
def ports() -> Ports:
    ports = fake_ports()
    create_shop(ports, shop_id=SHOP, settings={"sender_number": "+15550100000"})
    create_shop(ports, shop_id=OTHER, settings={"sender_number": "+15550100001"})
    return ports


def add(ports: Ports, shop: str = SHOP, **body: object) -> subscribers.AddResult:
    return subscribers.add_subscriber(ports, shop, add_subscriber(body))


class TestParseAdd:
    @pytest.mark.parametrize(
        "body, code",
        [
            ({}, "invalid_phone"),
            ({"phone": "not a phone"}, "invalid_phone"),
            ({"phone": 12125551234}, "invalid_phone"),
            ({"phone": "+12125551234", "source": "carrier-pigeon"}, "invalid_source"),
            ({"phone": "+12125551234", "profile_url": "http://shop/customers/1"}, "invalid_profile_url"),
            ({"phone": "+12125551234", "name": ""}, "invalid_name"),
            ({"phone": "+12125551234", "name": "x" * 101}, "invalid_name"),
            ({"phone": "+12125551234", "status": "active"}, "unknown_field"),
        ],
    )
    def test_bad_bodies_are_refused(self, body: dict[str, object], code: str) -> None:
        with pytest.raises(InvalidInput) as caught:
            add_subscriber(body, allow_fictional=False)
        assert caught.value.code == code

    def test_fictional_numbers_only_when_allowed(self) -> None:
        with pytest.raises(InvalidInput):
            add_subscriber({"phone": "+15551230000"}, allow_fictional=False)
        assert add_subscriber({"phone": "+15551230000"}, allow_fictional=True).phone == "+15551230000"


class TestAddSubscriber:
    def test_checkout_subscriber_is_active_with_consent_on_record(self, ports: Ports) -> None:
        result = add(
            ports,
            phone="(212) 555-1234",
            source="checkout",
            name="Ada",
            profile_url="https://demo.myshopify.com/admin/customers/7",
        )
        assert result.created and result.subscriber.status is SubscriberStatus.ACTIVE
        assert result.subscriber.phone == "+12125551234" and result.subscriber.source is Source.CHECKOUT
        [event] = ports.subscribers.consent_history(SHOP, "+12125551234")
        assert event.action is ConsentAction.OPTED_IN and event.source is ConsentSource.CHECKOUT

    def test_adding_twice_is_one_subscriber_and_one_event(self, ports: Ports) -> None:
        add(ports, phone="+12125551234")
        again = add(ports, phone="212-555-1234")
        assert not again.created
        assert len(ports.subscribers.consent_history(SHOP, "+12125551234")) == 1

    def test_opted_out_number_is_not_resubscribed(self, ports: Ports) -> None:
        add(ports, phone="+12125551234")
        subscribers.opt_out(ports, SHOP, "+12125551234", source=ConsentSource.MERCHANT, text="by hand")
        for source in ("api", "checkout", "import", "keyword"):
            with pytest.raises(ConsentRequired):
                add(ports, phone="+12125551234", source=source)
        assert ports.subscribers.get(SHOP, "+12125551234").status is SubscriberStatus.OPTED_OUT  # type: ignore[union-attr]
        assert len(ports.subscribers.consent_history(SHOP, "+12125551234")) == 2

    def test_pending_keyword_signup_is_activated_by_checkout_consent(self, ports: Ports) -> None:
        from datetime import datetime, timezone

        from chalicelib.domain.messages import InboundSms
        from chalicelib.services.inbound import receive_sms

        receive_sms(ports, InboundSms("m1", "+12125551234", "+15550100000", "JOIN", datetime(2026, 11, 20, tzinfo=timezone.utc)))
        result = add(ports, phone="+12125551234", source="checkout")
        assert result.subscriber.status is SubscriberStatus.ACTIVE and not result.created

    def test_tenants_do_not_see_each_other(self, ports: Ports) -> None:
        add(ports, phone="+12125551234")
        with pytest.raises(NotFound):
            subscribers.get_subscriber(ports, OTHER, "+12125551234")
        assert subscribers.list_subscribers(ports, OTHER).items == []


class TestListSubscribers:
    def test_filters_and_pages_cover_everyone_once(self, ports: Ports) -> None:
        phones = [f"+1212555{n:04d}" for n in range(1200, 1207)]
        for i, phone in enumerate(phones):
            add(ports, phone=phone, source="checkout" if i % 2 else "import")
        seen, cursor = [], None
        while True:
            page = subscribers.list_subscribers(ports, SHOP, source=Source.CHECKOUT, limit=2, cursor=cursor)
            seen += [s.phone for s in page.items]
            cursor = page.cursor
            if cursor is None:
                break
        assert seen == [p for i, p in enumerate(phones) if i % 2]

    @pytest.mark.parametrize("query", [{"status": "happy"}, {"source": "fax"}])
    def test_bad_filters_are_refused(self, query: dict[str, str]) -> None:
        with pytest.raises(InvalidInput):
            parse(SubscriberQuery, query)


class TestMerchantOptOut:
    def test_opt_out_records_merchant_and_blocks_at_provider(self, ports: Ports) -> None:
        add(ports, phone="+12125551234")
        sub = subscribers.opt_out(ports, SHOP, "%2B12125551234", source=ConsentSource.MERCHANT, text="asked by phone")
        assert sub.status is SubscriberStatus.OPTED_OUT
        assert ports.subscribers.consent_history(SHOP, "+12125551234")[-1].source is ConsentSource.MERCHANT
        assert isinstance(ports.sms, FakeSms) and ("+15550100000", "+12125551234") in ports.sms.opted_out

    def test_opt_out_twice_records_once(self, ports: Ports) -> None:
        add(ports, phone="+12125551234")
        for _ in range(2):
            subscribers.opt_out(ports, SHOP, "+12125551234", source=ConsentSource.API, text="x")
        assert len(ports.subscribers.consent_history(SHOP, "+12125551234")) == 2

    def test_opt_out_of_unknown_or_other_shops_number_is_not_found(self, ports: Ports) -> None:
        add(ports, phone="+12125551234")
        with pytest.raises(NotFound):
            subscribers.opt_out(ports, OTHER, "+12125551234", source=ConsentSource.API, text="x")
