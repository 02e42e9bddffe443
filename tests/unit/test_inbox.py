"""The Inbox on fakes: grouping, statuses, the unresolved count, replies in and out of quiet hours."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.api.http import parse
from chalicelib.api.models.inbox import InboxQuery
from chalicelib.domain.errors import ConsentRequired, InvalidInput, NotFound
from chalicelib.domain.inbox import ConversationStatus, ReplyState
from chalicelib.domain.messages import Direction, InboundSms, MessageKind
from chalicelib.domain.subscribers import ConsentSource
from chalicelib.services import campaigns, inbox, subscribers
from chalicelib.services.inbound import receive_sms
from chalicelib.services.ports import Ports
from tests.commands import add_subscriber, new_campaign, reply_request
from tests.engine import Engine
from tests.fakes import FakeInbox, FakeMedia, FakeSms, FrozenClock, fake_ports
from tests.numbers import create_shop

SHOP = "demo.myshopify.com"
SENDER = "+15550100000"
NY = "+12125551234"
# Friday 15:00 UTC = 10:00 New York (awake); 03:00 UTC = 22:00 New York (quiet)
DAY = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
NIGHT = datetime(2026, 11, 20, 3, 0, tzinfo=timezone.utc)
_ids = iter(range(100_000))


def make_ports(at: datetime = DAY) -> Ports:
    ports = fake_ports(FrozenClock(at))
    create_shop(ports, shop_id=SHOP, settings={"shop_name": "Demo"}, numbers={SENDER: 50})
    return ports


def join(ports: Ports, phone: str = NY, name: str | None = None) -> None:
    body: dict[str, object] = {"phone": phone, "source": "checkout"}
    if name:
        body["name"] = name
    subscribers.add_subscriber(ports, SHOP, add_subscriber(body))


def text(ports: Ports, body: str, phone: str = NY, *, message_id: str | None = None, at: datetime | None = None) -> None:
    receive_sms(ports, InboundSms(message_id or f"in-{next(_ids)}", phone, SENDER, body, at or ports.clock.now()))


def tick(ports: Ports, seconds: float = 1) -> None:
    assert isinstance(ports.clock, FrozenClock)
    ports.clock.advance(seconds=seconds)


def status(ports: Ports, phone: str = NY) -> ConversationStatus:
    conversation = ports.inbox.get(SHOP, phone)
    assert conversation is not None
    return conversation.status


def sms(ports: Ports) -> FakeSms:
    assert isinstance(ports.sms, FakeSms)
    return ports.sms


def reply_texts(ports: Ports) -> list[str]:
    return [s.sms.body for s in sms(ports).sent if s.sms.kind is MessageKind.REPLY]


class TestConversations:
    def test_spellings_of_one_number_share_one_thread_in_time_order(self) -> None:
        ports = make_ports()
        join(ports, name="Ada Lovelace")
        command = new_campaign({"name": "S", "message": "Sale today", "segment_id": "all", "send_at": "now"})
        campaigns.create_campaign(ports, SHOP, command)
        Engine(ports).run()
        tick(ports)
        text(ports, "Is it on shoes too?", phone="+1 (212) 555-1234")
        tick(ports)
        text(ports, "and socks?", phone="2125551234")
        tick(ports)
        inbox.reply(ports, SHOP, "%2B12125551234", reply_request({"text": "Yes, both!"}))
        view = inbox.thread(ports, SHOP, "212-555-1234")
        lines = [(m.direction, m.kind, m.body.splitlines()[0]) for m in view.messages.items]
        assert lines == [
            (Direction.OUTBOUND, MessageKind.CAMPAIGN, "Sale today"),
            (Direction.INBOUND, None, "Is it on shoes too?"),
            (Direction.INBOUND, None, "and socks?"),
            (Direction.OUTBOUND, MessageKind.REPLY, "Yes, both!"),
        ]
        assert view.subscriber.name == "Ada Lovelace" and view.conversation.status is ConversationStatus.RESOLVED

    def test_keyword_exchange_is_not_a_conversation(self) -> None:
        ports = make_ports()
        text(ports, "JOIN", phone="+13125550100")
        text(ports, "Y", phone="+13125550100")
        text(ports, "HELP", phone="+13125550100")
        assert ports.inbox.get(SHOP, "+13125550100") is None
        assert inbox.unresolved_count(ports, SHOP) == 0

    def test_duplicate_inbound_is_one_line_and_counts_once(self) -> None:
        ports = make_ports()
        join(ports)
        for _ in range(3):
            text(ports, "hello?", message_id="dup-1")
        inbound = [m for m in inbox.thread(ports, SHOP, NY).messages.items if m.direction is Direction.INBOUND]
        assert len(inbound) == 1 and inbox.unresolved_count(ports, SHOP) == 1

    def test_subscriber_card_shows_quiet_hours_until(self) -> None:
        ports = make_ports(NIGHT)
        join(ports)
        text(ports, "hi")
        view = inbox.thread(ports, SHOP, NY)
        assert view.quiet.quiet and view.quiet.until == datetime(2026, 11, 20, 14, 0, tzinfo=timezone.utc)

    def test_unknown_number_thread_is_404(self) -> None:
        with pytest.raises(NotFound):
            inbox.thread(make_ports(), SHOP, NY)


class TestStatuses:
    def test_every_transition(self) -> None:
        ports = make_ports()
        join(ports)
        text(ports, "question")
        assert status(ports) is ConversationStatus.UNRESOLVED and inbox.unresolved_count(ports, SHOP) == 1
        tick(ports)
        inbox.reply(ports, SHOP, NY, reply_request({"text": "answer"}))
        assert status(ports) is ConversationStatus.RESOLVED and inbox.unresolved_count(ports, SHOP) == 0
        tick(ports)
        text(ports, "follow-up")
        assert status(ports) is ConversationStatus.UNRESOLVED
        inbox.resolve(ports, SHOP, NY)
        assert status(ports) is ConversationStatus.RESOLVED
        inbox.unresolve(ports, SHOP, NY)
        assert status(ports) is ConversationStatus.UNRESOLVED and inbox.unresolved_count(ports, SHOP) == 1
        tick(ports)
        text(ports, "STOP")
        assert status(ports) is ConversationStatus.OPTED_OUT and inbox.unresolved_count(ports, SHOP) == 0
        with pytest.raises(campaigns.Conflict):
            inbox.resolve(ports, SHOP, NY)
        tick(ports)
        text(ports, "START")
        assert status(ports) is ConversationStatus.UNRESOLVED  # what it needed before the STOP
        assert inbox.unresolved_count(ports, SHOP) == 1

    def test_stop_on_a_resolved_conversation_does_not_reopen_it_after_start(self) -> None:
        ports = make_ports()
        join(ports)
        text(ports, "question")
        tick(ports)
        inbox.reply(ports, SHOP, NY, reply_request({"text": "answer"}))
        tick(ports)
        text(ports, "STOP")
        assert status(ports) is ConversationStatus.OPTED_OUT
        assert ports.inbox.get(SHOP, NY).last_message == "STOP"  # type: ignore[union-attr]
        tick(ports)
        text(ports, "START")
        assert status(ports) is ConversationStatus.RESOLVED and inbox.unresolved_count(ports, SHOP) == 0

    def test_stop_from_someone_who_never_wrote_lists_under_opted_out(self) -> None:
        ports = make_ports()
        join(ports)
        text(ports, "stop")
        assert status(ports) is ConversationStatus.OPTED_OUT and inbox.unresolved_count(ports, SHOP) == 0

    def test_inbox_opt_out_records_the_merchant(self) -> None:
        ports = make_ports()
        join(ports)
        text(ports, "please stop texting me at work")
        inbox.opt_out(ports, SHOP, NY)
        assert status(ports) is ConversationStatus.OPTED_OUT
        assert ports.subscribers.consent_history(SHOP, NY)[-1].source is ConsentSource.MERCHANT
        assert inbox.unresolved_count(ports, SHOP) == 0

    def test_lists_by_status_newest_first_with_pages(self) -> None:
        ports = make_ports()
        phones = [f"+1212555{n:04d}" for n in range(2000, 2007)]
        for phone in phones:
            join(ports, phone)
            tick(ports)
            text(ports, "hi", phone=phone)
        inbox.resolve(ports, SHOP, phones[0])
        seen, cursor = [], None
        while True:
            page = inbox.list_conversations(ports, SHOP, status=ConversationStatus.UNRESOLVED, limit=2, cursor=cursor)
            seen += [c.phone for c in page.items]
            if page.cursor is None:
                break
            cursor = page.cursor
        assert seen == list(reversed(phones[1:]))
        resolved = inbox.list_conversations(ports, SHOP, status=ConversationStatus.RESOLVED, limit=50, cursor=None)
        assert [c.phone for c in resolved.items] == [phones[0]]
        with pytest.raises(InvalidInput):
            parse(InboxQuery, {"status": "archived"})


class TestReplies:
    def test_reply_racing_a_new_inbound_keeps_the_conversation_open(self) -> None:
        ports = make_ports()
        join(ports)
        text(ports, "first question")
        tick(ports)

        def new_message_while_sending(_: object) -> None:
            tick(ports)
            text(ports, "second question")  # arrives after the merchant began the reply

        sms(ports).on_send = new_message_while_sending
        inbox.reply(ports, SHOP, NY, reply_request({"text": "answer to the first"}))
        assert status(ports) is ConversationStatus.UNRESOLVED
        assert inbox.unresolved_count(ports, SHOP) == 1

    def test_reply_to_opted_out_is_refused(self) -> None:
        ports = make_ports()
        join(ports)
        text(ports, "STOP")
        with pytest.raises(ConsentRequired):
            inbox.reply(ports, SHOP, NY, reply_request({"text": "sorry to see you go"}))
        assert reply_texts(ports) == []

    def test_discount_code_is_appended(self) -> None:
        ports = make_ports()
        join(ports)
        inbox.reply(ports, SHOP, NY, reply_request({"text": "Here you go", "discount_code": "thanks10"}))
        assert reply_texts(ports) == ["Here you go\nUse code THANKS10 at checkout."]

    @pytest.mark.parametrize(
        "body, code",
        [
            ({"text": ""}, "invalid_text"),
            ({"text": "x" * 1601}, "message_too_long"),
            ({"text": "hi", "discount_code": "no spaces"}, "invalid_discount_code"),
            ({"text": "hi", "quiet_hours": "later"}, "invalid_quiet_hours"),
            ({"text": "hi", "media_url": 7}, "invalid_media_url"),
            ({"text": "hi", "sender": "x"}, "unknown_field"),
        ],
    )
    def test_bad_replies_are_refused_and_send_nothing(self, body: dict[str, object], code: str) -> None:
        ports = make_ports()
        join(ports)
        with pytest.raises(InvalidInput) as caught:
            inbox.reply(ports, SHOP, NY, reply_request(body))
        assert caught.value.code == code and reply_texts(ports) == []

    def test_quiet_hours_ask_answers_409_with_the_opening(self) -> None:
        ports = make_ports(NIGHT)
        join(ports)
        with pytest.raises(inbox.QuietHoursConflict) as caught:
            inbox.reply(ports, SHOP, NY, reply_request({"text": "late answer"}))
        assert caught.value.details["opens_at"] == "2026-11-20T14:00:00Z"
        assert reply_texts(ports) == []

    def test_send_now_overrides_quiet_hours_for_a_reply(self) -> None:
        ports = make_ports(NIGHT)
        join(ports)
        sent = inbox.reply(ports, SHOP, NY, reply_request({"text": "late answer", "quiet_hours": "send_now"}))
        assert sent.state is ReplyState.SENT and reply_texts(ports) == ["late answer"]

    def test_scheduled_reply_goes_out_when_the_window_opens(self) -> None:
        ports = make_ports(NIGHT)
        join(ports)
        text(ports, "are you open tomorrow?")
        scheduled = inbox.reply(ports, SHOP, NY, reply_request({"text": "Yes, from 9!", "quiet_hours": "schedule"}))
        assert scheduled.state is ReplyState.SCHEDULED and scheduled.send_at == datetime(2026, 11, 20, 14, 0, tzinfo=timezone.utc)
        assert status(ports) is ConversationStatus.RESOLVED
        engine = Engine(ports)
        engine.run_until(datetime(2026, 11, 20, 13, 59, tzinfo=timezone.utc))
        assert reply_texts(ports) == []
        engine.run_until(datetime(2026, 11, 20, 14, 5, tzinfo=timezone.utc))
        assert reply_texts(ports) == ["Yes, from 9!"]
        [sent] = [s for s in sms(ports).sent if s.sms.kind is MessageKind.REPLY]
        assert sent.at == datetime(2026, 11, 20, 14, 0, tzinfo=timezone.utc)
        view = inbox.thread(ports, SHOP, NY)
        assert view.messages.items[-1].body == "Yes, from 9!" and view.scheduled == []
        assert view.conversation.status is ConversationStatus.RESOLVED

    def test_scheduled_reply_is_cancelled_by_stop(self) -> None:
        ports = make_ports(NIGHT)
        join(ports)
        scheduled = inbox.reply(ports, SHOP, NY, reply_request({"text": "Tomorrow then", "quiet_hours": "schedule"}))
        tick(ports, 60)
        text(ports, "STOP")
        Engine(ports).run_until(datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc))
        assert reply_texts(ports) == []
        stored = ports.replies.get(SHOP, NY, scheduled.reply_id)
        assert stored is not None and (stored.state, stored.reason) == (ReplyState.CANCELLED, "opted_out")

    def test_scheduled_reply_fired_twice_sends_once(self) -> None:
        ports = make_ports(NIGHT)
        join(ports)
        inbox.reply(ports, SHOP, NY, reply_request({"text": "Once only", "quiet_hours": "schedule"}))
        Engine(ports, duplicate_every_message=True).run_until(datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc))
        assert reply_texts(ports) == ["Once only"]


class TestUnresolvedCounter:
    def test_counter_never_drifts_under_concurrent_inbound_replies_and_clicks(self) -> None:
        ports = make_ports()
        phones = [f"+1212555{n:04d}" for n in range(3000, 3006)]
        for phone in phones:
            join(ports, phone)
        rng = random.Random(7)
        errors: list[BaseException] = []

        def worker(seed: int) -> None:
            local = random.Random(seed)
            try:
                for _ in range(40):
                    phone = local.choice(phones)
                    action = local.choice(["text", "reply", "resolve", "unresolve"])
                    if action == "text":
                        text(ports, "hey", phone=phone, at=ports.clock.now() + timedelta(microseconds=local.randrange(10**6)))
                    elif action == "reply":
                        inbox.reply(ports, SHOP, phone, reply_request({"text": "hi"}))
                    elif action == "resolve":
                        inbox.resolve(ports, SHOP, phone)
                    else:
                        inbox.unresolve(ports, SHOP, phone)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(rng.random(),)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert isinstance(ports.inbox, FakeInbox)
        actual = sum(1 for c in ports.inbox.rows.values() if c.status is ConversationStatus.UNRESOLVED)
        assert inbox.unresolved_count(ports, SHOP) == actual


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class TestReplyImages:
    def test_reply_with_image_goes_out_as_mms_from_the_media_bucket(self) -> None:
        ports = make_ports()
        join(ports)
        media = ports.media
        assert isinstance(media, FakeMedia)
        media.serve("https://cdn.shopify.com/s/files/blue-scarf.png", PNG)
        sent = inbox.reply(ports, SHOP, NY, reply_request({"text": "Here it is", "media_url": "https://cdn.shopify.com/s/files/blue-scarf.png"}))
        assert sent.state is ReplyState.SENT
        [mms] = [s.sms for s in sms(ports).sent if s.sms.kind is MessageKind.REPLY]
        assert len(mms.media_urls) == 1 and mms.media_urls[0].startswith("s3://fake-media/demo.myshopify.com/")
        # the thread shows the merchant's link, not the bucket copy
        assert inbox.thread(ports, SHOP, NY).messages.items[-1].media_urls == ("https://cdn.shopify.com/s/files/blue-scarf.png",)

    @pytest.mark.parametrize(
        "url, code",
        [
            ("http://cdn.shopify.com/a.png", "invalid_media_url"),
            ("https://127.0.0.1/a.png", "invalid_media_url"),
            ("https://user:pw@cdn.shopify.com/a.png", "invalid_media_url"),
            ("https://cdn.shopify.com/missing.png", "media_unreachable"),
            ("https://cdn.shopify.com/not-an-image.png", "unsupported_media_type"),
        ],
    )
    def test_bad_images_are_refused_before_anything_is_sent(self, url: str, code: str) -> None:
        ports = make_ports()
        join(ports)
        assert isinstance(ports.media, FakeMedia)
        ports.media.serve("https://cdn.shopify.com/not-an-image.png", b"<html>nope</html>")
        with pytest.raises(InvalidInput) as caught:
            inbox.reply(ports, SHOP, NY, reply_request({"text": "look", "media_url": url}))
        assert caught.value.code == code and reply_texts(ports) == []
        assert ports.replies.pending(SHOP, NY) == []
