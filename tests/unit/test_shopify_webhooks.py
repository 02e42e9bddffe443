"""POST /webhooks/shopify and the webhook worker on fakes: signature, dedupe, queueing, every topic's work."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.errors import ConsentRequired, ProviderRejected, ShopUninstalled, TransientError
from chalicelib.domain.inbox import ReplyState
from chalicelib.domain.jobs import SendReply, start_schedule_name
from chalicelib.domain.messages import InboundSms
from chalicelib.domain.privacy import suppression_hash
from chalicelib.domain.sending import SendBatch
from chalicelib.domain.shopify import Topic, Webhook
from chalicelib.domain.subscribers import ConsentAction, ConsentSource, Source, SubscriberStatus
from chalicelib.services import campaigns, inbox, subscribers, webhooks
from chalicelib.services.inbound import receive_sms
from chalicelib.services.ports import Ports
from chalicelib.services.sending import send_batch
from chalicelib.workers import shopify_webhooks
from devstack.pumps import LocalLambdaContext
from devstack.shopify import customer_payload, headers, order_payload
from tests.commands import add_subscriber, new_campaign
from tests.fakes import FakeClaims, FakeSchedules, FakeSms, FakeWebhookQueue, WorkerCrash
from tests.unit.conftest import SHOPIFY_SECRET, Api, body

SHOP = "demo.myshopify.com"
SENDER = "+15550100000"
PHONE = "+15551230000"
AT = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


def queue(api: Api) -> FakeWebhookQueue:
    assert isinstance(api.ports.webhooks, FakeWebhookQueue)
    return api.ports.webhooks


def post(
    api: Api,
    topic: Topic | str,
    payload: Any,
    *,
    secret: str = SHOPIFY_SECRET,
    webhook_id: str | None = None,
    shop: str = SHOP,
    extra: dict[str, str] | None = None,
) -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {**headers(topic, raw, shop=shop, secret=secret, webhook_id=webhook_id), **(extra or {})}
    return api.call("POST", "/webhooks/shopify", shop=None, raw=raw, headers=sent)


def deliver(api: Api) -> list[webhooks.Handled]:
    """Play the worker: handle everything the route queued."""
    pending, queue(api).webhooks[:] = list(queue(api).webhooks), []
    return [webhooks.handle(api.ports, webhook) for webhook in pending]


def customer(api: Api, consent: str = "subscribed", *, phone: str = PHONE, customer_id: int = 7001, **kw: Any) -> Any:
    response = post(api, Topic.CUSTOMERS_CREATE, customer_payload(phone, at=AT, consent=consent, customer_id=customer_id, **kw))
    assert response.status_code == 200
    return deliver(api)


def nothing_stored(api: Api) -> None:
    assert queue(api).webhooks == []
    claims = api.ports.claims
    assert isinstance(claims, FakeClaims)
    assert not [key for key in claims.keys if key.startswith("shopify-webhook")]


class TestSignature:
    def test_a_missing_signature_is_401_and_nothing_is_stored(self, api: Api) -> None:
        raw = json.dumps(customer_payload(PHONE, at=AT)).encode()
        sent = headers(Topic.CUSTOMERS_CREATE, raw, shop=SHOP, secret=SHOPIFY_SECRET)
        del sent["X-Shopify-Hmac-Sha256"]
        response = api.call("POST", "/webhooks/shopify", shop=None, raw=raw, headers=sent)
        assert response.status_code == 401
        assert body(response)["error"]["code"] == "invalid_signature"
        nothing_stored(api)
        assert api.ports.subscribers.get(SHOP, PHONE) is None

    def test_a_signature_made_with_another_secret_is_401(self, api: Api) -> None:
        response = post(api, Topic.CUSTOMERS_CREATE, customer_payload(PHONE, at=AT), secret="not-the-app-secret")
        assert response.status_code == 401
        nothing_stored(api)

    def test_a_body_changed_after_signing_is_401(self, api: Api) -> None:
        raw = json.dumps(customer_payload(PHONE, at=AT)).encode()
        sent = headers(Topic.CUSTOMERS_CREATE, raw, shop=SHOP, secret=SHOPIFY_SECRET)
        tampered = raw.replace(b"subscribed", b"subscribeD")
        response = api.call("POST", "/webhooks/shopify", shop=None, raw=tampered, headers=sent)
        assert response.status_code == 401
        nothing_stored(api)

    @pytest.mark.parametrize("raw", [b"not json at all", b"", b"\xff\xfe binary", b"[1, 2, 3]"])
    def test_the_signature_is_checked_before_the_body_is_read(self, api: Api, raw: bytes) -> None:
        # Garbage with a wrong signature and the wrong content type: 401, never 400 or 415.
        sent = headers(Topic.ORDERS_CREATE, raw, shop=SHOP, secret="wrong")
        sent["Content-Type"] = "text/plain"
        response = api.call("POST", "/webhooks/shopify", shop=None, raw=raw, headers=sent)
        assert response.status_code == 401
        nothing_stored(api)

    def test_a_bearer_token_is_no_substitute_for_the_signature(self, api: Api) -> None:
        raw = json.dumps(customer_payload(PHONE, at=AT)).encode()
        sent = headers(Topic.CUSTOMERS_CREATE, raw, shop=SHOP, secret="wrong")
        response = api.call("POST", "/webhooks/shopify", raw=raw, headers=sent)  # the demo shop's API key too
        assert response.status_code == 401
        nothing_stored(api)


class TestAcceptance:
    def test_a_signed_webhook_is_queued_and_answered_200(self, api: Api) -> None:
        response = post(api, Topic.CUSTOMERS_CREATE, customer_payload(PHONE, at=AT), webhook_id="wh-1")
        assert response.status_code == 200
        assert body(response) == {"outcome": "queued"}
        (queued,) = queue(api).webhooks
        assert (queued.shop_id, queued.topic, queued.webhook_id) == (SHOP, Topic.CUSTOMERS_CREATE, "wh-1")
        assert json.loads(queued.body)["phone"] == PHONE

    def test_a_replayed_webhook_is_queued_once(self, api: Api) -> None:
        payload = customer_payload(PHONE, at=AT)
        first = post(api, Topic.CUSTOMERS_CREATE, payload, webhook_id="wh-1")
        again = post(api, Topic.CUSTOMERS_CREATE, payload, webhook_id="wh-1")
        assert (first.status_code, again.status_code) == (200, 200)
        assert body(again) == {"outcome": "duplicate"}
        assert len(queue(api).webhooks) == 1
        deliver(api)
        assert len(api.ports.subscribers.consent_history(SHOP, PHONE)) == 1

    def test_a_failed_enqueue_answers_503_and_shopifys_retry_is_not_taken_for_a_duplicate(self, api: Api) -> None:
        queue(api).fail_next = TransientError("SQS is down")
        payload = customer_payload(PHONE, at=AT)
        failed = post(api, Topic.CUSTOMERS_CREATE, payload, webhook_id="wh-1")
        assert failed.status_code == 503
        retried = post(api, Topic.CUSTOMERS_CREATE, payload, webhook_id="wh-1")
        assert body(retried) == {"outcome": "queued"}
        assert len(queue(api).webhooks) == 1

    def test_a_route_that_dies_while_queueing_leaves_the_id_for_shopifys_retry(self, api: Api) -> None:
        queue(api).fail_next = WorkerCrash("Lambda timed out in SendMessage")
        accept = {"shop_domain": SHOP, "topic": "customers/create", "webhook_id": "wh-1", "body": b"{}"}
        with pytest.raises(WorkerCrash):
            webhooks.accept(api.ports, **accept)  # type: ignore[arg-type]
        nothing_stored(api)
        assert webhooks.accept(api.ports, **accept) is webhooks.Acceptance.QUEUED  # type: ignore[arg-type]
        assert webhooks.accept(api.ports, **accept) is webhooks.Acceptance.DUPLICATE  # type: ignore[arg-type]
        assert len(queue(api).webhooks) == 1

    def test_an_unknown_topic_is_acknowledged_and_not_queued(self, api: Api) -> None:
        response = post(api, "products/update", {"id": 1})
        assert response.status_code == 200 and body(response) == {"outcome": "unknown_topic"}
        assert queue(api).webhooks == []

    @pytest.mark.parametrize("shop", ["stranger.myshopify.com", "x" * 300, "DEMO.myshopify.com#evil", "../demo"])
    def test_an_unknown_shop_is_acknowledged_so_shopify_stops_retrying(self, api: Api, shop: str) -> None:
        response = post(api, Topic.CUSTOMERS_CREATE, customer_payload(PHONE, at=AT), shop=shop)
        assert response.status_code == 200 and body(response) == {"outcome": "unknown_shop"}
        assert queue(api).webhooks == []

    def test_a_webhook_without_an_id_is_400(self, api: Api) -> None:
        raw = json.dumps(customer_payload(PHONE, at=AT)).encode()
        sent = headers(Topic.CUSTOMERS_CREATE, raw, shop=SHOP, secret=SHOPIFY_SECRET)
        del sent["X-Shopify-Webhook-Id"]
        response = api.call("POST", "/webhooks/shopify", shop=None, raw=raw, headers=sent)
        assert response.status_code == 400
        assert queue(api).webhooks == []


class TestWorker:
    def test_a_redelivered_sqs_message_does_the_work_once(self, api: Api) -> None:
        post(api, Topic.CUSTOMERS_CREATE, customer_payload(PHONE, at=AT, consent="subscribed"))
        (queued,) = queue(api).webhooks
        message = json.dumps(queued.to_json())
        record = {
            "messageId": "m-1",
            "receiptHandle": "rh",
            "body": message,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:smscast-dev-shopify-webhooks",
            "awsRegion": "us-east-1",
        }
        for _ in range(2):
            answer = shopify_webhooks.handle_sqs_event(
                {"Records": [record]}, LocalLambdaContext(function_name="shopify_webhooks")
            )
            assert answer == {"batchItemFailures": []}
        history = api.ports.subscribers.consent_history(SHOP, PHONE)
        assert [e.action for e in history] == [ConsentAction.OPTED_IN]
        assert webhooks.handle(api.ports, queued) is webhooks.Handled.ALREADY_DONE

    @pytest.mark.parametrize("failure", [TransientError("DynamoDB hiccup"), WorkerCrash("Lambda timed out")])
    def test_a_worker_that_fails_or_dies_half_way_leaves_the_webhook_to_the_redelivery(
        self, api: Api, failure: BaseException
    ) -> None:
        post(api, Topic.CUSTOMERS_CREATE, customer_payload(PHONE, at=AT))
        (queued,) = queue(api).webhooks
        store = api.ports.subscribers
        store.fail_next_apply = failure  # type: ignore[attr-defined]
        with pytest.raises(type(failure)):
            webhooks.handle(api.ports, queued)
        assert webhooks.handle(api.ports, queued) is webhooks.Handled.DONE
        assert api.ports.subscribers.get(SHOP, PHONE) is not None
        assert webhooks.handle(api.ports, queued) is webhooks.Handled.ALREADY_DONE

    def test_an_unreadable_payload_is_dropped_not_retried(self, api: Api) -> None:
        post(api, Topic.CUSTOMERS_CREATE, b"{not json")
        assert deliver(api) == [webhooks.Handled.DROPPED]


class TestCustomers:
    def test_a_subscribed_customer_becomes_a_checkout_subscriber(self, api: Api) -> None:
        assert customer(api, "subscribed", name="Ada Lovelace") == [webhooks.Handled.DONE]
        sub = api.ports.subscribers.get(SHOP, PHONE)
        assert sub is not None
        assert (sub.status, sub.source, sub.name, sub.customer_id) == (
            SubscriberStatus.ACTIVE,
            Source.CHECKOUT,
            "Ada Lovelace",
            "7001",
        )
        assert sub.profile_url == "https://admin.shopify.com/store/demo/customers/7001"
        (event,) = api.ports.subscribers.consent_history(SHOP, PHONE)
        assert (event.action, event.source) == (ConsentAction.OPTED_IN, ConsentSource.SHOPIFY)
        for field in ("state=subscribed", "opt_in_level=single_opt_in", "consent_updated_at=", "consent_collected_from=SHOPIFY"):
            assert field in event.text
        assert api.ports.subscribers.by_customer_id(SHOP, "7001") == sub

    def test_the_subscriber_shows_through_the_api(self, api: Api) -> None:
        customer(api, "subscribed")
        got = body(api.call("GET", f"/subscribers/%2B{PHONE[1:]}"))
        assert got["source"] == "checkout"
        assert got["consent_history"][0]["source"] == "shopify"

    def test_a_customer_without_sms_consent_or_phone_adds_nobody(self, api: Api) -> None:
        customer(api, "not_subscribed")
        customer(api, "subscribed", phone="")
        assert api.ports.subscribers.page(SHOP).items == []

    def test_unsubscribed_in_shopify_opts_out_here(self, api: Api) -> None:
        customer(api, "subscribed")
        customer(api, "unsubscribed")
        sub = api.ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and sub.status is SubscriberStatus.OPTED_OUT
        last = api.ports.subscribers.consent_history(SHOP, PHONE)[-1]
        assert (last.action, last.source) == (ConsentAction.OPTED_OUT, ConsentSource.SHOPIFY)
        sms = api.ports.sms
        assert isinstance(sms, FakeSms) and (SENDER, PHONE) in sms.opted_out

    def test_not_subscribed_after_subscribed_opts_out(self, api: Api) -> None:
        customer(api, "subscribed")
        customer(api, "not_subscribed")
        sub = api.ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and sub.status is SubscriberStatus.OPTED_OUT

    def test_a_shopify_opt_out_can_be_undone_in_shopify(self, api: Api) -> None:
        customer(api, "subscribed")
        customer(api, "unsubscribed")
        customer(api, "subscribed")
        sub = api.ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and sub.status is SubscriberStatus.ACTIVE
        sms = api.ports.sms
        assert isinstance(sms, FakeSms) and (SENDER, PHONE) not in sms.opted_out

    def test_a_number_that_texted_stop_is_never_resubscribed_by_a_webhook(self, api: Api) -> None:
        customer(api, "subscribed")
        receive_sms(api.ports, InboundSms("in-1", PHONE, SENDER, "STOP", AT + timedelta(minutes=1)))
        assert customer(api, "subscribed") == [webhooks.Handled.DONE]
        post(api, Topic.CUSTOMERS_UPDATE, customer_payload(PHONE, at=AT, consent="subscribed", customer_id=7001))
        deliver(api)
        sub = api.ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and sub.status is SubscriberStatus.OPTED_OUT
        last = api.ports.subscribers.consent_history(SHOP, PHONE)[-1]
        assert (last.action, last.source) == (ConsentAction.OPTED_OUT, ConsentSource.SMS)

    def test_a_subscribed_update_refreshes_the_profile_without_a_new_consent_event(self, api: Api) -> None:
        customer(api, "subscribed", name="Ada Lovelace")
        customer(api, "subscribed", name="Ada King")
        sub = api.ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and sub.name == "Ada King"
        assert len(api.ports.subscribers.consent_history(SHOP, PHONE)) == 1

    def test_a_pending_keyword_signup_is_activated_by_checkout_consent(self, api: Api) -> None:
        receive_sms(api.ports, InboundSms("in-1", PHONE, SENDER, "JOIN", AT))
        customer(api, "subscribed")
        sub = api.ports.subscribers.get(SHOP, PHONE)
        assert sub is not None and sub.status is SubscriberStatus.ACTIVE and sub.customer_id == "7001"


def _campaign(ports: Ports, **extra: Any) -> str:
    body_ = {"name": "Sale", "message": "Hi", "segment_id": "all", **extra}
    return campaigns.create_campaign(ports, SHOP, new_campaign(body_)).campaign_id


class TestUninstalled:
    def test_running_campaigns_end_schedules_go_and_nothing_more_is_sent(self, api: Api) -> None:
        ports = api.ports
        subscribers.add_subscriber(ports, SHOP, add_subscriber({"phone": PHONE, "source": "checkout"}))
        running = _campaign(ports, send_at="now")
        scheduled = _campaign(ports, send_at="2026-12-24T10:00")
        draft = _campaign(ports, draft=True)
        schedules = ports.schedules
        assert isinstance(schedules, FakeSchedules) and start_schedule_name(scheduled) in schedules.schedules

        post(api, Topic.APP_UNINSTALLED, {"id": 1, "domain": SHOP})
        received_at = ports.clock.now()
        assert deliver(api) == [webhooks.Handled.DONE]

        # Ending the running campaign waits out its groups' send leases after the shop was marked.
        assert ports.shops.get(SHOP).uninstalled_at == received_at
        assert campaigns.get_campaign(ports, SHOP, running).status is CampaignStatus.COMPLETED
        assert start_schedule_name(scheduled) not in schedules.schedules
        with pytest.raises(ShopUninstalled):
            campaigns.send_now(ports, SHOP, draft)
        report = send_batch(ports, SendBatch(SHOP, running, (PHONE,)))
        assert report.stopped
        sms = ports.sms
        assert isinstance(sms, FakeSms) and sms.bodies_to(PHONE) == []
        # data is kept until shop/redact
        assert ports.subscribers.get(SHOP, PHONE) is not None

    def test_a_send_now_campaign_over_the_api_is_409(self, api: Api) -> None:
        post(api, Topic.APP_UNINSTALLED, {"id": 1})
        deliver(api)
        campaign = {"name": "Sale", "message": "Hi", "segment_id": "all", "send_at": "now"}
        response = api.call("POST", "/campaigns", body=campaign)
        assert response.status_code == 409 and body(response)["error"]["code"] == "shop_uninstalled"

    def test_replies_and_auto_replies_are_not_sent(self, api: Api) -> None:
        ports = api.ports
        subscribers.add_subscriber(ports, SHOP, add_subscriber({"phone": PHONE, "source": "checkout"}))
        post(api, Topic.APP_UNINSTALLED, {"id": 1})
        deliver(api)
        with pytest.raises(ShopUninstalled):
            inbox.reply(ports, SHOP, PHONE, inbox.ReplyRequest(text="Thanks!"))
        result = receive_sms(ports, InboundSms("in-1", PHONE, SENDER, "HELP", AT))
        assert not result.replied
        sms = ports.sms
        assert isinstance(sms, FakeSms) and sms.bodies_to(PHONE) == []

    def test_a_reply_scheduled_before_the_uninstall_is_cancelled_when_due(self, api: Api) -> None:
        ports = api.ports
        subscribers.add_subscriber(ports, SHOP, add_subscriber({"phone": PHONE, "source": "checkout"}))
        ports.clock.at = datetime(2026, 11, 21, 3, 0, tzinfo=timezone.utc)  # type: ignore[attr-defined]  # 22:00 in NY: quiet
        scheduled = inbox.reply(ports, SHOP, PHONE, inbox.ReplyRequest(text="Later", quiet_hours=inbox.QuietHoursChoice.SCHEDULE))
        assert scheduled.state is ReplyState.SCHEDULED
        post(api, Topic.APP_UNINSTALLED, {"id": 1})
        deliver(api)
        ports.clock.at = datetime(2026, 11, 21, 15, 0, tzinfo=timezone.utc)  # type: ignore[attr-defined]
        inbox.send_scheduled_reply(ports, SendReply(SHOP, PHONE, scheduled.reply_id))
        stored = ports.replies.get(SHOP, PHONE, scheduled.reply_id)
        assert stored is not None and (stored.state, stored.reason) == (ReplyState.CANCELLED, "shop_uninstalled")


class TestPrivacy:
    def _history(self, api: Api) -> None:
        customer(api, "subscribed")
        receive_sms(api.ports, InboundSms("in-1", PHONE, SENDER, "Do you ship to Canada?", AT + timedelta(minutes=1)))

    def test_a_data_request_stores_an_export_of_everything_held(self, api: Api) -> None:
        self._history(api)
        payload = {"shop_id": 1, "shop_domain": SHOP, "customer": {"id": 7001, "phone": PHONE}, "data_request": {"id": 9999}}
        post(api, Topic.CUSTOMERS_DATA_REQUEST, payload)
        deliver(api)
        export = api.ports.exports.get(SHOP, "dr_9999")
        assert export is not None and export.phone == PHONE
        data = export.data
        assert data["subscriber"]["customer_id"] == "7001"  # type: ignore[index]
        assert [e["action"] for e in data["consent_history"]] == ["opted_in"]  # type: ignore[attr-defined]
        assert [m["body"] for m in data["messages"]] == ["Do you ship to Canada?"]  # type: ignore[attr-defined]
        assert data["conversation"] is not None

    def test_a_data_request_finds_the_person_by_customer_id_alone(self, api: Api) -> None:
        self._history(api)
        payload = {"shop_domain": SHOP, "customer": {"id": 7001, "phone": None}, "data_request": {"id": 5}}
        post(api, Topic.CUSTOMERS_DATA_REQUEST, payload)
        deliver(api)
        export = api.ports.exports.get(SHOP, "dr_5")
        assert export is not None and export.phone == PHONE

    def test_redact_erases_every_store_and_keeps_only_a_hash(self, api: Api) -> None:
        self._history(api)
        post(api, Topic.CUSTOMERS_DATA_REQUEST, {"customer": {"id": 7001, "phone": PHONE}, "data_request": {"id": 1}})
        post(api, Topic.CUSTOMERS_REDACT, {"shop_domain": SHOP, "customer": {"id": 7001, "phone": PHONE}, "orders_to_redact": []})
        deliver(api)
        for store in api.ports.personal_data:
            exported = store.export(SHOP, PHONE)
            assert all(value in (None, []) for value in exported.values()), exported
        assert api.ports.subscribers.get(SHOP, PHONE) is None
        assert api.ports.inbox.unresolved_count(SHOP) == 0
        suppressions = api.ports.suppressions
        assert suppressions.contains(SHOP, PHONE)
        assert PHONE not in repr(vars(suppressions)) and suppression_hash(SHOP, PHONE) in repr(vars(suppressions))

    def test_a_redacted_number_is_never_added_or_subscribed_again(self, api: Api) -> None:
        self._history(api)
        post(api, Topic.CUSTOMERS_REDACT, {"customer": {"id": 7001, "phone": PHONE}})
        deliver(api)
        with pytest.raises(ConsentRequired):
            subscribers.add_subscriber(api.ports, SHOP, add_subscriber({"phone": PHONE, "source": "import"}))
        response = api.call("POST", "/subscribers", body={"phone": PHONE, "source": "api"})
        assert response.status_code == 409 and body(response)["error"]["code"] == "suppressed"
        customer(api, "subscribed")
        receive_sms(api.ports, InboundSms("in-9", PHONE, SENDER, "JOIN", AT + timedelta(hours=1)))
        receive_sms(api.ports, InboundSms("in-10", PHONE, SENDER, "Y", AT + timedelta(hours=2)))
        sub = api.ports.subscribers.get(SHOP, PHONE)
        assert sub is None or sub.status is not SubscriberStatus.ACTIVE
        sms = api.ports.sms
        assert isinstance(sms, FakeSms) and not any("confirm" in b for b in sms.bodies_to(PHONE))

    def test_shop_redact_erases_the_shop(self, api: Api) -> None:
        self._history(api)
        post(api, Topic.SHOP_REDACT, {"shop_id": 1, "shop_domain": SHOP})
        deliver(api)
        assert api.ports.subscribers.page(SHOP).items == []
        assert api.ports.conversations.thread(SHOP, PHONE).items == []
        with pytest.raises(Exception, match="no shop"):
            api.ports.shops.get(SHOP)


class TestOrders:
    def test_an_order_reaches_attribution_with_the_phone_resolved_and_its_cancellation_takes_it_out(
        self, api: Api
    ) -> None:
        customer(api, "subscribed", customer_id=7001)
        placed = order_payload(None, "42.50", at=AT, codes=["save10"], order_id=555, customer_id=7001)
        post(api, Topic.ORDERS_CREATE, placed)
        assert deliver(api) == [webhooks.Handled.DONE]
        stored = api.ports.orders.get(SHOP, "555")
        assert stored is not None and not stored.cancelled
        order = stored.order
        assert (order.total, order.currency, order.phone, order.discount_codes, order.at) == (
            4250,
            "USD",
            PHONE,  # from the checkout subscriber with customer id 7001: the payload has no phone
            ("SAVE10",),
            AT,
        )
        subscriber = api.ports.subscribers.get(SHOP, PHONE)
        assert subscriber is not None and subscriber.orders_count == 1

        # The same order under another webhook id (a second subscription, a resend) counts nothing more.
        post(api, Topic.ORDERS_CREATE, placed, webhook_id="wh-order-again")
        assert deliver(api) == [webhooks.Handled.DONE]
        again = api.ports.subscribers.get(SHOP, PHONE)
        assert again is not None and again.orders_count == 1

        cancelled = order_payload(None, "42.50", at=AT, order_id=555, customer_id=7001, cancelled_at=AT + timedelta(hours=1))
        post(api, Topic.ORDERS_CANCELLED, cancelled)
        assert deliver(api) == [webhooks.Handled.DONE]
        gone = api.ports.orders.get(SHOP, "555")
        assert gone is not None and gone.cancelled
        after = api.ports.subscribers.get(SHOP, PHONE)
        assert after is not None and after.orders_count == 0

    def test_an_order_with_a_bad_total_is_dropped(self, api: Api) -> None:
        post(api, Topic.ORDERS_CREATE, order_payload(PHONE, "42.505", at=AT))
        assert deliver(api) == [webhooks.Handled.DROPPED]


def test_the_queue_message_round_trips() -> None:
    webhook = Webhook(SHOP, Topic.SHOP_REDACT, "wh-1", '{"a": 1}', AT)
    assert Webhook.from_json(json.loads(json.dumps(webhook.to_json()))) == webhook
    with pytest.raises(ValueError):
        Webhook.from_json({"shop_id": SHOP})


class TestPrivacyExportApi:
    def test_the_merchant_fetches_the_export_and_another_shop_cannot(self, api: Api) -> None:
        customer(api, "subscribed")
        post(api, Topic.CUSTOMERS_DATA_REQUEST, {"customer": {"id": 7001, "phone": PHONE}, "data_request": {"id": 31}})
        deliver(api)
        got = api.call("GET", "/privacy/exports/dr_31")
        assert got.status_code == 200
        assert body(got)["phone"] == PHONE and body(got)["data"]["subscriber"]["customer_id"] == "7001"
        assert api.call("GET", "/privacy/exports/dr_31", shop="other").status_code == 404
        assert body(api.call("GET", "/privacy/exports/dr_nope"))["error"]["code"] == "export_not_found"


class TestLargeWebhooks:
    def big_order(self, items: int) -> dict[str, Any]:
        payload = order_payload(PHONE, "42.50", at=AT, order_id=77, codes=["SAVE10"])
        line = {"title": 'Très long "quoted" title ' * 20, "properties": [{"name": "note", "value": "x" * 200}]}
        payload["line_items"] = [{**line, "id": i} for i in range(items)]
        return payload

    def test_an_order_too_big_for_the_queue_is_cut_down_to_what_is_read(self, api: Api) -> None:
        payload = self.big_order(400)
        assert 256 * 1024 < len(json.dumps(payload)) < 1024 * 1024
        response = post(api, Topic.ORDERS_CREATE, payload)
        assert response.status_code == 200 and body(response) == {"outcome": "queued"}
        (queued,) = queue(api).webhooks
        assert len(json.dumps(queued.to_json())) < 256 * 1024
        assert "line_items" not in json.loads(queued.body)
        assert deliver(api) == [webhooks.Handled.DONE]
        stored = api.ports.orders.get(SHOP, "77")
        assert stored is not None
        order = stored.order
        assert (order.order_id, order.total, order.phone, order.discount_codes) == ("77", 4250, PHONE, ("SAVE10",))

    def test_a_small_webhook_is_queued_exactly_as_received(self, api: Api) -> None:
        payload = self.big_order(3)
        post(api, Topic.ORDERS_CREATE, payload)
        (queued,) = queue(api).webhooks
        assert queued.body == json.dumps(payload)

    def test_over_a_mebibyte_is_413_but_only_once_signed(self, api: Api) -> None:
        payload = self.big_order(1500)
        assert len(json.dumps(payload)) > 1024 * 1024
        assert post(api, Topic.ORDERS_CREATE, payload).status_code == 413
        assert post(api, Topic.ORDERS_CREATE, payload, secret="wrong").status_code == 401
        assert queue(api).webhooks == []


class RefusingOptOutRemoval(FakeSms):
    """AWS lets a number leave the opt-out list once per 30 days."""

    def remove_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        raise ProviderRejected("opt-out removal refused", code="opt_out_removal_refused")


def test_a_refused_opt_out_list_removal_does_not_fail_the_webhook(api: Api) -> None:
    customer(api, "subscribed")
    customer(api, "unsubscribed")
    api.ports.sms = RefusingOptOutRemoval(api.ports.clock)  # type: ignore[arg-type]
    assert customer(api, "subscribed") == [webhooks.Handled.DONE]
    sub = api.ports.subscribers.get(SHOP, PHONE)
    assert sub is not None and sub.status is SubscriberStatus.ACTIVE


def test_a_webhook_queued_before_shop_redact_is_dropped_after_it(api: Api) -> None:
    post(api, Topic.CUSTOMERS_CREATE, customer_payload(PHONE, at=AT))
    post(api, Topic.SHOP_REDACT, {"shop_domain": SHOP})
    late, redact = list(queue(api).webhooks)
    queue(api).webhooks.clear()
    assert webhooks.handle(api.ports, redact) is webhooks.Handled.DONE
    assert webhooks.handle(api.ports, late) is webhooks.Handled.DROPPED
    assert api.ports.subscribers.get(SHOP, PHONE) is None
    assert webhooks.handle(api.ports, Webhook(SHOP, Topic.SHOP_REDACT, "again", "{}", AT)) is webhooks.Handled.DONE
