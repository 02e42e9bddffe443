"""DynamoRateLimiter on moto: a limit holds under threads racing on one counter, counters are per key and
window, expire by TTL, and hold no IP address or phone; and the sign-up use case on the real tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo.rate_limits import DynamoRateLimiter
from chalicelib.adapters.dynamo.tables import RateLimitRow, SandboxMessageRow
from chalicelib.composition import Container, use_container
from chalicelib.domain.shops import ShopSettings
from chalicelib.domain.signup_form import LimitScope, SignupOutcome, counter_key, window_at
from chalicelib.domain.subscribers import ConsentSource, Source, SubscriberStatus
from chalicelib.services import signup
from chalicelib.services.ports import Ports
from chalicelib.services.signup import SignupForm
from chalicelib.settings import Settings
from tests.fakes import FrozenClock
from tests.integration.conftest import TEST_PREFIX, TEST_REGION, Race
from tests.numbers import create_shop

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
WINDOW = window_at(AT, timedelta(hours=1))
EXPIRES = WINDOW.end + timedelta(hours=1)
KEY = counter_key("demo.myshopify.com", LimitScope.IP, "203.0.113.7", WINDOW)
SHOP, SENDER, PHONE = "demo.myshopify.com", "+15550100000", "+15551230000"
PAGE = "https://demo.myshopify.com/pages/texts?utm_source=footer"


@pytest.fixture
def limiter(aws: None) -> DynamoRateLimiter:
    return DynamoRateLimiter()


def test_fifty_threads_racing_on_one_counter_never_count_past_the_limit(limiter: DynamoRateLimiter, race: Race) -> None:
    taken = race(50, lambda i: limiter.take(KEY, 5, EXPIRES))
    assert taken.count(True) == 5 and taken.count(False) == 45
    assert RateLimitRow.get(KEY, consistent_read=True).hits == 5


@pytest.mark.parametrize("limit", [1, 3, 20])
def test_sequential_requests_stop_exactly_at_the_limit(limiter: DynamoRateLimiter, limit: int) -> None:
    assert [limiter.take(KEY, limit, EXPIRES) for _ in range(limit + 5)] == [True] * limit + [False] * 5


def test_each_key_and_window_counts_alone(limiter: DynamoRateLimiter) -> None:
    other_ip = counter_key("demo.myshopify.com", LimitScope.IP, "203.0.113.8", WINDOW)
    next_hour = counter_key("demo.myshopify.com", LimitScope.IP, "203.0.113.7", window_at(WINDOW.end, timedelta(hours=1)))
    other_shop = counter_key("other.myshopify.com", LimitScope.IP, "203.0.113.7", WINDOW)
    assert limiter.take(KEY, 1, EXPIRES) and not limiter.take(KEY, 1, EXPIRES)
    assert all(limiter.take(key, 1, EXPIRES) for key in (other_ip, next_hour, other_shop))


def test_counters_expire_by_ttl_and_keep_no_ip_or_phone(limiter: DynamoRateLimiter) -> None:
    phone_key = counter_key("demo.myshopify.com", LimitScope.PHONE, "+15551230000", WINDOW)
    limiter.take(KEY, 5, EXPIRES)
    limiter.take(phone_key, 3, EXPIRES)
    items = [row.serialize() for row in RateLimitRow.scan()]
    assert len(items) == 2
    for item in items:
        assert int(item["expires_at"]["N"]) == int(EXPIRES.timestamp())
        text = str(item)
        assert "203.0.113.7" not in text and "15551230000" not in text


class TestSignUpOnTheRealTables:
    """The form's use case on the DynamoDB adapters: the consent proof (page URL included) round-trips, a retried
    request texts once, and the phone limit holds."""

    @pytest.fixture
    def ports(self, aws: None) -> Iterator[Ports]:
        settings = Settings.from_env(
            {
                "AWS_REGION": TEST_REGION,
                "SMSCAST_RESOURCE_PREFIX": TEST_PREFIX,
                "SMSCAST_SMS_PROVIDER": "sandbox",
                "SMSCAST_ALLOW_FICTIONAL_NUMBERS": "true",
            }
        )
        container = Container(settings, clock=FrozenClock(AT))
        use_container(container)
        create_shop(container.ports, shop_id=SHOP, settings={"sender_number": SENDER})
        yield container.ports
        use_container(None)

    def form(self, request_id: str, ip: str = "203.0.113.7") -> SignupForm:
        wording = ShopSettings().signup_consent_text.replace("{shop_name}", "Our store")
        return SignupForm("555-123-0000", "US", wording, PAGE, request_id, ip)

    def texts(self) -> list[str]:
        return [row.body for row in SandboxMessageRow.query(PHONE)]

    def test_a_sign_up_keeps_its_proof_and_a_retry_texts_once(self, ports: Ports) -> None:
        for _ in range(3):
            signup.sign_up(ports, SHOP, self.form("req-retry-0001"))
        sub = ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and (sub.status, sub.source) == (SubscriberStatus.PENDING, Source.SIGNUP)
        (event,) = ports.subscribers.consent_history(SHOP, PHONE)
        assert (event.source, event.page_url, event.at) == (ConsentSource.WEB, PAGE, AT)
        assert len(self.texts()) == 1 and "reply Y" in self.texts()[0]

    def test_the_phone_limit_holds_across_ips(self, ports: Ports) -> None:
        outcomes = [signup.sign_up(ports, SHOP, self.form(f"req-phone-{n:04d}", ip=f"198.51.100.{n}")) for n in range(6)]
        assert outcomes.count(SignupOutcome.PHONE_LIMITED) == 3
        assert len(self.texts()) == 3
