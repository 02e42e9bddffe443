"""DynamoConversations and DynamoClaims on moto: idempotent lines, threads in time order, one-time claims."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo.claims import DynamoClaims
from chalicelib.adapters.dynamo.conversations import DynamoConversations
from chalicelib.adapters.dynamo.cursors import encode_cursor
from chalicelib.adapters.dynamo.tables import DedupeRow, MessageRow
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.messages import ConversationMessage, Direction, MessageKind

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]

SHOP_A = "alpha.myshopify.com"
SHOP_B = "beta.myshopify.com"
PHONE = "+15555550123"
OTHER = "+15555550124"
T0 = datetime(2025, 3, 1, 12, 0, 0, 500000, tzinfo=timezone.utc)


def line(
    message_id: str, at: datetime = T0, *, shop_id: str = SHOP_A, phone: str = PHONE, body: str = "hi"
) -> ConversationMessage:
    return ConversationMessage(
        shop_id=shop_id, phone=phone, at=at, message_id=message_id, direction=Direction.INBOUND, body=body, intent="other"
    )


@pytest.fixture
def conversations() -> DynamoConversations:
    return DynamoConversations()


class TestAppend:
    def test_every_field_round_trips(self, conversations: DynamoConversations) -> None:
        sent = ConversationMessage(
            shop_id=SHOP_A,
            phone=PHONE,
            at=datetime(2025, 3, 1, 7, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
            message_id="out-1",
            direction=Direction.OUTBOUND,
            body="Sale today 🎉",
            kind=MessageKind.CAMPAIGN,
            media_urls=("https://cdn.example/a.png", "https://cdn.example/b.png"),
            campaign_id="cmp-1",
            provider_message_id="prov-1",
        )
        conversations.append(sent)

        (got,) = conversations.thread(SHOP_A, PHONE).items
        assert got == sent
        assert got.at.utcoffset() == timedelta(0) and got.at == datetime(2025, 3, 1, 12, 0, 0, 1, tzinfo=timezone.utc)

    def test_the_same_line_twice_is_kept_once(self, conversations: DynamoConversations) -> None:
        conversations.append(line("m1", body="first"))
        conversations.append(line("m1", body="redelivered"))

        assert [m.body for m in conversations.thread(SHOP_A, PHONE).items] == ["first"]
        assert len(list(MessageRow.scan())) == 1


class TestThread:
    def test_oldest_first_whatever_the_append_order(self, conversations: DynamoConversations) -> None:
        for message_id, offset in (("c", 3), ("a", 1), ("b", 2)):
            conversations.append(line(message_id, T0 + timedelta(seconds=offset)))

        assert [m.message_id for m in conversations.thread(SHOP_A, PHONE).items] == ["a", "b", "c"]

    def test_pages_return_every_line_once(self, conversations: DynamoConversations) -> None:
        for n in range(5):
            conversations.append(line(f"m{n}", T0 + timedelta(minutes=n)))

        first = conversations.thread(SHOP_A, PHONE, limit=2)
        second = conversations.thread(SHOP_A, PHONE, limit=2, cursor=first.cursor)
        third = conversations.thread(SHOP_A, PHONE, limit=2, cursor=second.cursor)
        ids = [m.message_id for page in (first, second, third) for m in page.items]
        assert ids == ["m0", "m1", "m2", "m3", "m4"]
        assert third.cursor is None and first.cursor is not None and second.cursor is not None

    def test_full_last_page_has_no_cursor(self, conversations: DynamoConversations) -> None:
        for n in range(2):
            conversations.append(line(f"m{n}", T0 + timedelta(minutes=n)))

        page = conversations.thread(SHOP_A, PHONE, limit=2)
        assert len(page.items) == 2 and page.cursor is None

    def test_threads_are_per_shop_and_phone(self, conversations: DynamoConversations) -> None:
        conversations.append(line("a1"))
        conversations.append(line("a2", phone=OTHER))
        conversations.append(line("b1", shop_id=SHOP_B))

        assert [m.message_id for m in conversations.thread(SHOP_A, PHONE).items] == ["a1"]
        assert [m.message_id for m in conversations.thread(SHOP_B, PHONE).items] == ["b1"]
        assert list(conversations.thread(SHOP_B, OTHER).items) == []

    def test_a_cursor_from_another_thread_is_refused(self, conversations: DynamoConversations) -> None:
        for n in range(2):
            conversations.append(line(f"b{n}", T0 + timedelta(minutes=n), shop_id=SHOP_B))
        cursor_b = conversations.thread(SHOP_B, PHONE, limit=1).cursor
        assert cursor_b is not None

        with pytest.raises(InvalidInput) as caught:
            conversations.thread(SHOP_A, PHONE, cursor=cursor_b)
        assert caught.value.code == "invalid_cursor"
        forged = encode_cursor({"thread_key": {"S": f"{SHOP_B}#{PHONE}"}, "line_key": {"S": "0"}})
        with pytest.raises(InvalidInput):
            conversations.thread(SHOP_A, PHONE, cursor=forged)

    def test_tampered_cursor_and_bad_limit_are_invalid_input(self, conversations: DynamoConversations) -> None:
        conversations.append(line("m0"))
        conversations.append(line("m1", T0 + timedelta(seconds=1)))
        cursor = conversations.thread(SHOP_A, PHONE, limit=1).cursor
        assert cursor is not None
        with pytest.raises(InvalidInput) as caught:
            conversations.thread(SHOP_A, PHONE, cursor=cursor[:-1])
        assert caught.value.code == "invalid_cursor"
        with pytest.raises(InvalidInput) as caught:
            conversations.thread(SHOP_A, PHONE, limit=0)
        assert caught.value.code == "invalid_limit"


class TestClaims:
    def test_a_key_is_taken_once(self) -> None:
        claims = DynamoClaims()
        assert claims.claim("send#cmp-1#+15555550123", T0) is True
        assert claims.claim("send#cmp-1#+15555550123", T0 + timedelta(days=400)) is False
        assert DynamoClaims().claim("send#cmp-1#+15555550123", T0) is False  # another instance, same ledger
        assert claims.claim("send#cmp-1#+15555550124", T0) is True

    def test_a_released_key_can_be_claimed_again(self) -> None:
        claims = DynamoClaims()
        assert claims.claim("auto-reply#m1", T0) is True
        claims.release("auto-reply#m1")
        claims.release("auto-reply#never-taken")  # nothing to give back is fine

        assert claims.claim("auto-reply#m1", T0) is True
        assert claims.claim("auto-reply#m1", T0) is False

    def test_taken_says_whether_a_key_is_held(self) -> None:
        claims = DynamoClaims()
        assert claims.taken("shopify-webhook-done#a#1") is False
        claims.claim("shopify-webhook-done#a#1", T0)
        assert claims.taken("shopify-webhook-done#a#1") is True
        claims.release("shopify-webhook-done#a#1")
        assert claims.taken("shopify-webhook-done#a#1") is False

    def test_claims_never_expire(self) -> None:
        DynamoClaims().claim("order#42", T0)
        row = DedupeRow.get("order#42")
        assert row.expires_at is None and row.taken_at == T0
