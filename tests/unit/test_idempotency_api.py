"""Idempotency-Key on POST /campaigns and POST /inbox/{phone}/replies (Chalice test client, fakes)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain.errors import TransientError
from chalicelib.domain.messages import InboundSms, MessageKind, OutboundSms
from chalicelib.services.inbound import receive_sms
from tests.engine import Engine
from tests.fakes import TINY_PNG, FakeMedia, FakeSms, FrozenClock
from tests.unit.conftest import Api, body

NY = "+12125551234"
REPLIES = "/inbox/%2B12125551234/replies"
IMAGE = "https://cdn.example.com/sale.png"
SEND_NOW = {"name": "Flash sale", "message": "20% off today", "segment_id": "all", "send_at": "now"}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def code(response: Any) -> str:
    return str(body(response)["error"]["code"])


def sms(api: Api) -> FakeSms:
    assert isinstance(api.ports.sms, FakeSms)
    return api.ports.sms


def media(api: Api) -> FakeMedia:
    assert isinstance(api.ports.media, FakeMedia)
    return api.ports.media


def clock(api: Api) -> FrozenClock:
    assert isinstance(api.ports.clock, FrozenClock)
    return api.ports.clock


def campaign_ids(api: Api, shop: str = "demo") -> list[str]:
    return [c["id"] for c in body(api.call("GET", "/campaigns", shop=shop))["items"]]


@pytest.fixture
def subscriber(api: Api) -> Api:
    """One active subscriber who wrote in, so there is a conversation to reply to and an audience of one."""
    assert api.call("POST", "/subscribers", body={"phone": NY, "source": "checkout"}).status_code == 201
    receive_sms(api.ports, InboundSms("in-1", NY, "+15550100000", "Still open?", clock(api).now()))
    return api


class TestCampaignSendNow:
    def test_double_click_creates_and_sends_one_campaign(self, subscriber: Api) -> None:
        api = subscriber
        first = api.call("POST", "/campaigns", body=SEND_NOW, headers=key("click-1"))
        again = api.call("POST", "/campaigns", body=SEND_NOW, headers=key("click-1"))
        assert first.status_code == again.status_code == 201
        assert body(again) == body(first) and body(first)["status"] == "in_progress"
        assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
        assert campaign_ids(api) == [body(first)["id"]]
        Engine(api.ports).run()
        assert len(sms(api).sent) == len(sms(api).bodies_to(NY)) == 1  # one subscriber, one message

    def test_same_body_with_other_whitespace_is_the_same_request(self, api: Api) -> None:
        first = api.call("POST", "/campaigns", body=SEND_NOW, headers=key("k"))
        spaced = b'{ "send_at": "now", "segment_id": "all", "message": "20% off today", "name": "Flash sale" }'
        again = api.call("POST", "/campaigns", raw=spaced, headers=key("k"))
        assert again.status_code == 201 and body(again) == body(first) and len(campaign_ids(api)) == 1

    def test_without_a_key_each_request_runs(self, api: Api) -> None:
        api.call("POST", "/campaigns", body=SEND_NOW)
        api.call("POST", "/campaigns", body=SEND_NOW)
        assert len(campaign_ids(api)) == 2

    def test_same_key_other_body_is_422_and_creates_nothing(self, api: Api) -> None:
        api.call("POST", "/campaigns", body=SEND_NOW, headers=key("k"))
        reused = api.call("POST", "/campaigns", body={**SEND_NOW, "message": "30% off"}, headers=key("k"))
        assert reused.status_code == 422 and code(reused) == "idempotency_key_reused"
        assert len(campaign_ids(api)) == 1

    def test_same_key_from_another_shop_is_independent(self, api: Api) -> None:
        mine = api.call("POST", "/campaigns", body=SEND_NOW, headers=key("k"))
        theirs = api.call("POST", "/campaigns", shop="other", body=SEND_NOW, headers=key("k"))
        assert mine.status_code == theirs.status_code == 201 and body(mine)["id"] != body(theirs)["id"]
        assert "Idempotent-Replayed" not in theirs.headers
        assert len(campaign_ids(api)) == len(campaign_ids(api, "other")) == 1

    def test_failed_request_is_not_kept_and_its_retry_runs(self, api: Api) -> None:
        with_image = {**SEND_NOW, "media_url": IMAGE}
        down = api.call("POST", "/campaigns", body=with_image, headers=key("k"))
        assert down.status_code == 400 and code(down) == "media_unreachable"
        assert api.idempotency.records == {}  # the failure gave the key back
        media(api).serve(IMAGE, TINY_PNG)  # the image host is back
        retried = api.call("POST", "/campaigns", body=with_image, headers=key("k"))
        assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
        assert campaign_ids(api) == [body(retried)["id"]]

    def test_key_expires_after_24_hours(self, api: Api) -> None:
        draft = {**SEND_NOW, "send_at": None, "draft": True}
        draft = {k: v for k, v in draft.items() if v is not None}
        first = api.call("POST", "/campaigns", body=draft, headers=key("k"))
        clock(api).advance(hours=23, minutes=59)
        assert body(api.call("POST", "/campaigns", body=draft, headers=key("k")))["id"] == body(first)["id"]
        clock(api).advance(minutes=2)
        later = api.call("POST", "/campaigns", body=draft, headers=key("k"))
        assert later.status_code == 201 and body(later)["id"] != body(first)["id"] and len(campaign_ids(api)) == 2

    @pytest.mark.parametrize("bad", ["", "x" * 256, "caf\u00e9", "tab\there"])
    def test_bad_key_is_400_and_creates_nothing(self, api: Api, bad: str) -> None:
        response = api.call("POST", "/campaigns", body=SEND_NOW, headers={"Idempotency-Key": bad})
        assert response.status_code == 400 and code(response) == "invalid_idempotency_key"
        assert campaign_ids(api) == []

    def test_longest_key_is_accepted(self, api: Api) -> None:
        assert api.call("POST", "/campaigns", body=SEND_NOW, headers=key("~" * 255)).status_code == 201


class TestReply:
    def test_retried_reply_is_sent_once(self, subscriber: Api) -> None:
        api = subscriber
        first = api.call("POST", REPLIES, body={"text": "Yes, until 6pm"}, headers=key("r-1"))
        again = api.call("POST", REPLIES, body={"text": "Yes, until 6pm"}, headers=key("r-1"))
        assert first.status_code == again.status_code == 201 and body(again) == body(first)
        assert sms(api).bodies_to(NY) == ["Yes, until 6pm"]

    def test_same_key_on_another_route_is_independent(self, subscriber: Api) -> None:
        api = subscriber
        assert api.call("POST", "/campaigns", body={**SEND_NOW, "draft": True}, headers=key("shared")).status_code == 201
        reply = api.call("POST", REPLIES, body={"text": "Hello"}, headers=key("shared"))
        assert reply.status_code == 201 and sms(api).bodies_to(NY) == ["Hello"]

    def test_same_key_to_another_phone_is_reused(self, subscriber: Api) -> None:
        api = subscriber
        api.call("POST", REPLIES, body={"text": "Hello"}, headers=key("k"))
        other = api.call("POST", "/inbox/%2B13125550100/replies", body={"text": "Hello"}, headers=key("k"))
        assert other.status_code == 422 and code(other) == "idempotency_key_reused"

    def test_refused_in_quiet_hours_then_retried_in_the_morning_runs_again(self, subscriber: Api) -> None:
        api = subscriber
        clock(api).at = datetime(2026, 11, 21, 3, 0, tzinfo=timezone.utc)  # 22:00 in New York
        night = api.call("POST", REPLIES, body={"text": "Open at 9"}, headers=key("k"))
        assert night.status_code == 409 and code(night) == "quiet_hours"
        clock(api).at += timedelta(hours=12)  # 10:00 in New York
        morning = api.call("POST", REPLIES, body={"text": "Open at 9"}, headers=key("k"))
        assert morning.status_code == 201 and "Idempotent-Replayed" not in morning.headers
        assert sms(api).bodies_to(NY) == ["Open at 9"]

    def test_duplicate_while_the_first_is_sending_is_409(self, subscriber: Api) -> None:
        api = subscriber
        during: list[Any] = []

        def double_click(_: OutboundSms) -> None:
            sms(api).on_send = None
            during.append(api.call("POST", REPLIES, body={"text": "Hi"}, headers=key("k")))

        sms(api).on_send = double_click
        first = api.call("POST", REPLIES, body={"text": "Hi"}, headers=key("k"))
        assert first.status_code == 201
        assert [(r.status_code, code(r)) for r in during] == [(409, "request_in_progress")]
        assert sms(api).bodies_to(NY) == ["Hi"]


class FailsOnce:
    """A port whose ``method`` raises TransientError the first time it is called (a busy table)."""

    def __init__(self, inner: Any, method: str) -> None:
        self.inner, self.method, self.failed = inner, method, False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name != self.method or self.failed:
            return attribute

        def fail(*args: Any, **kwargs: Any) -> Any:
            self.failed = True
            raise TransientError(f"{name} failed: the table is busy")

        return fail


def thread_replies(api: Api) -> list[str]:
    return [m.body for m in api.ports.conversations.thread("demo.myshopify.com", NY).items if m.kind is MessageKind.REPLY]


def conversation_status(api: Api) -> str:
    conversation = api.ports.inbox.get("demo.myshopify.com", NY)
    assert conversation is not None
    return conversation.status.value


class TestReplyAfterALaterStepFailed:
    """The SMS went out, then a step after it failed: the retry with the same key finishes, never resends."""

    @pytest.mark.parametrize(("port", "method"), [("inbox", "save"), ("conversations", "append")])
    def test_retry_finishes_the_steps_after_the_send_and_answers_the_reply(self, subscriber: Api, port: str, method: str) -> None:
        api = subscriber
        setattr(api.ports, port, FailsOnce(getattr(api.ports, port), method))
        first = api.call("POST", REPLIES, body={"text": "Yes, until 6pm"}, headers=key("r-1"))
        assert first.status_code == 503 and sms(api).bodies_to(NY) == ["Yes, until 6pm"]
        clock(api).advance(seconds=3)
        again = api.call("POST", REPLIES, body={"text": "Yes, until 6pm"}, headers=key("r-1"))
        assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
        reply = body(again)
        assert reply["state"] == "sent" and reply["text"] == "Yes, until 6pm"
        stored = api.ports.replies.get("demo.myshopify.com", NY, reply["id"])
        assert stored is not None and stored.provider_message_id == sms(api).sent[0].receipt.provider_message_id
        assert sms(api).bodies_to(NY) == ["Yes, until 6pm"]  # sent once
        assert thread_replies(api) == ["Yes, until 6pm"]  # one line, at the time it was sent
        assert conversation_status(api) == "resolved"
        # and from now on the finished answer is replayed
        third = api.call("POST", REPLIES, body={"text": "Yes, until 6pm"}, headers=key("r-1"))
        assert third.status_code == 201 and third.headers.get("Idempotent-Replayed") == "true" and body(third) == reply

    def test_recording_the_outcome_failed_so_the_retry_cannot_know_and_never_resends(self, subscriber: Api) -> None:
        api = subscriber
        api.ports.replies = FailsOnce(api.ports.replies, "settle")
        first = api.call("POST", REPLIES, body={"text": "Hi"}, headers=key("r-1"))
        assert first.status_code == 503 and sms(api).bodies_to(NY) == ["Hi"]
        for _ in range(2):
            again = api.call("POST", REPLIES, body={"text": "Hi"}, headers=key("r-1"))
            assert again.status_code == 502 and code(again) == "reply_interrupted"
        assert sms(api).bodies_to(NY) == ["Hi"]
        [stored] = api.ports.replies.pending("demo.myshopify.com", NY) or [None]
        assert stored is None  # settled as failed (interrupted), not left waiting as "scheduled"

    def test_throttled_reply_is_sent_by_the_retry_with_the_same_key(self, subscriber: Api) -> None:
        api = subscriber
        sms(api).throttle_next = 1
        first = api.call("POST", REPLIES, body={"text": "Hi"}, headers=key("r-1"))
        assert first.status_code == 503 and sms(api).sent == []
        again = api.call("POST", REPLIES, body={"text": "Hi"}, headers=key("r-1"))
        assert again.status_code == 201 and body(again)["state"] == "sent" and sms(api).bodies_to(NY) == ["Hi"]

    def test_throttled_reply_without_a_key_does_not_wait_forever(self, subscriber: Api) -> None:
        api = subscriber
        sms(api).throttle_next = 1
        assert api.call("POST", REPLIES, body={"text": "Hi"}).status_code == 503
        assert api.ports.replies.pending("demo.myshopify.com", NY) == []

    def test_another_key_is_another_reply(self, subscriber: Api) -> None:
        api = subscriber
        one = api.call("POST", REPLIES, body={"text": "Hi"}, headers=key("a"))
        two = api.call("POST", REPLIES, body={"text": "Hi"}, headers=key("b"))
        assert one.status_code == two.status_code == 201 and body(one)["id"] != body(two)["id"]
        assert sms(api).bodies_to(NY) == ["Hi", "Hi"]

    def test_a_scheduled_reply_whose_request_failed_is_armed_once_by_the_retry(self, subscriber: Api) -> None:
        api = subscriber
        clock(api).at = datetime(2026, 11, 21, 3, 0, tzinfo=timezone.utc)  # 22:00 in New York
        schedules = api.ports.schedules
        api.ports.schedules = FailsOnce(schedules, "at")
        request = {"text": "Open at 9", "quiet_hours": "schedule"}
        assert api.call("POST", REPLIES, body=request, headers=key("s")).status_code == 503
        api.ports.schedules = schedules
        again = api.call("POST", REPLIES, body=request, headers=key("s"))
        assert again.status_code == 202 and body(again)["state"] == "scheduled"
        assert len(api.ports.replies.pending("demo.myshopify.com", NY)) == 1
        Engine(api.ports).run_until(datetime(2026, 11, 21, 15, 0, tzinfo=timezone.utc))
        assert sms(api).bodies_to(NY) == ["Open at 9"]
