"""DynamoSubscriberStore on moto: all-or-nothing changes, dedupe, optimistic locking, paging, tenants."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo.cursors import decode_cursor, encode_cursor, validate_limit
from chalicelib.adapters.dynamo.subscribers import DynamoSubscriberStore
from chalicelib.adapters.dynamo.tables import DedupeRow, MessageRow
from chalicelib.domain.errors import ConcurrentUpdate, InvalidInput
from chalicelib.domain.messages import ConversationMessage, Direction
from chalicelib.domain.subscribers import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Source,
    Subscriber,
    SubscriberSearch,
    SubscriberStatus,
)
from chalicelib.services.ports import AlreadyDone, SubscriberChange
from tests.fakes import FrozenClock

SHOP_A = "alpha.myshopify.com"
SHOP_B = "beta.myshopify.com"
PHONE = "+15555550123"
T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)

pytestmark = pytest.mark.integration


def subscriber(
    phone: str = PHONE,
    *,
    shop_id: str = SHOP_A,
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
    source: Source = Source.KEYWORD,
    at: datetime = T0,
) -> Subscriber:
    return Subscriber(shop_id=shop_id, phone=phone, status=status, source=source, joined_at=at, updated_at=at)


def event(
    event_id: str, *, at: datetime = T0, action: ConsentAction = ConsentAction.OPTED_IN, shop_id: str = SHOP_A
) -> ConsentEvent:
    return ConsentEvent(
        shop_id=shop_id, phone=PHONE, at=at, event_id=event_id, action=action, source=ConsentSource.SMS, text="JOIN"
    )


def inbound(message_id: str, body: str = "JOIN", *, at: datetime = T0) -> ConversationMessage:
    return ConversationMessage(
        shop_id=SHOP_A, phone=PHONE, at=at, message_id=message_id, direction=Direction.INBOUND, body=body, intent="join"
    )


def all_messages() -> list[str]:
    return sorted(row.line_key for row in MessageRow.scan())


@pytest.fixture
def store(aws: None) -> DynamoSubscriberStore:
    return DynamoSubscriberStore(FrozenClock(T0))


class TestApply:
    def test_new_subscriber_with_event_message_and_dedupe(self, store: DynamoSubscriberStore) -> None:
        stored = store.apply(
            SubscriberChange(subscriber=subscriber(), event=event("e1"), message=inbound("m1"), dedupe_key="inbound#m1")
        )

        assert stored == replace(subscriber(), version=1)
        assert store.get(SHOP_A, PHONE) == stored
        assert store.consent_history(SHOP_A, PHONE) == [event("e1")]
        assert all_messages() == ["2025-03-01T12:00:00.123456Z#m1"]
        dedupe = DedupeRow.get("inbound#m1")
        assert dedupe.expires_at == int((T0 + timedelta(days=90)).timestamp())

    def test_datetimes_round_trip_as_aware_utc(self, store: DynamoSubscriberStore) -> None:
        plus_two = timezone(timedelta(hours=2))
        local = datetime(2025, 3, 1, 14, 0, 0, 654321, tzinfo=plus_two)
        opted_out = replace(subscriber(at=local), status=SubscriberStatus.OPTED_OUT, opted_out_at=local)
        store.apply(SubscriberChange(subscriber=opted_out, event=event("e1", at=local)))

        got = store.get(SHOP_A, PHONE)
        assert got is not None
        expected = datetime(2025, 3, 1, 12, 0, 0, 654321, tzinfo=timezone.utc)
        for value in (got.joined_at, got.updated_at, got.opted_out_at, store.consent_history(SHOP_A, PHONE)[0].at):
            assert value == expected and value.utcoffset() == timedelta(0)

    def test_naive_datetime_is_refused(self, store: DynamoSubscriberStore) -> None:
        with pytest.raises(InvalidInput):
            store.apply(SubscriberChange(subscriber=subscriber(at=datetime(2025, 3, 1, 12, 0))))
        assert store.get(SHOP_A, PHONE) is None

    def test_update_bumps_the_version(self, store: DynamoSubscriberStore) -> None:
        first = store.apply(SubscriberChange(subscriber=subscriber()))
        assert first is not None
        later = T0 + timedelta(minutes=5)
        change = SubscriberChange(subscriber=first.opt_out(later), expected_version=first.version, event=event("e2", at=later))
        second = store.apply(change)

        assert second is not None and second.version == 2
        assert store.get(SHOP_A, PHONE) == second
        assert second.status is SubscriberStatus.OPTED_OUT and second.opted_out_at == later

    def test_duplicate_dedupe_key_writes_nothing(self, store: DynamoSubscriberStore) -> None:
        change = SubscriberChange(
            subscriber=subscriber(),
            event=event("e1"),
            message=inbound("m1"),
            dedupe_key="inbound#m1",
            receipt={"reply": "welcome"},
        )
        first = store.apply(change)
        assert first is not None
        later = T0 + timedelta(minutes=1)
        with pytest.raises(AlreadyDone):
            store.apply(
                SubscriberChange(
                    subscriber=first.opt_out(later),
                    expected_version=first.version,  # a valid version: only the dedupe key stops it
                    event=event("e2", at=later, action=ConsentAction.OPTED_OUT),
                    message=inbound("m2", "STOP", at=later),
                    dedupe_key="inbound#m1",
                    receipt={"reply": "stop"},
                )
            )

        assert store.get(SHOP_A, PHONE) == first
        assert store.consent_history(SHOP_A, PHONE) == [event("e1")]
        assert all_messages() == ["2025-03-01T12:00:00.123456Z#m1"]
        assert store.receipt("inbound#m1") == {"reply": "welcome"}  # the first commit's plan, not the duplicate's

    def test_stale_version_writes_nothing_and_keeps_the_dedupe_key_free(self, store: DynamoSubscriberStore) -> None:
        first = store.apply(SubscriberChange(subscriber=subscriber()))
        assert first is not None
        store.apply(SubscriberChange(subscriber=first.opt_out(T0), expected_version=first.version))
        later = T0 + timedelta(minutes=1)
        stale = SubscriberChange(
            subscriber=first.opt_out(later),
            expected_version=first.version,
            event=event("e2", at=later),
            message=inbound("m2", "STOP", at=later),
            dedupe_key="inbound#m2",
        )
        with pytest.raises(ConcurrentUpdate):
            store.apply(stale)

        current = store.get(SHOP_A, PHONE)
        assert current is not None and current.version == 2 and current.updated_at == T0
        assert store.consent_history(SHOP_A, PHONE) == []
        assert all_messages() == []
        # The failed attempt did not consume its dedupe key, so the retry with a fresh version goes through.
        retried = store.apply(replace(stale, expected_version=current.version))
        assert retried is not None and retried.version == 3

    def test_creating_an_existing_subscriber_is_a_concurrent_update(self, store: DynamoSubscriberStore) -> None:
        store.apply(SubscriberChange(subscriber=subscriber()))
        with pytest.raises(ConcurrentUpdate):
            store.apply(SubscriberChange(subscriber=subscriber(source=Source.IMPORT), event=event("e1")))

        got = store.get(SHOP_A, PHONE)
        assert got is not None and got.source is Source.KEYWORD and got.version == 1
        assert store.consent_history(SHOP_A, PHONE) == []

    def test_expected_version_for_a_missing_subscriber_is_a_concurrent_update(self, store: DynamoSubscriberStore) -> None:
        with pytest.raises(ConcurrentUpdate):
            store.apply(SubscriberChange(subscriber=subscriber(), expected_version=1))
        assert store.get(SHOP_A, PHONE) is None

    def test_receipt_is_none_until_committed_and_empty_without_one(self, store: DynamoSubscriberStore) -> None:
        assert store.receipt("inbound#m1") is None
        store.apply(SubscriberChange(subscriber=subscriber(), dedupe_key="inbound#m1"))
        assert store.receipt("inbound#m1") == {}

    def test_failed_change_stores_no_receipt(self, store: DynamoSubscriberStore) -> None:
        store.apply(SubscriberChange(subscriber=subscriber()))
        with pytest.raises(ConcurrentUpdate):
            store.apply(SubscriberChange(subscriber=subscriber(), dedupe_key="inbound#m1", receipt={"reply": "x"}))
        assert store.receipt("inbound#m1") is None

    def test_a_bare_dedupe_key_is_stamped_by_the_clock_port(self, store: DynamoSubscriberStore) -> None:
        store.apply(SubscriberChange(dedupe_key="inbound#bare"))
        assert DedupeRow.get("inbound#bare").taken_at == T0

    def test_empty_change_is_a_no_op(self, store: DynamoSubscriberStore) -> None:
        assert store.apply(SubscriberChange()) is None
        assert list(DedupeRow.scan()) == []

    def test_event_and_message_without_subscriber(self, store: DynamoSubscriberStore) -> None:
        assert store.apply(SubscriberChange(event=event("e1"), message=inbound("m1"), dedupe_key="k")) is None
        assert store.consent_history(SHOP_A, PHONE) == [event("e1")]
        assert all_messages() == ["2025-03-01T12:00:00.123456Z#m1"]
        with pytest.raises(AlreadyDone):
            store.apply(SubscriberChange(message=inbound("m9"), dedupe_key="k"))

    def test_a_change_spanning_two_shops_is_refused(self, store: DynamoSubscriberStore) -> None:
        with pytest.raises(InvalidInput):
            store.apply(SubscriberChange(subscriber=subscriber(), event=event("e1", shop_id=SHOP_B)))
        assert store.get(SHOP_A, PHONE) is None
        assert store.consent_history(SHOP_B, PHONE) == []

    def test_consent_history_is_oldest_first(self, store: DynamoSubscriberStore) -> None:
        times = [T0 + timedelta(days=2), T0, T0 + timedelta(microseconds=1)]
        for number, at in enumerate(times):
            store.apply(SubscriberChange(event=event(f"e{number}", at=at)))

        assert [e.event_id for e in store.consent_history(SHOP_A, PHONE)] == ["e1", "e2", "e0"]
        assert store.consent_history(SHOP_B, PHONE) == []


def seed(store: DynamoSubscriberStore, shop_id: str, count: int) -> list[Subscriber]:
    """``count`` subscribers: statuses cycle active, pending, opted_out; sources alternate keyword/checkout."""
    statuses = [SubscriberStatus.ACTIVE, SubscriberStatus.PENDING, SubscriberStatus.OPTED_OUT]
    made = []
    for n in range(count):
        source = Source.KEYWORD if n % 2 == 0 else Source.CHECKOUT
        sub = subscriber(f"+1555555{n:04d}", shop_id=shop_id, status=statuses[n % 3], source=source)
        stored = store.apply(SubscriberChange(subscriber=sub))
        assert stored is not None
        made.append(stored)
    return made


def read_all(store: DynamoSubscriberStore, shop_id: str, **filters: object) -> tuple[list[Subscriber], int]:
    items: list[Subscriber] = []
    pages = 0
    cursor = None
    while True:
        page = store.page(shop_id, cursor=cursor, **filters)  # type: ignore[arg-type]
        pages += 1
        items.extend(page.items)
        if page.cursor is None:
            return items, pages
        assert page.items, "a page with a cursor must not be empty"
        cursor = page.cursor


class TestPage:
    def test_search_finds_phone_digits_and_name_pieces_across_pages(self, store: DynamoSubscriberStore) -> None:
        names = ["Ada Lovelace", "ÉMILE Zola", "Grace Hopper", None, "Straße Müller", "ada king"]
        made = []
        for n, name in enumerate(names):
            sub = replace(subscriber(f"+1555555{n:04d}"), name=name)
            stored = store.apply(SubscriberChange(subscriber=sub))
            assert stored is not None
            made.append(stored)
        seed(store, SHOP_B, 3)  # another shop's numbers share the digits and are never found

        def found(text: str) -> list[str]:
            items, _ = read_all(store, SHOP_A, search=SubscriberSearch.of(text), limit=1)
            return [s.phone for s in items]

        assert found("ADA") == [made[0].phone, made[5].phone]  # case-folded, every page read, in phone order
        assert found("émile") == [made[1].phone]
        assert found("strasse") == [made[4].phone]  # casefold: ß is ss
        assert found("(555) 555-0002") == [made[2].phone]
        assert found("5555000") == [s.phone for s in made]
        assert found("nobody") == []

    def test_every_row_once_in_phone_order(self, store: DynamoSubscriberStore) -> None:
        made = seed(store, SHOP_A, 7)
        items, pages = read_all(store, SHOP_A, limit=3)

        assert items == sorted(made, key=lambda s: s.phone)
        assert pages == 3

    def test_filtered_pages_are_full_and_return_every_match_once(self, store: DynamoSubscriberStore) -> None:
        made = seed(store, SHOP_A, 12)
        active = [s for s in made if s.status is SubscriberStatus.ACTIVE]  # 4 of 12, spread out

        first = store.page(SHOP_A, status=SubscriberStatus.ACTIVE, limit=3)
        assert [s.phone for s in first.items] == [s.phone for s in active[:3]]  # full page despite the gaps
        assert first.cursor is not None
        items, pages = read_all(store, SHOP_A, status=SubscriberStatus.ACTIVE, limit=2)
        assert items == active and pages == 2  # exactly 2 full pages: no empty third page with a cursor

    def test_status_and_source_filters_combine(self, store: DynamoSubscriberStore) -> None:
        made = seed(store, SHOP_A, 12)
        wanted = [s for s in made if s.status is SubscriberStatus.PENDING and s.source is Source.CHECKOUT]

        items, _ = read_all(store, SHOP_A, status=SubscriberStatus.PENDING, source=Source.CHECKOUT, limit=1)
        assert items == wanted and len(wanted) == 2

    def test_no_match_is_one_empty_page(self, store: DynamoSubscriberStore) -> None:
        seed(store, SHOP_A, 3)
        page = store.page(SHOP_A, source=Source.IMPORT, limit=1)
        assert list(page.items) == [] and page.cursor is None

    def test_shops_never_see_each_other(self, store: DynamoSubscriberStore) -> None:
        seed(store, SHOP_A, 3)
        seed(store, SHOP_B, 4)

        items, _ = read_all(store, SHOP_A, limit=2)
        assert {s.shop_id for s in items} == {SHOP_A} and len(items) == 3
        assert store.get(SHOP_B, "+15555550003") is not None
        assert store.get(SHOP_A, "+15555550003") is None

    def test_another_shops_cursor_is_refused(self, store: DynamoSubscriberStore) -> None:
        seed(store, SHOP_A, 3)
        seed(store, SHOP_B, 3)
        cursor_b = store.page(SHOP_B, limit=1).cursor
        assert cursor_b is not None

        with pytest.raises(InvalidInput) as caught:
            store.page(SHOP_A, cursor=cursor_b)
        assert caught.value.code == "invalid_cursor"
        # Rewriting the shop inside the cursor is refused just the same.
        forged = encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"S": "+15555550000"}})
        assert store.page(SHOP_A, cursor=forged, limit=5).items  # a well-formed cursor for A itself works
        with pytest.raises(InvalidInput):
            store.page(SHOP_B, cursor=forged)

    def test_tampered_cursor_is_invalid_input(self, store: DynamoSubscriberStore) -> None:
        seed(store, SHOP_A, 2)
        cursor = store.page(SHOP_A, limit=1).cursor
        assert cursor is not None
        for bad in (cursor[:-2], cursor + "x", "e30", "not base64 !"):
            with pytest.raises(InvalidInput) as caught:
                store.page(SHOP_A, cursor=bad)
            assert caught.value.code == "invalid_cursor"

    def test_limit_out_of_range_is_invalid_input(self, store: DynamoSubscriberStore) -> None:
        for limit in (0, 201):
            with pytest.raises(InvalidInput) as caught:
                store.page(SHOP_A, limit=limit)
            assert caught.value.code == "invalid_limit"
        assert len(store.page(SHOP_A, limit=200).items) == 0  # the bounds themselves are fine


class TestCursorCodec:
    def test_round_trip(self) -> None:
        key = {"shop_id": {"S": SHOP_A}, "phone": {"S": "+15555550000"}}
        cursor = encode_cursor(key)
        assert "=" not in cursor and "+" not in cursor and "/" not in cursor
        assert decode_cursor(cursor, expected_keys={"shop_id", "phone"}) == key

    def test_a_flipped_character_is_refused(self) -> None:
        cursor = encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"S": "+15555550000"}})
        for index in range(len(cursor)):
            flipped = cursor[:index] + ("A" if cursor[index] != "A" else "B") + cursor[index + 1 :]
            try:
                decoded = decode_cursor(flipped, expected_keys={"shop_id", "phone"})
            except InvalidInput as exc:
                assert exc.code == "invalid_cursor"
            else:
                # Some flips still decode to a well-formed key; it must then be a different, well-typed key.
                assert all(set(v) == {"S"} and isinstance(v["S"], str) for v in decoded.values())

    @pytest.mark.parametrize(
        "cursor",
        [
            "",
            "not base64 !",
            "e30",  # {}: wrong keys
            "W10",  # []: not an object
            "\u00e9\u00e9\u00e9\u00e9",
            encode_cursor({"shop_id": {"S": SHOP_A}}),
            encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"S": "+1"}, "extra": {"S": "x"}}),
            encode_cursor({"shop_id": {"S": SHOP_A}, "phone": "+15555550000"}),  # not wire format
            encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"S": ""}}),
            encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"N": "1e999"}}),
            encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"B": "AAAA"}}),
            encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"S": "x", "N": "1"}}),
            encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"S": 5}}),
            encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"S": "x" * 2000}}),  # > 1 KB
            encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"S": "+15555550000"}}) + "AA",
            encode_cursor({"shop_id": {"S": SHOP_A}, "phone": {"S": "+15555550000"}}) + "=",
            "eyJwaG9uZSI6IHsiUyI6ICIrMSJ9LCAic2hvcF9pZCI6IHsiUyI6ICJhIn19",  # valid but not our compact JSON
        ],
    )
    def test_malformed_cursor_is_refused(self, cursor: str) -> None:
        with pytest.raises(InvalidInput) as caught:
            decode_cursor(cursor, expected_keys={"shop_id", "phone"})
        assert caught.value.code == "invalid_cursor"

    @pytest.mark.parametrize("limit", [0, -1, 201, True, 2.5, "10", None])
    def test_limit_out_of_range_is_refused(self, limit: object) -> None:
        with pytest.raises(InvalidInput) as caught:
            validate_limit(limit)
        assert caught.value.code == "invalid_limit"

    @pytest.mark.parametrize("limit", [1, 50, 200])
    def test_limit_in_range_is_kept(self, limit: int) -> None:
        assert validate_limit(limit) == limit


class TestGetMany:
    def test_returns_the_existing_subscribers_of_this_shop_only(self, store: DynamoSubscriberStore) -> None:
        for phone in ("+15555550001", "+15555550002"):
            store.apply(SubscriberChange(subscriber=subscriber(phone)))
        store.apply(SubscriberChange(subscriber=subscriber("+15555550003", shop_id=SHOP_B)))

        got = store.get_many(SHOP_A, ["+15555550001", "+15555550002", "+15555550003", "+15555550009", "+15555550001"])

        assert got == {
            "+15555550001": replace(subscriber("+15555550001"), version=1),
            "+15555550002": replace(subscriber("+15555550002"), version=1),
        }
        assert store.get_many(SHOP_A, []) == {}

    def test_more_than_one_batch_of_keys(self, store: DynamoSubscriberStore) -> None:
        # DynamoDB (and moto) refuse more than 100 keys per BatchGetItem: this needs chunking.
        wanted = [f"+1555555{i:04d}" for i in range(205)]
        for phone in (wanted[0], wanted[150], wanted[204]):
            store.apply(SubscriberChange(subscriber=subscriber(phone)))

        assert sorted(store.get_many(SHOP_A, wanted)) == [wanted[0], wanted[150], wanted[204]]

    def test_reads_are_current(self, store: DynamoSubscriberStore) -> None:
        stored = store.apply(SubscriberChange(subscriber=subscriber()))
        assert stored is not None
        opted_out = replace(stored, status=SubscriberStatus.OPTED_OUT, opted_out_at=T0)
        store.apply(SubscriberChange(subscriber=opted_out, expected_version=1))

        assert store.get_many(SHOP_A, [PHONE])[PHONE].status is SubscriberStatus.OPTED_OUT
