"""Orders and attribution: the pure rules table-tested (window edges, code beats click, latest click wins),
minor units, and the use cases on fakes (each order once, cancellation once, subscriber facts, campaign stats)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.attribution import AttributedBy, Attribution, attribute
from chalicelib.domain.links import Click, Visit
from chalicelib.domain.orders import Order, minor_units
from chalicelib.services import campaigns, orders
from chalicelib.services.links import LinkOwner, follow, shorten
from chalicelib.services.ports import OrderOutcome, Ports
from chalicelib.services.shops import update_settings
from tests.commands import new_campaign
from tests.engine import Engine
from tests.fakes import FakeSms, FrozenClock
from tests.unit.conftest import Api
from tests.unit.test_campaign_engine import NY, SHOP, add, make_ports

T = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
PHONE = NY[0]


def order(
    order_id: str = "1001", *, at: datetime = T, phone: str | None = PHONE, codes: tuple[str, ...] = (), total: int = 4250
) -> Order:
    return Order(SHOP, order_id, at, total, "USD", phone, "77", codes)


def click(at: datetime, campaign_id: str | None = "cmp_a", phone: str = PHONE) -> Click:
    return Click(SHOP, phone, "AAAAAAAAA", at, campaign_id)


class TestAttributionRules:
    @pytest.mark.parametrize(
        ("clicked_before", "expected"),
        [
            (timedelta(0), "cmp_a"),  # the same instant: inside
            (timedelta(days=5), "cmp_a"),  # exactly the window: inside
            (timedelta(days=5, microseconds=1), None),  # just outside
            (timedelta(days=4, hours=23, minutes=59), "cmp_a"),  # just inside
            (-timedelta(seconds=1), None),  # a click after the order did not lead to it
        ],
    )
    def test_window_edges(self, clicked_before: timedelta, expected: str | None) -> None:
        found = attribute(order(), {}, click(T - clicked_before), 5)
        assert (found.campaign_id if found else None) == expected

    def test_code_beats_click(self) -> None:
        found = attribute(order(codes=("SAVE10",)), {"SAVE10": "cmp_code"}, click(T - timedelta(minutes=1)), 5)
        assert found == Attribution("cmp_code", AttributedBy.DISCOUNT_CODE)

    def test_codes_match_case_insensitively_and_unknown_codes_fall_back_to_the_click(self) -> None:
        assert attribute(order(codes=("save10",)), {"SAVE10": "cmp_code"}, None, 5) == Attribution(
            "cmp_code", AttributedBy.DISCOUNT_CODE
        )
        found = attribute(order(codes=("OTHER",)), {"SAVE10": "cmp_code"}, click(T), 5)
        assert found == Attribution("cmp_a", AttributedBy.CLICK)

    @pytest.mark.parametrize(
        "case",
        ["no click", "reply link", "no phone", "other phone"],
    )
    def test_nothing_to_attribute(self, case: str) -> None:
        the_click = {
            "no click": None,
            "reply link": click(T, campaign_id=None),
            "no phone": click(T),
            "other phone": click(T, phone=NY[1]),
        }[case]
        the_order = order(phone=None) if case == "no phone" else order()
        assert attribute(the_order, {}, the_click, 5) is None


class TestMinorUnits:
    @pytest.mark.parametrize(
        ("amount", "currency", "expected"),
        [
            ("42.50", "USD", 4250),
            ("42.5", "EUR", 4250),
            ("0.01", "USD", 1),
            ("1000", "JPY", 1000),
            ("1000.00", "JPY", 1000),
            ("1.234", "KWD", 1234),
            ("7", "BHD", 7000),
            ("0", "USD", 0),
        ],
    )
    def test_amounts(self, amount: str, currency: str, expected: int) -> None:
        assert minor_units(amount, currency) == expected

    @pytest.mark.parametrize(
        ("amount", "currency"), [("-1.00", "USD"), ("1.234", "USD"), ("1.5", "JPY"), ("abc", "USD"), ("1e3", "USD"), ("", "USD")]
    )
    def test_refused(self, amount: str, currency: str) -> None:
        with pytest.raises(ValueError):
            minor_units(amount, currency)


def setup() -> tuple[Ports, str, str]:
    ports = make_ports(at=T - timedelta(days=1))
    add(ports, PHONE, NY[1])
    a = campaigns.create_campaign(ports, SHOP, new_campaign({"name": "A", "message": "A", "segment_id": "all", "draft": True}))
    b = campaigns.create_campaign(
        ports,
        SHOP,
        new_campaign(
            {"name": "B", "message": "B {discount_code}", "segment_id": "all", "draft": True, "discount_code": "save10"}
        ),
    )
    return ports, a.campaign_id, b.campaign_id


def tap(ports: Ports, campaign_id: str, phone: str = PHONE) -> None:
    text = shorten(ports, "https://shop.com", LinkOwner(SHOP, phone, campaign_id=campaign_id))
    assert follow(ports, text.rsplit("/", 1)[1], Visit.CLICK) is not None


def clock(ports: Ports) -> FrozenClock:
    assert isinstance(ports.clock, FrozenClock)
    return ports.clock


def stats(ports: Ports, campaign_id: str) -> tuple[int, int, str | None]:
    s = campaigns.get_campaign(ports, SHOP, campaign_id).stats
    return s.orders, s.revenue, s.currency


class TestOrderPlaced:
    def test_click_then_order_is_attributed_and_counted_once(self) -> None:
        ports, a, _ = setup()
        tap(ports, a)
        assert orders.order_placed(ports, order()) is OrderOutcome.COUNTED
        assert orders.order_placed(ports, order()) is OrderOutcome.DUPLICATE  # Shopify redelivers
        assert stats(ports, a) == (1, 4250, "USD")
        sub = ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and (sub.orders_count, sub.last_order_at) == (1, T)

    def test_two_campaigns_clicked_latest_wins(self) -> None:
        ports, a, b = setup()
        tap(ports, b)
        clock(ports).advance(hours=1)
        tap(ports, a)
        orders.order_placed(ports, order())
        assert stats(ports, a)[:2] == (1, 4250)
        assert stats(ports, b)[:2] == (0, 0)

    def test_code_beats_a_later_click_on_another_campaign(self) -> None:
        ports, a, b = setup()
        tap(ports, a)
        orders.order_placed(ports, order(codes=("SAVE10",)))
        assert stats(ports, b)[:2] == (1, 4250)
        assert stats(ports, a)[:2] == (0, 0)

    def test_a_click_older_than_the_window_attributes_nothing(self) -> None:
        ports, a, _ = setup()
        tap(ports, a)  # at T - 1 day
        late = order(at=T - timedelta(days=1) + timedelta(days=5, seconds=1))  # window is 5 days by default
        assert orders.order_placed(ports, late) is OrderOutcome.COUNTED
        assert stats(ports, a)[:2] == (0, 0)
        stored = ports.orders.get(SHOP, "1001")
        assert stored is not None and stored.attribution is None

    def test_the_shops_window_setting_is_used(self) -> None:
        ports, a, _ = setup()
        update_settings(ports, SHOP, {"attribution_window_days": 1})
        tap(ports, a)
        orders.order_placed(ports, order(at=T + timedelta(seconds=1)))
        assert stats(ports, a)[:2] == (0, 0)

    def test_cancellation_leaves_orders_and_revenue_once(self) -> None:
        ports, a, _ = setup()
        tap(ports, a)
        orders.order_placed(ports, order("1", total=1000))
        orders.order_placed(ports, order("2", total=500))
        assert orders.order_cancelled(ports, SHOP, "1", T + timedelta(hours=1)) is OrderOutcome.CANCELLED
        assert orders.order_cancelled(ports, SHOP, "1", T + timedelta(hours=2)) is OrderOutcome.ALREADY_CANCELLED
        assert stats(ports, a)[:2] == (1, 500)
        sub = ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and sub.orders_count == 1

    def test_a_cancellation_arriving_first_means_the_order_never_counts(self) -> None:
        ports, a, _ = setup()
        tap(ports, a)
        assert orders.order_cancelled(ports, SHOP, "9", T) is OrderOutcome.CANCELLED
        assert orders.order_placed(ports, order("9")) is OrderOutcome.DUPLICATE
        assert stats(ports, a)[:2] == (0, 0)

    def test_an_order_from_a_stranger_is_kept_unattributed(self) -> None:
        ports, a, _ = setup()
        tap(ports, a)
        assert orders.order_placed(ports, order(phone="+12125559999")) is OrderOutcome.COUNTED
        assert stats(ports, a)[:2] == (0, 0)


class TestDiscountCodeApi:
    def test_a_campaign_carries_its_code_and_the_message_uses_it(self, api: Api) -> None:
        api.call("POST", "/subscribers", body={"phone": "+12125551000", "source": "checkout"})
        made = api.call(
            "POST",
            "/campaigns",
            body={
                "name": "S",
                "message": "Use {discount_code} today",
                "segment_id": "all",
                "send_at": "now",
                "discount_code": "SAVE10",
            },
        )
        assert made.status_code == 201, made.body
        assert made.json_body["discount_code"] == "SAVE10"
        Engine(api.ports).run_until(api.ports.clock.now() + timedelta(minutes=5))
        assert isinstance(api.ports.sms, FakeSms)
        assert [s.sms.body.splitlines()[0] for s in api.ports.sms.sent] == ["Use SAVE10 today"]

    @pytest.mark.parametrize(
        ("extra", "code"),
        [
            ({}, "missing_discount_code"),
            ({"discount_code": "TWO WORDS"}, "invalid_discount_code"),
            ({"discount_code": "ÜBER"}, "invalid_discount_code"),
        ],
    )
    def test_refused(self, api: Api, extra: dict[str, str], code: str) -> None:
        made = api.call(
            "POST",
            "/campaigns",
            body={"name": "S", "message": "Use {discount_code}", "segment_id": "all", "draft": True, **extra},
        )
        assert made.status_code == 400
        assert made.json_body["error"]["code"] == code

    def test_preview_renders_the_code(self, api: Api) -> None:
        short = api.call(
            "POST", "/campaigns/preview", body={"message": "Use {discount_code}", "segment_id": "all", "discount_code": "A"}
        )
        long = api.call(
            "POST", "/campaigns/preview", body={"message": "Use {discount_code}", "segment_id": "all", "discount_code": "A" * 40}
        )
        assert long.json_body["characters"] - short.json_body["characters"] == 39


class TestDiscountCodeEdits:
    def test_a_draft_code_changes_and_cannot_be_removed_while_the_message_uses_it(self, api: Api) -> None:
        made = api.call(
            "POST",
            "/campaigns",
            body={"name": "S", "message": "Use {discount_code}", "segment_id": "all", "draft": True, "discount_code": "A1"},
        )
        cid = made.json_body["id"]
        changed = api.call("PATCH", f"/campaigns/{cid}", body={"discount_code": "B2"})
        assert changed.status_code == 200 and changed.json_body["discount_code"] == "B2"
        removed = api.call("PATCH", f"/campaigns/{cid}", body={"discount_code": None})
        assert removed.status_code == 400 and removed.json_body["error"]["code"] == "missing_discount_code"
        both = api.call("PATCH", f"/campaigns/{cid}", body={"discount_code": None, "message": "No code"})
        assert both.status_code == 200 and both.json_body["discount_code"] is None
