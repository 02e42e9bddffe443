"""The HTTP API through Chalice's test client, on fake ports: auth, tenants, validation, error shape."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from tests.numbers import assign
from tests.unit.conftest import SHOPIFY_KEY, SHOPIFY_SECRET, Api, body


def error_code(response: Any) -> str:
    payload = body(response)
    assert set(payload) == {"error"} and {"code", "message"} <= set(payload["error"])
    return str(payload["error"]["code"])


def session_token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://demo.myshopify.com/admin",
        "dest": "https://demo.myshopify.com",
        "aud": SHOPIFY_KEY,
        "sub": "42",
        "exp": now + 60,
        "nbf": now - 5,
        "iat": now,
        "jti": "abc",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return "Bearer " + jwt.encode(claims, SHOPIFY_SECRET, algorithm="HS256")


class TestAuth:
    def test_no_token_is_401(self, api: Api) -> None:
        response = api.call("GET", "/settings", shop=None)
        assert response.status_code == 401 and error_code(response) == "missing_token"

    @pytest.mark.parametrize("token", ["Bearer sk_nope", "Basic abc", "Bearer", "sk_x", "Bearer not.a.jwt"])
    def test_bad_tokens_are_401(self, api: Api, token: str) -> None:
        response = api.call("GET", "/settings", token=token)
        assert response.status_code == 401

    def test_shopify_session_token_acts_for_its_shop(self, api: Api) -> None:
        response = api.call("GET", "/settings", token=session_token())
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "overrides",
        [
            {"exp": int(time.time()) - 120},
            {"nbf": int(time.time()) + 120},
            {"aud": "someone-else"},
            {"aud": None},
            {"dest": None},
            {"dest": "https://unknown.myshopify.com", "iss": "https://unknown.myshopify.com/admin"},
            {"dest": "http://demo.myshopify.com"},
            {"iss": "https://other.myshopify.com/admin"},
        ],
    )
    def test_bad_session_tokens_are_401(self, api: Api, overrides: dict[str, Any]) -> None:
        assert api.call("GET", "/settings", token=session_token(**overrides)).status_code == 401

    def test_token_signed_with_another_secret_is_401(self, api: Api) -> None:
        now = int(time.time())
        forged = jwt.encode(
            {
                "iss": "https://demo.myshopify.com/admin",
                "dest": "https://demo.myshopify.com",
                "aud": SHOPIFY_KEY,
                "exp": now + 60,
                "nbf": now,
            },
            "guessed-secret-0123456789abcdef0123456789",
            algorithm="HS256",
        )
        assert api.call("GET", "/settings", token=f"Bearer {forged}").status_code == 401

    def test_unsigned_token_is_401(self, api: Api) -> None:
        now = int(time.time())
        unsigned = jwt.encode(
            {
                "iss": "https://demo.myshopify.com/admin",
                "dest": "https://demo.myshopify.com",
                "aud": SHOPIFY_KEY,
                "exp": now + 60,
                "nbf": now,
            },
            None,
            algorithm="none",
        )
        assert api.call("GET", "/settings", token=f"Bearer {unsigned}").status_code == 401

    def test_api_keys_are_stored_hashed(self, api: Api) -> None:
        stored = json.dumps(api.ports.shops.keys)  # type: ignore[attr-defined]
        assert api.keys["demo"] not in stored


class TestSettings:
    def test_get_and_patch(self, api: Api) -> None:
        response = api.call("PATCH", "/settings", body={"timezone": "America/Chicago", "quiet_hours": {"start": "20:30"}})
        assert response.status_code == 200
        assert body(response)["timezone"] == "America/Chicago"
        assert body(response)["quiet_hours"] == {"enabled": True, "start": "20:30", "end": "09:00"}
        assert body(api.call("GET", "/settings"))["timezone"] == "America/Chicago"

    @pytest.mark.parametrize(
        "patch, code",
        [
            ({"timezone": "Mars/Olympus"}, "invalid_settings"),
            ({"quiet_hours": {"start": "25:00"}}, "invalid_settings"),
            ({"quiet_hours": {"start": "21:00", "sleep": True}}, "unknown_field"),
            ({"mps": 10}, "unknown_field"),  # the rate is the operator's, per number
            ({"numbers": []}, "unknown_field"),  # and so are the numbers
            ({"help_text": "x" * 400}, "invalid_settings"),
            ({"opt_in_keyword": "STOP"}, "invalid_settings"),
            ({"sender_number": "12"}, "invalid_settings"),
            ({"colour": "red"}, "unknown_field"),
        ],
    )
    def test_bad_patches_are_400_and_change_nothing(self, api: Api, patch: dict[str, Any], code: str) -> None:
        before = body(api.call("GET", "/settings"))
        response = api.call("PATCH", "/settings", body={"shop_name": "Changed", **patch})
        assert response.status_code == 400 and error_code(response) == code
        assert body(api.call("GET", "/settings")) == before

    def test_get_shows_the_pool_read_only(self, api: Api) -> None:
        assign(api.ports, "+15550100009", "demo.myshopify.com", mps=3)
        settings = body(api.call("GET", "/settings"))
        assert settings["sender_number"] == "+15550100000"  # the first number assigned stays the primary
        assert settings["numbers"] == [
            {"number": "+15550100000", "mps": 100, "kind": "SIMULATOR"},
            {"number": "+15550100009", "mps": 3, "kind": "SIMULATOR"},
        ]
        assert "mps" not in settings

    def test_the_primary_is_chosen_among_the_shops_numbers(self, api: Api) -> None:
        assign(api.ports, "+15550100009", "demo.myshopify.com", mps=3)
        response = api.call("PATCH", "/settings", body={"sender_number": "+15550100009"})
        assert response.status_code == 200 and body(response)["sender_number"] == "+15550100009"
        assert api.ports.shops.get("demo.myshopify.com").primary == "+15550100009"

    @pytest.mark.parametrize(
        "number",
        [
            "+15550100001",  # the other shop's number
            "+15550100042",  # nobody's: a merchant cannot claim a free number either
        ],
    )
    def test_a_number_not_assigned_to_the_shop_is_409_and_nothing_is_written(self, api: Api, number: str) -> None:
        before = api.ports.shops.get("demo.myshopify.com")
        response = api.call("PATCH", "/settings", body={"shop_name": "Changed", "sender_number": number})
        assert response.status_code == 409 and error_code(response) == "sender_number_not_assigned"
        assert api.ports.shops.get("demo.myshopify.com") == before
        assert api.ports.shops.shop_for_sender(number) is None or number == "+15550100001"
        other = api.ports.shops.get("other.myshopify.com")
        assert other.primary == "+15550100001" and other.owns("+15550100001")

    @pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b"", b"null", b"\xff\xfe"])
    def test_malformed_json_is_400(self, api: Api, raw: bytes) -> None:
        response = api.call("PATCH", "/settings", raw=raw)
        assert response.status_code == 400 and error_code(response) == "invalid_json"

    def test_huge_body_is_413(self, api: Api) -> None:
        response = api.call("PATCH", "/settings", raw=b'{"shop_name": "' + b"x" * 70_000 + b'"}')
        assert response.status_code == 413


class TestSubscribers:
    def test_add_get_list_opt_out(self, api: Api) -> None:
        created = api.call("POST", "/subscribers", body={"phone": "(212) 555-1234", "source": "checkout", "name": "Ada"})
        assert created.status_code == 201 and body(created)["phone"] == "+12125551234"
        assert api.call("POST", "/subscribers", body={"phone": "+12125551234"}).status_code == 200
        detail = body(api.call("GET", "/subscribers/%2B12125551234"))
        assert detail["status"] == "active" and detail["consent_history"][0]["source"] == "checkout"
        listing = body(api.call("GET", "/subscribers?status=active"))
        assert [s["phone"] for s in listing["items"]] == ["+12125551234"] and listing["next_cursor"] is None
        out = api.call("POST", "/subscribers/%2B12125551234/opt-out")
        assert out.status_code == 200 and body(out)["status"] == "opted_out"
        assert body(api.call("GET", "/subscribers/%2B12125551234"))["consent_history"][-1]["source"] == "api"
        again = api.call("POST", "/subscribers", body={"phone": "+12125551234", "source": "checkout"})
        assert again.status_code == 409 and error_code(again) == "opted_out"

    def test_other_shop_gets_404_and_empty_lists(self, api: Api) -> None:
        api.call("POST", "/subscribers", body={"phone": "+12125551234"})
        assert api.call("GET", "/subscribers/%2B12125551234", shop="other").status_code == 404
        assert api.call("POST", "/subscribers/%2B12125551234/opt-out", shop="other").status_code == 404
        assert body(api.call("GET", "/subscribers", shop="other"))["items"] == []
        assert body(api.call("GET", "/subscribers/%2B12125551234"))["status"] == "active"

    @pytest.mark.parametrize(
        "payload, code",
        [
            ({"phone": "555"}, "invalid_phone"),
            ({"phone": "+1 555 123 0000 ext 9999999999999999999999999999"}, "invalid_phone"),
            ({"phone": "+12125551234", "surprise": 1}, "unknown_field"),
            ({"phone": "+12125551234", "source": "sms"}, "invalid_source"),
        ],
    )
    def test_bad_adds_are_400_and_write_nothing(self, api: Api, payload: dict[str, Any], code: str) -> None:
        response = api.call("POST", "/subscribers", body=payload)
        assert response.status_code == 400 and error_code(response) == code
        assert body(api.call("GET", "/subscribers"))["items"] == []

    @pytest.mark.parametrize("query", ["?limit=0", "?limit=500", "?limit=abc", "?status=gone", "?cursor=%%%", "?colour=red"])
    def test_bad_list_queries_are_400(self, api: Api, query: str) -> None:
        assert api.call("GET", "/subscribers" + query).status_code == 400

    def test_bad_phone_in_path_is_400(self, api: Api) -> None:
        assert api.call("GET", "/subscribers/not-a-number").status_code == 400
