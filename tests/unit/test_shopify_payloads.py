"""The Shopify file's pure parts: the signature, minor units, and payloads converted into smscast's shapes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.orders import minor_units
from chalicelib.domain.shopify import (
    ConsentState,
    Topic,
    cancelled_at,
    parse_customer,
    parse_order,
    parse_privacy,
    sign,
    signature_valid,
    store_handle,
)
from devstack.shopify import customer_payload, order_payload

SHOP = "demo.myshopify.com"
PHONE = "+15551230000"
AT = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[2]


class TestSignature:
    def test_shopifys_own_recipe_verifies(self) -> None:
        body = b'{"id": 1}'
        header = base64.b64encode(hmac.new(b"secret", body, hashlib.sha256).digest()).decode()
        assert sign("secret", body) == header
        assert signature_valid("secret", body, header)

    @pytest.mark.parametrize("header", [None, "", "garbage", "é", sign("other", b'{"id": 1}'), sign("secret", b'{"id": 2}')])
    def test_anything_else_fails(self, header: str | None) -> None:
        assert not signature_valid("secret", b'{"id": 1}', header)

    def test_no_secret_verifies_nothing(self) -> None:
        assert not signature_valid("", b"x", sign("", b"x"))


class TestMinorUnits:
    @pytest.mark.parametrize(
        ("amount", "currency", "expected"),
        [
            ("42.50", "USD", 4250),
            ("42.5", "USD", 4250),
            ("42", "EUR", 4200),
            ("0.00", "USD", 0),
            ("0.01", "GBP", 1),
            ("4250", "JPY", 4250),
            ("1500", "KRW", 1500),
            ("1.234", "KWD", 1234),
            ("1.2", "BHD", 1200),
            ("123456789.99", "USD", 12345678999),
        ],
    )
    def test_amounts(self, amount: str, currency: str, expected: int) -> None:
        assert minor_units(amount, currency) == expected

    @pytest.mark.parametrize(
        ("amount", "currency"),
        [
            ("42.505", "USD"),
            ("-1.00", "USD"),
            ("1e3", "USD"),
            ("", "USD"),
            (" 1.00", "USD"),
            ("1.5", "JPY"),
            ("1.2345", "KWD"),
            ("٤٢", "USD"),
        ],
    )
    def test_refused(self, amount: str, currency: str) -> None:
        with pytest.raises(ValueError):
            minor_units(amount, currency)


class TestOrders:
    def test_an_order_payload_becomes_an_order(self) -> None:
        payload = order_payload(
            PHONE, "42.50", at=AT, codes=["save10", " Vip "], order_id=820982911946154508, customer_id=115310627314723954
        )
        payload["created_at"] = "2026-11-20T10:00:00-05:00"
        order = parse_order(SHOP, payload, allow_fictional=True)
        assert order.order_id == "820982911946154508"
        assert order.at == AT and order.at.tzinfo is not None
        assert (order.total, order.currency) == (4250, "USD")
        assert order.phone == PHONE
        assert order.customer_id == "115310627314723954"
        assert order.discount_codes == ("SAVE10", "VIP")

    def test_the_shop_currency_counts_not_the_presentment_one(self) -> None:
        payload = order_payload(PHONE, "42.50", at=AT)
        payload["total_price_set"]["presentment_money"] = {"amount": "6000", "currency_code": "JPY"}
        order = parse_order(SHOP, payload, allow_fictional=True)
        assert (order.total, order.currency) == (4250, "USD")

    def test_the_phone_comes_from_the_order_then_customer_then_billing_then_shipping(self) -> None:
        payload: dict[str, Any] = order_payload(None, "1.00", at=AT)
        payload["billing_address"] = {"phone": "(555) 123-0002"}
        payload["shipping_address"] = {"phone": "+15551230003"}
        assert parse_order(SHOP, payload, allow_fictional=True).phone == "+15551230002"
        payload["customer"]["phone"] = "+15551230001"
        assert parse_order(SHOP, payload, allow_fictional=True).phone == "+15551230001"
        payload["phone"] = "+15551230000"
        assert parse_order(SHOP, payload, allow_fictional=True).phone == "+15551230000"
        payload = order_payload("not a phone", "1.00", at=AT)
        assert parse_order(SHOP, payload, allow_fictional=True).phone is None

    def test_a_guest_order_has_no_customer(self) -> None:
        payload = order_payload(PHONE, "1.00", at=AT)
        payload["customer"] = None
        assert parse_order(SHOP, payload, allow_fictional=True).customer_id is None

    @pytest.mark.parametrize(
        "breaks",
        [
            {"id": None},
            {"total_price_set": None},
            {"total_price_set": {"shop_money": {"amount": "1.00"}}},
            {"total_price_set": {"shop_money": {"amount": "abc", "currency_code": "USD"}}},
            {"created_at": "yesterday"},
            {"created_at": "2026-11-20T10:00:00"},
        ],
    )
    def test_a_broken_order_is_invalid_input(self, breaks: dict[str, Any]) -> None:
        payload = {**order_payload(PHONE, "1.00", at=AT), **breaks}
        with pytest.raises(InvalidInput):
            parse_order(SHOP, payload, allow_fictional=True)

    def test_cancelled_at(self) -> None:
        payload = order_payload(PHONE, "1.00", at=AT, cancelled_at=datetime(2026, 11, 21, tzinfo=timezone.utc))
        assert cancelled_at(payload, AT) == datetime(2026, 11, 21, tzinfo=timezone.utc)
        assert cancelled_at({"cancelled_at": None}, AT) == AT


class TestCustomers:
    def test_a_customer_payload_becomes_a_consent_statement(self) -> None:
        consent = parse_customer(
            SHOP, customer_payload("(555) 123-0000", at=AT, name="Ada Lovelace", customer_id=42), allow_fictional=True
        )
        assert (consent.customer_id, consent.phone, consent.name, consent.state) == (
            "42",
            PHONE,
            "Ada Lovelace",
            ConsentState.SUBSCRIBED,
        )
        assert consent.profile_url == "https://admin.shopify.com/store/demo/customers/42"
        assert "opt_in_level=single_opt_in" in consent.consent_text

    def test_no_consent_block_means_no_state(self) -> None:
        payload = customer_payload(PHONE, at=AT)
        payload["sms_marketing_consent"] = None
        assert parse_customer(SHOP, payload, allow_fictional=True).state is None

    def test_an_unknown_state_is_invalid(self) -> None:
        payload = customer_payload(PHONE, at=AT, consent="maybe")
        with pytest.raises(InvalidInput):
            parse_customer(SHOP, payload, allow_fictional=True)

    def test_store_handle(self) -> None:
        assert store_handle("demo.myshopify.com") == "demo"
        assert store_handle("shop.example.com") == "shop"

    def test_privacy_payloads(self) -> None:
        request = parse_privacy(
            SHOP, {"customer": {"id": 9, "phone": "555-123-0000"}, "data_request": {"id": 77}}, allow_fictional=True
        )
        assert (request.customer_id, request.phone, request.request_id) == ("9", PHONE, "77")
        bare = parse_privacy(SHOP, {"shop_domain": SHOP}, allow_fictional=True)
        assert (bare.customer_id, bare.phone, bare.request_id) == (None, None, None)


def test_the_app_toml_subscribes_to_exactly_the_topics_the_worker_handles() -> None:
    config = tomllib.loads((ROOT / "shopify.app.toml").read_text(encoding="utf-8"))
    subscriptions = config["webhooks"]["subscriptions"]
    topics = [t for s in subscriptions for t in s.get("topics", [])]
    compliance = [t for s in subscriptions for t in s.get("compliance_topics", [])]
    assert sorted(topics + compliance) == sorted(t.value for t in Topic)
    assert sorted(compliance) == ["customers/data_request", "customers/redact", "shop/redact"]
    assert {s["uri"].rsplit("/", 2)[-2:] == ["webhooks", "shopify"] for s in subscriptions} == {True}
    scopes = set(config["access_scopes"]["scopes"].split(","))
    assert {"read_customers", "read_orders"} <= scopes
