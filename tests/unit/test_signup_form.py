"""The storefront sign-up form (issue 13, part 2): the request's rules, the one answer that never tells whether a
number is subscribed, the limits under a burst, STOP'd numbers kept out, a retry that never texts twice, and
hostile input refused before anything is written."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from chalicelib.domain.errors import ConfigurationError, Conflict, InvalidInput, NotFound, TooManyRequests
from chalicelib.domain.messages import InboundSms
from chalicelib.domain.shops import ShopSettings
from chalicelib.domain.signup_form import (
    LimitScope,
    SignupLimits,
    SignupOutcome,
    check_page_url,
    counter_key,
    signup_phone,
    window_at,
)
from chalicelib.domain.subscribers import ConsentAction, ConsentSource, Source, SubscriberStatus
from chalicelib.services import signup
from chalicelib.services.exports import consent_proof_csv
from chalicelib.services.inbound import receive_sms
from chalicelib.services.ports import Ports
from chalicelib.services.signup import SignupForm
from chalicelib.settings import Settings
from tests.fakes import FakeSms, fake_ports
from tests.numbers import create_shop
from tests.unit.conftest import Api, body

SHOP = "demo.myshopify.com"
SENDER = "+15550100000"
PHONE = "+15551230000"
PAGE = "https://demo.myshopify.com/products/green-tea?variant=1#reviews"
WORDING = ShopSettings().signup_consent_text.replace("{shop_name}", "Our store")


def _sms(ports: Ports) -> FakeSms:
    sms = ports.sms
    assert isinstance(sms, FakeSms)
    return sms


def texts_to(ports: Ports, phone: str) -> list[str]:
    return [s.sms.body for s in _sms(ports).sent if s.sms.to_number == phone]


def form(
    phone: str = "(555) 123-0000", *, ip: str = "203.0.113.7", request_id: str = "req-00000001", **changes: Any
) -> SignupForm:
    base = SignupForm(phone=phone, country="US", consent_text=WORDING, page_url=PAGE, request_id=request_id, client_ip=ip)
    return replace(base, **changes)


@pytest.fixture
def ports() -> Ports:
    ports = fake_ports()
    create_shop(ports, shop_id=SHOP, settings={"sender_number": SENDER})
    return ports


# --- the request's rules (pure) ----------------------------------------------------------------------------------


class TestPhone:
    SETTINGS = ShopSettings()

    @pytest.mark.parametrize("typed", ["(212) 555-0123", "212-555-0123", "+1 212 555 0123", "2125550123"])
    def test_a_number_typed_any_usual_way_is_e164(self, typed: str) -> None:
        assert signup_phone(typed, "US", self.SETTINGS, allow_fictional=False) == "+12125550123"

    def test_a_number_of_a_country_the_shop_does_not_take_is_refused_even_typed_with_plus(self) -> None:
        with pytest.raises(InvalidInput) as refused:
            signup_phone("+44 7400 123456", "US", self.SETTINGS, allow_fictional=False)
        assert refused.value.code == "country_not_allowed"

    def test_the_country_choice_must_be_one_the_shop_takes(self) -> None:
        with pytest.raises(InvalidInput) as refused:
            signup_phone("07400 123456", "GB", self.SETTINGS, allow_fictional=False)
        assert refused.value.code == "country_not_allowed"
        uk = replace(self.SETTINGS, signup_countries=("GB",))
        assert signup_phone("07400 123456", "GB", uk, allow_fictional=False) == "+447400123456"

    def test_canada_is_taken_by_default(self) -> None:
        assert signup_phone("(416) 555-0123", "CA", self.SETTINGS, allow_fictional=False) == "+14165550123"

    @pytest.mark.parametrize("typed", ["call me", "123", "212 555 0123 ext 9", "<script>", "+1555123"])
    def test_not_a_number_is_invalid_phone(self, typed: str) -> None:
        with pytest.raises(InvalidInput) as refused:
            signup_phone(typed, "US", self.SETTINGS, allow_fictional=False)
        assert refused.value.code == "invalid_phone"

    def test_fictional_numbers_only_where_allowed(self) -> None:
        assert signup_phone("555-123-0000", "US", self.SETTINGS, allow_fictional=True) == PHONE
        with pytest.raises(InvalidInput):
            signup_phone("555-123-0000", "US", self.SETTINGS, allow_fictional=False)


class TestPageUrl:
    @pytest.mark.parametrize("url", [PAGE, "http://localhost:8080/", "https://shop.example/a?b=c&d=%20"])
    def test_http_pages_are_kept_as_given(self, url: str) -> None:
        assert check_page_url(url) == url

    @pytest.mark.parametrize(
        "url",
        [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "https://shop.example/<script>alert(1)</script>",
            'https://shop.example/"><script>',
            "ftp://shop.example/",
            "//shop.example/",
            "/products/tea",
            "https://user:pass@shop.example/",
            "https://shop.example/a b",
            "https://shop.example/\x00",
            "https://shöp.example/",
            "https://[::1/",
            "https://",
            "https://shop.example/" + "a" * 2048,
        ],
    )
    def test_anything_else_is_invalid_page_url(self, url: str) -> None:
        with pytest.raises(InvalidInput) as refused:
            check_page_url(url)
        assert refused.value.code == "invalid_page_url"


class TestCounters:
    def test_windows_are_fixed_hours_in_utc(self) -> None:
        window = window_at(datetime(2026, 11, 20, 15, 42, 7, tzinfo=timezone.utc), timedelta(hours=1))
        assert (window.start.hour, window.start.minute, window.end.hour) == (15, 0, 16)
        assert window.retry_after(datetime(2026, 11, 20, 15, 59, 59, 500000, tzinfo=timezone.utc)) == 1

    def test_keys_never_hold_the_ip_or_the_phone(self) -> None:
        window = window_at(datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc), timedelta(hours=1))
        for scope, subject in ((LimitScope.IP, "203.0.113.7"), (LimitScope.PHONE, PHONE)):
            key = counter_key(SHOP, scope, subject, window)
            assert subject not in key and subject.lstrip("+") not in key and key.startswith(f"signup#{SHOP}#")


# --- the use case on fakes ---------------------------------------------------------------------------------------


class TestSignUp:
    def test_a_new_number_becomes_pending_with_its_consent_proof_and_gets_the_confirmation(self, ports: Ports) -> None:
        assert signup.sign_up(ports, SHOP, form()) is SignupOutcome.REQUESTED
        sub = ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and (sub.status, sub.source) == (SubscriberStatus.PENDING, Source.SIGNUP)
        (event,) = ports.subscribers.consent_history(SHOP, PHONE)
        assert (event.action, event.source, event.text, event.page_url) == (
            ConsentAction.REQUESTED,
            ConsentSource.WEB,
            WORDING,
            PAGE,
        )
        assert event.at == ports.clock.now()
        (sent,) = _sms(ports).sent
        assert sent.sms.from_number == SENDER and "reply Y" in sent.sms.body

    def test_reply_y_through_the_inbound_path_makes_it_active(self, ports: Ports) -> None:
        signup.sign_up(ports, SHOP, form())
        receive_sms(ports, InboundSms("in-y", PHONE, SENDER, "Y", ports.clock.now()))
        sub = ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and sub.status is SubscriberStatus.ACTIVE and sub.source is Source.SIGNUP
        actions = [e.action for e in ports.subscribers.consent_history(SHOP, PHONE)]
        assert actions == [ConsentAction.REQUESTED, ConsentAction.OPTED_IN]

    def test_a_stopped_number_is_never_texted_and_stays_opted_out(self, ports: Ports) -> None:
        signup.sign_up(ports, SHOP, form())
        receive_sms(ports, InboundSms("in-stop", PHONE, SENDER, "STOP", ports.clock.now()))
        before = len(_sms(ports).sent)
        history = ports.subscribers.consent_history(SHOP, PHONE)
        for n in range(3):
            ports.clock.advance(hours=1)  # a fresh window each time: no limit is what keeps it out
            outcome = signup.sign_up(ports, SHOP, form(request_id=f"req-after-stop-{n}", ip=f"198.51.100.{n}"))
            assert outcome is SignupOutcome.OPTED_OUT
        assert len(_sms(ports).sent) == before
        sub = ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and sub.status is SubscriberStatus.OPTED_OUT
        assert ports.subscribers.consent_history(SHOP, PHONE) == history  # nothing recorded either

    def test_a_stop_from_a_number_never_subscribed_is_kept_out_too(self, ports: Ports) -> None:
        receive_sms(ports, InboundSms("in-stop", PHONE, SENDER, "STOP", ports.clock.now()))
        assert signup.sign_up(ports, SHOP, form()) is SignupOutcome.OPTED_OUT
        assert texts_to(ports, PHONE) == [ShopSettings().render(ShopSettings().stop_text)]  # the STOP answer only

    def test_an_erased_number_is_never_texted(self, ports: Ports) -> None:
        ports.suppressions.add(SHOP, PHONE, ports.clock.now())
        assert signup.sign_up(ports, SHOP, form()) is SignupOutcome.SUPPRESSED
        assert ports.subscribers.get(SHOP, PHONE) is None and texts_to(ports, PHONE) == []

    def test_an_active_subscriber_is_not_texted_again(self, ports: Ports) -> None:
        signup.sign_up(ports, SHOP, form())
        receive_sms(ports, InboundSms("in-y", PHONE, SENDER, "Y", ports.clock.now()))
        sent = len(texts_to(ports, PHONE))
        assert signup.sign_up(ports, SHOP, form(request_id="req-00000002")) is SignupOutcome.ALREADY_ACTIVE
        assert len(texts_to(ports, PHONE)) == sent

    def test_a_pending_number_is_asked_again_up_to_its_limit(self, ports: Ports) -> None:
        outcomes = [signup.sign_up(ports, SHOP, form(request_id=f"req-pending-{n}", ip=f"198.51.100.{n}")) for n in range(5)]
        assert outcomes == [SignupOutcome.REQUESTED] + [SignupOutcome.ASKED_AGAIN] * 2 + [SignupOutcome.PHONE_LIMITED] * 2
        assert len(texts_to(ports, PHONE)) == 3
        assert len(ports.subscribers.consent_history(SHOP, PHONE)) == 3  # each request that texted is on record

    def test_a_retried_request_never_texts_twice(self, ports: Ports) -> None:
        for _ in range(3):
            signup.sign_up(ports, SHOP, form(request_id="req-retried-1"))
        assert len(texts_to(ports, PHONE)) == 1
        assert len(ports.subscribers.consent_history(SHOP, PHONE)) == 1

    def test_a_throttled_confirmation_is_free_for_the_next_try_and_answers_the_same(self, ports: Ports) -> None:
        _sms(ports).throttle_next = 1
        assert signup.sign_up(ports, SHOP, form(request_id="req-throttled")) is SignupOutcome.NOT_SENT
        assert signup.sign_up(ports, SHOP, form(request_id="req-throttled")) is SignupOutcome.ASKED_AGAIN
        assert len(texts_to(ports, PHONE)) == 1

    def test_the_wording_must_be_the_shops_current_one(self, ports: Ports) -> None:
        with pytest.raises(Conflict) as refused:
            signup.sign_up(ports, SHOP, form(consent_text="Sign up! (no STOP, no rates)"))
        assert refused.value.code == "consent_text_changed"
        assert ports.subscribers.get(SHOP, PHONE) is None and _sms(ports).sent == []

    @pytest.mark.parametrize("shop_id", ["nobody.myshopify.com", "NOT A SHOP", "../demo.myshopify.com", ""])
    def test_unknown_or_malformed_shops_are_one_not_found(self, ports: Ports, shop_id: str) -> None:
        with pytest.raises(NotFound) as refused:
            signup.sign_up(ports, shop_id, form())
        assert refused.value.code == "unknown_shop"

    def test_an_uninstalled_shop_takes_no_sign_ups(self, ports: Ports) -> None:
        ports.shops.mark_uninstalled(SHOP, ports.clock.now())
        with pytest.raises(NotFound):
            signup.sign_up(ports, SHOP, form())
        assert _sms(ports).sent == []


class TestLimitsUnderABurst:
    def test_fifty_requests_from_one_ip_text_at_most_its_limit_then_429(self, ports: Ports) -> None:
        answers: list[SignupOutcome | int] = []
        for n in range(50):
            try:
                answers.append(signup.sign_up(ports, SHOP, form(f"555-123-{n:04d}", request_id=f"req-ip-{n:04d}")))
            except TooManyRequests as exc:
                answers.append(exc.retry_after)
        assert answers[:5] == [SignupOutcome.REQUESTED] * 5
        assert answers[5:] == [3600] * 45  # the fake clock is on the hour: the whole window to wait
        assert len(_sms(ports).sent) == 5
        ports.clock.advance(hours=1)
        assert signup.sign_up(ports, SHOP, form("555-123-9999", request_id="req-next-hour")) is SignupOutcome.REQUESTED

    def test_fifty_requests_for_one_phone_from_fifty_ips_text_it_three_times(self, ports: Ports) -> None:
        outcomes = [signup.sign_up(ports, SHOP, form(ip=f"198.51.100.{n}", request_id=f"req-phone-{n:04d}")) for n in range(50)]
        assert len(texts_to(ports, PHONE)) == 3
        assert outcomes.count(SignupOutcome.PHONE_LIMITED) == 47

    def test_the_shop_limit_holds_across_ips_and_phones(self, ports: Ports) -> None:
        ports.signup_limits = SignupLimits(per_shop=10)
        refused = 0
        for n in range(50):
            try:
                signup.sign_up(ports, SHOP, form(f"555-123-{n:04d}", ip=f"198.51.{n}.1", request_id=f"req-shop-{n:04d}"))
            except TooManyRequests:
                refused += 1
        assert (len(_sms(ports).sent), refused) == (10, 40)

    def test_requests_that_fail_validation_still_count_against_the_ip(self, ports: Ports) -> None:
        for n in range(5):
            with pytest.raises(InvalidInput):
                signup.sign_up(ports, SHOP, form("not a phone", request_id=f"req-bad-{n:04d}"))
        with pytest.raises(TooManyRequests):
            signup.sign_up(ports, SHOP, form())
        assert _sms(ports).sent == []

    def test_each_shop_counts_its_own_requests(self, ports: Ports) -> None:
        create_shop(ports, shop_id="other.myshopify.com", settings={"sender_number": "+15550100001"})
        for n in range(5):
            signup.sign_up(ports, SHOP, form(f"555-123-{n:04d}", request_id=f"req-a-{n:04d}"))
        outcome = signup.sign_up(ports, "other.myshopify.com", form(request_id="req-b-0000", consent_text=WORDING))
        assert outcome is SignupOutcome.REQUESTED


# --- over HTTP ---------------------------------------------------------------------------------------------------

PATH = f"/signup/{SHOP}"


def post(api: Api, payload: Any = None, *, raw: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    return api.call("POST", PATH, shop=None, body=payload, raw=raw, headers=headers)


def payload(phone: str = "(555) 123-0000", request_id: str = "req-00000001", **changes: Any) -> dict[str, Any]:
    return {"phone": phone, "country": "US", "consent_text": WORDING, "page_url": PAGE, "request_id": request_id, **changes}


@pytest.fixture
def web(api: Api) -> Api:
    api.ports.signup_limits = SignupLimits(per_ip=1000)  # every test request comes from 127.0.0.1
    return api


class TestOverHttp:
    def test_the_answer_is_the_same_for_every_state_of_the_number(self, web: Api) -> None:
        ports = web.ports
        new = post(web, payload("555-123-0001", "req-new-0001"))
        pending = post(web, payload("555-123-0001", "req-pending-01"))
        signup.sign_up(ports, SHOP, form("555-123-0002", request_id="req-act-0001"))
        receive_sms(ports, InboundSms("in-y", "+15551230002", SENDER, "Y", ports.clock.now()))
        active = post(web, payload("555-123-0002", "req-active-01"))
        receive_sms(ports, InboundSms("in-stop", "+15551230003", SENDER, "STOP", ports.clock.now()))
        opted_out = post(web, payload("555-123-0003", "req-stopped-1"))
        ports.suppressions.add(SHOP, "+15551230004", ports.clock.now())
        erased = post(web, payload("555-123-0004", "req-erased-01"))
        for n in range(3):
            post(web, payload("555-123-0005", f"req-limit-{n:03d}"))
        limited = post(web, payload("555-123-0005", "req-limit-999"))
        _sms(ports).reject_next = 1
        refused = post(web, payload("555-123-0006", "req-refused-1"))
        answers = {
            "new": new,
            "pending": pending,
            "active": active,
            "opted_out": opted_out,
            "erased": erased,
            "phone_limited": limited,
            "provider_refused": refused,
        }
        shapes = {name: (r.status_code, r.body, r.headers.get("Content-Type")) for name, r in answers.items()}
        assert len(set(shapes.values())) == 1, shapes
        assert new.status_code == 202 and body(new)["status"] == "check_your_phone"

    def test_opted_out_numbers_are_not_texted_through_the_route(self, web: Api) -> None:
        receive_sms(web.ports, InboundSms("in-stop", PHONE, SENDER, "STOP", web.ports.clock.now()))
        sent = len(_sms(web.ports).sent)
        assert post(web, payload()).status_code == 202
        assert len(_sms(web.ports).sent) == sent
        sub = web.ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and sub.status is SubscriberStatus.OPTED_OUT

    def test_the_ip_limit_is_429_with_retry_after(self, api: Api) -> None:
        statuses = [post(api, payload(f"555-123-{n:04d}", f"req-ip-{n:04d}")) for n in range(8)]
        assert [r.status_code for r in statuses] == [202] * 5 + [429] * 3
        assert statuses[-1].headers["Retry-After"] == "3600"
        assert body(statuses[-1])["error"]["code"] == "too_many_requests"

    def test_store_pages_may_call_it_from_their_own_origin(self, web: Api) -> None:
        accepted = post(web, payload(), headers={"Origin": "https://demo.myshopify.com"})
        refused = post(web, payload(phone="nope"), headers={"Origin": "https://demo.myshopify.com"})
        for response in (accepted, refused):
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            assert "Access-Control-Allow-Credentials" not in response.headers

    def test_the_form_shows_public_facts_only(self, web: Api) -> None:
        response = web.call("GET", f"/signup/{SHOP}/form", shop=None)
        assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
        assert body(response) == {"shop_name": "Our store", "consent_text": WORDING, "countries": ["US", "CA"]}
        assert SENDER.encode() not in response.body

    def test_a_shop_without_a_number_takes_no_sign_ups(self, web: Api) -> None:
        from chalicelib.services import shops

        shops.create_shop(web.ports, shop_id="new.myshopify.com", settings={})
        assert web.call("GET", "/signup/new.myshopify.com/form", shop=None).status_code == 409
        response = web.call("POST", "/signup/new.myshopify.com", shop=None, body=payload())
        assert response.status_code == 409 and body(response)["error"]["code"] == "signups_unavailable"

    @pytest.mark.parametrize("shop_id", ["nobody.myshopify.com", "NOPE", "%2E%2E"])
    def test_an_unknown_shop_is_404(self, web: Api, shop_id: str) -> None:
        response = web.call("POST", f"/signup/{shop_id}", shop=None, body=payload())
        assert response.status_code == 404 and body(response)["error"]["code"] == "unknown_shop"

    @pytest.mark.parametrize(
        "change, status, code",
        [
            ({"phone": 5551230000}, 400, "invalid_phone"),
            ({"phone": ["555"]}, 400, "invalid_phone"),
            ({"country": "us"}, 400, "invalid_country"),
            ({"country": "GB"}, 400, "country_not_allowed"),
            ({"phone": "+44 7400 123456"}, 400, "country_not_allowed"),
            ({"page_url": "javascript:alert(document.cookie)"}, 400, "invalid_page_url"),
            ({"page_url": "https://x.example/<script>alert(1)</script>"}, 400, "invalid_page_url"),
            ({"page_url": "ftp://x.example/"}, 400, "invalid_page_url"),
            ({"page_url": "https://x.example/\u202e"}, 400, "invalid_page_url"),
            ({"request_id": "short"}, 400, "invalid_request_id"),
            ({"request_id": None}, 400, "invalid_request_id"),
            ({"extra": True}, 400, "unknown_field"),
            ({"consent_text": "Sign up for texts"}, 409, "consent_text_changed"),
        ],
        ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v),
    )
    def test_hostile_or_broken_input_is_refused_and_writes_nothing(
        self, web: Api, change: dict[str, Any], status: int, code: str
    ) -> None:
        response = post(web, {**payload(), **change})
        assert (response.status_code, body(response)["error"]["code"]) == (status, code), response.body
        assert web.ports.subscribers.get(SHOP, PHONE) is None and _sms(web.ports).sent == []

    def test_a_huge_body_is_413_and_one_not_json_is_415_or_400(self, web: Api) -> None:
        huge = json.dumps({**payload(), "page_url": "https://x.example/" + "a" * 10_000}).encode()
        assert post(web, raw=huge).status_code == 413
        assert (
            post(web, raw=b"phone=5551230000", headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 415
        )
        assert post(web, raw=b'{"phone": ').status_code == 400
        assert post(web, raw=b"[]").status_code == 400
        assert _sms(web.ports).sent == []

    def test_a_credential_changes_nothing_about_the_answer(self, web: Api) -> None:
        plain = post(web, payload(request_id="req-cred-0001"))
        with_key = post(web, payload(request_id="req-cred-0002"), headers={"Authorization": f"Bearer {web.keys['other']}"})
        assert (plain.status_code, plain.body) == (with_key.status_code, with_key.body)
        assert web.ports.subscribers.get("other.myshopify.com", PHONE) is None


class TestDeploymentLimits:
    """The limits are the operator's: defaults, or the deployment's environment, checked at start-up."""

    ENV: ClassVar[dict[str, str]] = {"AWS_REGION": "us-east-1"}

    def test_defaults(self) -> None:
        assert Settings.from_env(self.ENV).signup_limits == SignupLimits(per_ip=5, per_phone=3, per_shop=500)

    def test_from_the_environment(self) -> None:
        env = {**self.ENV, "SMSCAST_SIGNUP_PER_IP": "20", "SMSCAST_SIGNUP_PER_SHOP": "2000"}
        assert Settings.from_env(env).signup_limits == SignupLimits(per_ip=20, per_phone=3, per_shop=2000)

    @pytest.mark.parametrize("raw", ["0", "-1", "1e3", "lots", "2000000"])
    def test_a_bad_value_stops_the_start(self, raw: str) -> None:
        with pytest.raises(ConfigurationError):
            Settings.from_env({**self.ENV, "SMSCAST_SIGNUP_PER_PHONE": raw})


class TestDashboardEmbed:
    def test_the_merchant_gets_the_shop_id_the_tag_names_the_wording_and_the_limits(self, api: Api) -> None:
        response = api.call("GET", "/signup/embed")
        assert response.status_code == 200
        assert body(response) == {
            "shop": SHOP,
            "shop_name": "Our store",
            "consent_text": WORDING,
            "countries": ["US", "CA"],
            "limits": {"per_ip": 5, "per_phone": 3, "per_shop": 500, "window_seconds": 3600},
        }

    def test_it_takes_the_merchants_credential(self, api: Api) -> None:
        assert api.call("GET", "/signup/embed", shop=None).status_code == 401
        assert "Access-Control-Allow-Origin" not in api.call("GET", "/signup/embed").headers


class TestConsentProof:
    def test_the_consent_csv_carries_the_wording_and_the_page_of_a_sign_up(self, ports: Ports) -> None:
        signup.sign_up(ports, SHOP, form())
        receive_sms(ports, InboundSms("in-y", PHONE, SENDER, "Y", ports.clock.now()))
        rows = list(csv.reader(io.StringIO(consent_proof_csv(ports, SHOP, PHONE).data.decode("utf-8-sig"), newline="")))
        header, requested, confirmed = rows
        assert header[4:6] == ["text", "page_url"]
        assert requested[2:6] == ["requested", "web", WORDING, PAGE]
        assert confirmed[2:6] == ["opted_in", "sms", "Y", ""]
