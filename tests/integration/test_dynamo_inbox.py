"""DynamoInboxRepository and DynamoReplyRepository on moto: version-checked saves that carry the unresolved
count in the same transaction (it never drifts, even under racing writers), status listings newest first
with tenant-checked cursors, and replies that are settled exactly once."""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo.cursors import decode_cursor, encode_cursor
from chalicelib.adapters.dynamo.inbox import DynamoInboxRepository, DynamoReplyRepository, row_to_conversation
from chalicelib.adapters.dynamo.tables import ConversationRow, InboxCounterRow, ReplyRow
from chalicelib.domain.errors import ConcurrentUpdate, Conflict, InvalidInput, TransientError
from chalicelib.domain.inbox import Conversation, ConversationStatus, Reply, ReplyState
from tests.integration.conftest import Contention, Race

SHOP = "alpha.myshopify.com"
OTHER_SHOP = "beta.myshopify.com"
PHONE = "+15555550123"
PHONE_2 = "+15555550124"
T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
PARIS = timezone(timedelta(hours=1))

pytestmark = pytest.mark.integration

UNRESOLVED, RESOLVED, OPTED_OUT = ConversationStatus.UNRESOLVED, ConversationStatus.RESOLVED, ConversationStatus.OPTED_OUT


@pytest.fixture
def inbox(aws: None) -> DynamoInboxRepository:
    return DynamoInboxRepository(sleep=lambda seconds: None)


@pytest.fixture
def replies(aws: None) -> DynamoReplyRepository:
    return DynamoReplyRepository()


def phone(i: int) -> str:
    return f"+1555555{i:04d}"


def new(at: datetime = T0, *, number: str = PHONE, shop_id: str = SHOP) -> Conversation:
    return Conversation.start(shop_id, number, at)


def create(
    inbox: DynamoInboxRepository, status: ConversationStatus, at: datetime, *, number: str = PHONE, shop_id: str = SHOP
) -> Conversation:
    """A stored conversation in ``status`` whose last activity is ``at``."""
    conversation = new(at, number=number, shop_id=shop_id).received(at, "hi")
    if status is RESOLVED:
        conversation = conversation.resolve(at)
    elif status is OPTED_OUT:
        conversation = conversation.opt_out(at)
    assert conversation.status is status
    return inbox.save(conversation, previous=None)


def stored_counter(shop_id: str = SHOP) -> int | None:
    """The raw counter item (None: never written), bypassing the repository's reading of it."""
    try:
        return int(InboxCounterRow.get(shop_id, consistent_read=True).unresolved)
    except InboxCounterRow.DoesNotExist:
        return None


def stored_rows(shop_id: str = SHOP) -> list[ConversationRow]:
    return list(ConversationRow.query(shop_id, consistent_read=True))


def listing(inbox: DynamoInboxRepository, status: ConversationStatus, *, shop_id: str = SHOP, limit: int = 200) -> list[str]:
    """Every phone listed in ``status``, following cursors."""
    phones: list[str] = []
    cursor: str | None = None
    while True:
        page = inbox.page(shop_id, status, limit=limit, cursor=cursor)
        phones.extend(c.phone for c in page.items)
        if page.cursor is None:
            return phones
        cursor = page.cursor


class TestSave:
    def test_round_trip_keeps_every_field_as_aware_utc(self, inbox: DynamoInboxRepository) -> None:
        at = datetime(2025, 3, 1, 13, 0, 0, 654321, tzinfo=PARIS)
        conversation = new(at).received(at, "Do you ship to Canada?\nThanks")

        stored = inbox.save(conversation, previous=None)

        assert stored == replace(conversation, version=1)
        got = inbox.get(SHOP, PHONE)
        assert got == stored
        assert got.last_activity_at.tzinfo == timezone.utc and got.last_activity_at == at
        assert got.last_inbound_at is not None and got.last_inbound_at.tzinfo == timezone.utc
        assert got.last_message == "Do you ship to Canada? Thanks"

    def test_an_empty_conversation_round_trips(self, inbox: DynamoInboxRepository) -> None:
        stored = inbox.save(new(), previous=None)

        got = inbox.get(SHOP, PHONE)
        assert got == stored and got.last_inbound_at is None and got.last_message == ""
        assert got.status is RESOLVED and got.version == 1

    def test_status_and_activity_key_follow_every_write(self, inbox: DynamoInboxRepository) -> None:
        first = create(inbox, UNRESOLVED, T0)
        (row,) = stored_rows()
        assert (row.status, row.activity_key) == ("unresolved", "unresolved#2025-03-01T12:00:00.123456Z")

        later = T0 + timedelta(minutes=5)
        second = inbox.save(first.opt_out(later), previous=first)
        (row,) = stored_rows()
        assert (row.status, row.activity_key, row.version) == ("opted_out", "opted_out#2025-03-01T12:05:00.123456Z", 2)

        third = inbox.save(second.opt_in(later), previous=second)
        (row,) = stored_rows()
        assert (row.status, row.activity_key, row.version) == ("unresolved", "unresolved#2025-03-01T12:05:00.123456Z", 3)
        assert third.version == 3

    def test_a_missing_conversation_is_none(self, inbox: DynamoInboxRepository) -> None:
        create(inbox, UNRESOLVED, T0)
        assert inbox.get(SHOP, PHONE_2) is None
        assert inbox.get(OTHER_SHOP, PHONE) is None

    def test_a_naive_datetime_is_refused(self, inbox: DynamoInboxRepository) -> None:
        with pytest.raises(InvalidInput) as caught:
            inbox.save(new(datetime(2025, 3, 1, 12, 0)), previous=None)
        assert caught.value.code == "naive_datetime"
        assert stored_rows() == []

    def test_previous_must_be_the_same_conversation(self, inbox: DynamoInboxRepository) -> None:
        other = create(inbox, RESOLVED, T0, number=PHONE_2)
        with pytest.raises(InvalidInput) as caught:
            inbox.save(new().received(T0, "hi"), previous=other)
        assert caught.value.code == "mixed_change"
        assert inbox.get(SHOP, PHONE) is None and stored_counter() is None


class TestStaleSaves:
    def test_creating_what_exists_is_a_concurrent_update_and_writes_nothing(self, inbox: DynamoInboxRepository) -> None:
        existing = create(inbox, RESOLVED, T0)

        with pytest.raises(ConcurrentUpdate):
            inbox.save(new(T0 + timedelta(hours=1)).received(T0 + timedelta(hours=1), "again"), previous=None)

        assert inbox.get(SHOP, PHONE) == existing
        assert stored_counter() is None and inbox.unresolved_count(SHOP) == 0

    def test_a_stale_version_is_refused_and_the_count_stays(self, inbox: DynamoInboxRepository) -> None:
        v1 = create(inbox, UNRESOLVED, T0)
        v2 = inbox.save(v1.resolve(T0), previous=v1)
        v3 = inbox.save(v2.received(T0 + timedelta(seconds=1), "one more thing"), previous=v2)
        assert inbox.unresolved_count(SHOP) == 1

        # A writer that read v1 (unresolved) and resolves it would move the count by -1 on top of v3's +1.
        with pytest.raises(ConcurrentUpdate):
            inbox.save(v1.resolve(T0), previous=v1)

        assert inbox.get(SHOP, PHONE) == v3
        assert stored_counter() == 1

    def test_a_previous_that_lies_about_the_status_is_refused(self, inbox: DynamoInboxRepository) -> None:
        stored = create(inbox, RESOLVED, T0)
        # Right version, wrong status: the delta computed from it (-1) does not match what is stored.
        fabricated = replace(stored, needs_reply=True)

        with pytest.raises(ConcurrentUpdate):
            inbox.save(stored, previous=fabricated)

        assert inbox.get(SHOP, PHONE) == stored and stored_counter() is None

    def test_two_writers_from_one_read_only_one_wins(self, inbox: DynamoInboxRepository) -> None:
        base = create(inbox, UNRESOLVED, T0)
        replying = base.replied(T0 + timedelta(seconds=5), "Yes we do", started_at=T0 + timedelta(seconds=1))
        opting_out = base.opt_out(T0 + timedelta(seconds=6))

        won = inbox.save(replying, previous=base)
        with pytest.raises(ConcurrentUpdate):
            inbox.save(opting_out, previous=base)

        assert inbox.get(SHOP, PHONE) == won and won.status is RESOLVED
        assert stored_counter() == 0


class TestUnresolvedCount:
    def test_absent_is_zero_and_no_counter_is_written_without_a_change(self, inbox: DynamoInboxRepository) -> None:
        assert inbox.unresolved_count(SHOP) == 0
        create(inbox, RESOLVED, T0)
        create(inbox, OPTED_OUT, T0, number=PHONE_2)
        assert stored_counter() is None and inbox.unresolved_count(SHOP) == 0

    def test_every_transition_moves_the_count_by_its_difference(self, inbox: DynamoInboxRepository) -> None:
        a = create(inbox, UNRESOLVED, T0)
        b = create(inbox, UNRESOLVED, T0, number=PHONE_2)
        assert inbox.unresolved_count(SHOP) == 2

        steps: list[tuple[Callable[[Conversation], Conversation], int]] = [
            (lambda c: c.received(T0 + timedelta(seconds=1), "again"), 2),  # unresolved -> unresolved
            (lambda c: c.resolve(T0), 1),
            (lambda c: c.unresolve(T0), 2),
            (lambda c: c.replied(T0 + timedelta(seconds=2), "ok", started_at=T0 + timedelta(seconds=2)), 1),
            (lambda c: c.received(T0 + timedelta(seconds=3), "and?"), 2),
            (lambda c: c.opt_out(T0 + timedelta(seconds=4)), 1),  # unresolved -> opted out
            (lambda c: c.opt_in(T0 + timedelta(seconds=5)), 2),  # back to what it needed before
            (lambda c: c.opt_out(T0), 1),
        ]
        for change, expected in steps:
            a = inbox.save(change(a), previous=a)
            assert (inbox.unresolved_count(SHOP), stored_counter()) == (expected, expected), a

        inbox.save(b.resolve(T0), previous=b)
        assert inbox.unresolved_count(SHOP) == 0

    def test_counts_are_per_shop(self, inbox: DynamoInboxRepository) -> None:
        create(inbox, UNRESOLVED, T0)
        create(inbox, UNRESOLVED, T0, number=PHONE_2)
        other = create(inbox, UNRESOLVED, T0, shop_id=OTHER_SHOP)
        inbox.save(other.resolve(T0), previous=other)

        assert inbox.unresolved_count(SHOP) == 2
        assert inbox.unresolved_count(OTHER_SHOP) == 0

    def test_a_negative_stored_count_reads_as_zero(self, inbox: DynamoInboxRepository) -> None:
        InboxCounterRow(SHOP, unresolved=-3).save()
        assert inbox.unresolved_count(SHOP) == 0


class TestContention:
    def test_a_conflicting_transaction_is_retried(self, contention: Contention) -> None:
        slept: list[float] = []
        inbox = DynamoInboxRepository(sleep=slept.append)
        with contention("TransactWriteItems", times=2) as answered:
            stored = inbox.save(new().received(T0, "hi"), previous=None)
        assert len(answered) == 2 and len(slept) == 2
        assert inbox.get(SHOP, PHONE) == stored and stored_counter() == 1

    def test_lasting_contention_is_transient_and_writes_nothing(
        self, inbox: DynamoInboxRepository, contention: Contention
    ) -> None:
        base = create(inbox, UNRESOLVED, T0)
        with contention("TransactWriteItems", times=100), pytest.raises(TransientError):
            inbox.save(base.resolve(T0), previous=base)
        assert inbox.get(SHOP, PHONE) == base and stored_counter() == 1


class TestListing:
    def test_each_status_lists_only_its_own_newest_first(self, inbox: DynamoInboxRepository) -> None:
        plan = [
            (UNRESOLVED, 3),
            (RESOLVED, 5),
            (UNRESOLVED, 1),
            (OPTED_OUT, 2),
            (UNRESOLVED, 7),
            (RESOLVED, 0),
            (OPTED_OUT, 9),
        ]
        for i, (status, minutes) in enumerate(plan):
            create(inbox, status, T0 + timedelta(minutes=minutes), number=phone(i))

        assert listing(inbox, UNRESOLVED) == [phone(4), phone(0), phone(2)]
        assert listing(inbox, RESOLVED) == [phone(1), phone(5)]
        assert listing(inbox, OPTED_OUT) == [phone(6), phone(3)]
        page = inbox.page(SHOP, UNRESOLVED)
        assert [c.last_activity_at for c in page.items] == [T0 + timedelta(minutes=m) for m in (7, 3, 1)]
        assert all(c.status is UNRESOLVED for c in page.items) and page.cursor is None

    def test_a_status_change_moves_the_conversation_between_listings(self, inbox: DynamoInboxRepository) -> None:
        a = create(inbox, UNRESOLVED, T0, number=phone(1))
        create(inbox, UNRESOLVED, T0 + timedelta(minutes=1), number=phone(2))
        create(inbox, RESOLVED, T0 + timedelta(minutes=2), number=phone(3))

        inbox.save(a.replied(T0 + timedelta(minutes=10), "Sure", started_at=T0 + timedelta(minutes=9)), previous=a)

        assert listing(inbox, UNRESOLVED) == [phone(2)]
        assert listing(inbox, RESOLVED) == [phone(1), phone(3)]  # its new activity puts it on top
        assert listing(inbox, OPTED_OUT) == []

    def test_pagination_covers_every_row_once_in_order(self, inbox: DynamoInboxRepository) -> None:
        # Ties in last activity included: the cursor must still neither skip nor repeat.
        minutes = [4, 4, 4, 1, 7, 2, 2, 9]
        for i, m in enumerate(minutes):
            create(inbox, UNRESOLVED, T0 + timedelta(minutes=m), number=phone(i))
        create(inbox, RESOLVED, T0 + timedelta(minutes=5), number=phone(50))
        create(inbox, UNRESOLVED, T0, number=PHONE, shop_id=OTHER_SHOP)

        everything = listing(inbox, UNRESOLVED)
        for limit in (1, 2, 3, 7, 8):
            pages: list[list[str]] = []
            cursor: str | None = None
            while True:
                page = inbox.page(SHOP, UNRESOLVED, limit=limit, cursor=cursor)
                assert 0 < len(page.items) <= limit
                pages.append([c.phone for c in page.items])
                cursor = page.cursor
                if cursor is None:
                    break
            flat = [p for chunk in pages for p in chunk]
            assert flat == everything, limit
            assert len(pages) == -(-len(minutes) // limit)  # the last full page carries no cursor
        assert len(everything) == len(set(everything)) == len(minutes)
        times = [inbox.get(SHOP, p).last_activity_at for p in everything]  # type: ignore[union-attr]
        assert times == sorted(times, reverse=True)

    def test_an_empty_listing(self, inbox: DynamoInboxRepository) -> None:
        page = inbox.page(SHOP, UNRESOLVED)
        assert list(page.items) == [] and page.cursor is None

    @pytest.mark.parametrize("limit", [0, -1, 201, True, 2.0])
    def test_limits_are_checked(self, inbox: DynamoInboxRepository, limit: object) -> None:
        with pytest.raises(InvalidInput) as caught:
            inbox.page(SHOP, UNRESOLVED, limit=limit)  # type: ignore[arg-type]
        assert caught.value.code == "invalid_limit"


class TestTenants:
    def test_another_shop_sees_none_of_it(self, inbox: DynamoInboxRepository) -> None:
        create(inbox, UNRESOLVED, T0)
        create(inbox, RESOLVED, T0, number=PHONE_2)
        theirs = create(inbox, UNRESOLVED, T0, shop_id=OTHER_SHOP)

        assert listing(inbox, UNRESOLVED, shop_id=OTHER_SHOP) == [PHONE]
        assert listing(inbox, RESOLVED, shop_id=OTHER_SHOP) == []
        assert inbox.get(OTHER_SHOP, PHONE) == theirs
        assert inbox.unresolved_count(OTHER_SHOP) == 1 and inbox.unresolved_count(SHOP) == 1

    def test_a_cursor_from_another_shop_is_refused(self, inbox: DynamoInboxRepository) -> None:
        for i in range(3):
            create(inbox, UNRESOLVED, T0 + timedelta(minutes=i), number=phone(i))
            create(inbox, UNRESOLVED, T0 + timedelta(minutes=i), number=phone(i), shop_id=OTHER_SHOP)
        cursor = inbox.page(SHOP, UNRESOLVED, limit=1).cursor
        assert cursor is not None

        with pytest.raises(InvalidInput) as caught:
            inbox.page(OTHER_SHOP, UNRESOLVED, limit=1, cursor=cursor)
        assert caught.value.code == "invalid_cursor"

        # The same key re-encoded for the other shop is a well-formed cursor of theirs, and shows only theirs.
        key = decode_cursor(cursor, expected_keys={"shop_id", "phone", "activity_key"})
        forged = encode_cursor({**key, "shop_id": {"S": OTHER_SHOP}})
        assert [c.shop_id for c in inbox.page(OTHER_SHOP, UNRESOLVED, cursor=forged).items] == [OTHER_SHOP, OTHER_SHOP]

    def test_a_cursor_from_another_status_is_refused(self, inbox: DynamoInboxRepository) -> None:
        for i in range(2):
            create(inbox, UNRESOLVED, T0 + timedelta(minutes=i), number=phone(i))
            create(inbox, RESOLVED, T0 + timedelta(minutes=i), number=phone(10 + i))
        cursor = inbox.page(SHOP, UNRESOLVED, limit=1).cursor
        assert cursor is not None

        with pytest.raises(InvalidInput) as caught:
            inbox.page(SHOP, RESOLVED, limit=1, cursor=cursor)
        assert caught.value.code == "invalid_cursor"

    @pytest.mark.parametrize(
        "cursor",
        [
            "",
            "not-a-cursor",
            encode_cursor({"shop_id": {"S": SHOP}, "phone": {"S": PHONE}}),
            encode_cursor({"shop_id": {"S": SHOP}, "phone": {"S": PHONE}, "activity_key": {"N": "1"}}),
            encode_cursor({"shop_id": {"S": SHOP}, "phone": {"N": "1"}, "activity_key": {"S": "unresolved#x"}}),
            encode_cursor({"shop_id": {"N": "1"}, "phone": {"S": PHONE}, "activity_key": {"S": "unresolved#x"}}),
            encode_cursor({"shop_id": {"S": SHOP}, "phone": {"S": PHONE}, "activity_key": {"S": "x"}, "extra": {"S": "1"}}),
        ],
    )
    def test_a_malformed_cursor_is_refused(self, inbox: DynamoInboxRepository, cursor: str) -> None:
        with pytest.raises(InvalidInput) as caught:
            inbox.page(SHOP, UNRESOLVED, cursor=cursor)
        assert caught.value.code == "invalid_cursor"


class TestCounterUnderConcurrency:
    def test_racing_inbound_replies_and_opt_outs_never_make_the_count_drift(
        self, inbox: DynamoInboxRepository, race: Race
    ) -> None:
        phones = [phone(i) for i in range(4)]
        threads, steps = 8, 8
        ticks = itertools.count(1)
        tick_lock = threading.Lock()
        conflicts = Counter[int]()
        saves = Counter[int]()
        # A safety net against a hung run, not a timing assertion.
        all_read = threading.Barrier(threads, timeout=120)

        def now() -> datetime:
            with tick_lock:
                return T0 + timedelta(milliseconds=next(ticks))

        def update(worker: int, number: str, change: Callable[[Conversation], Conversation], *, meet: bool = False) -> None:
            """The service's loop: read, change, save if it changed, and on ConcurrentUpdate start over."""
            for _ in range(200):
                previous = inbox.get(SHOP, number)
                updated = change(previous or new(now(), number=number))
                if meet:
                    all_read.wait()  # every thread has read before anyone saves: stale saves are certain
                    meet = False
                if previous is not None and updated == previous:
                    return
                try:
                    inbox.save(updated, previous=previous)
                    saves[worker] += 1
                    return
                except ConcurrentUpdate:
                    conflicts[worker] += 1
            raise AssertionError("never got a save through")

        def inbound(c: Conversation) -> Conversation:
            return c.received(now(), "Is this still on sale?")

        def reply(c: Conversation) -> Conversation:
            at = now()
            return c.replied(at, "Yes, until Sunday", started_at=at)

        def opt_out(c: Conversation) -> Conversation:
            return c.received(now(), "STOP").opt_out(now())

        def opt_in(c: Conversation) -> Conversation:
            return c.opt_in(now())

        def work(worker: int) -> None:
            rng = random.Random(worker)
            # First, all threads collide on one conversation from one read: exactly one save can win it.
            update(worker, phones[0], inbound, meet=True)
            # Then each round every thread reads a random conversation, all meet, then all save (and retry).
            for _ in range(steps):
                change = rng.choice([inbound, inbound, reply, reply, opt_out, opt_in])
                update(worker, rng.choice(phones), change, meet=True)

        race(threads, work)

        rows = stored_rows()
        assert sorted(r.phone for r in rows) == phones
        stored = [row_to_conversation(r) for r in rows]
        for row, conversation in zip(rows, stored, strict=True):
            # The derived index attributes match the flags they were derived from.
            assert row.status == conversation.status.value
            assert row.activity_key.startswith(f"{conversation.status.value}#")
        unresolved = sum(c.counts_as_unresolved for c in stored)
        assert stored_counter() == unresolved == inbox.unresolved_count(SHOP)
        assert sorted(listing(inbox, UNRESOLVED)) == sorted(c.phone for c in stored if c.status is UNRESOLVED)
        assert sum(conflicts.values()) >= threads - 1  # the opening collision alone refuses all but one
        # Each save that went through moved a version by exactly one: no write was lost or doubled.
        assert sum(c.version for c in stored) == sum(saves.values())


# --- replies ------------------------------------------------------------------------------------------


def reply(
    reply_id: str = "rep_1", *, created_at: datetime = T0, number: str = PHONE, shop_id: str = SHOP, **changes: object
) -> Reply:
    base = Reply(
        shop_id=shop_id,
        phone=number,
        reply_id=reply_id,
        text="Yes, until Sunday.\nUse code SPRING at checkout.",
        state=ReplyState.SCHEDULED,
        created_at=created_at,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class TestReplies:
    def test_round_trip_with_every_field(self, replies: DynamoReplyRepository) -> None:
        full = reply(
            created_at=datetime(2025, 3, 1, 23, 30, 0, 5, tzinfo=PARIS),
            send_at=datetime(2025, 3, 2, 8, 0, tzinfo=PARIS),
            media_url="https://cdn.example.com/a.png",
            media_s3_uri="s3://media/alpha/a.png",
        )
        assert replies.create(full) == full

        got = replies.get(SHOP, PHONE, "rep_1")
        assert got == full
        assert got.created_at.tzinfo == timezone.utc and got.send_at is not None and got.send_at.tzinfo == timezone.utc

    def test_round_trip_with_optional_fields_absent(self, replies: DynamoReplyRepository) -> None:
        bare = reply(state=ReplyState.SENT, provider_message_id="pm-1")
        replies.create(bare)
        assert replies.get(SHOP, PHONE, "rep_1") == bare

    def test_an_id_is_taken_once(self, replies: DynamoReplyRepository) -> None:
        first = replies.create(reply())
        with pytest.raises(Conflict) as caught:
            replies.create(reply(text="something else"))
        assert caught.value.code == "reply_exists"
        assert replies.get(SHOP, PHONE, "rep_1") == first

    def test_missing_and_foreign_replies_are_none(self, replies: DynamoReplyRepository) -> None:
        replies.create(reply())
        assert replies.get(SHOP, PHONE, "rep_2") is None
        assert replies.get(SHOP, PHONE_2, "rep_1") is None
        assert replies.get(OTHER_SHOP, PHONE, "rep_1") is None

    def test_pending_is_scheduled_only_oldest_first(self, replies: DynamoReplyRepository) -> None:
        # Ids deliberately sort against time: order must come from created_at.
        replies.create(reply("rep_a", created_at=T0 + timedelta(minutes=3)))
        replies.create(reply("rep_b", created_at=T0 + timedelta(minutes=1)))
        replies.create(reply("rep_c", created_at=T0 + timedelta(minutes=2)))
        replies.create(reply("rep_d", created_at=T0, state=ReplyState.SENT))
        replies.create(reply("rep_e", created_at=T0 + timedelta(minutes=4)))
        replies.create(reply("rep_f", created_at=T0, number=PHONE_2))
        replies.create(reply("rep_g", created_at=T0, shop_id=OTHER_SHOP))

        assert replies.settle(reply("rep_e", state=ReplyState.CANCELLED, reason="opted_out"))

        assert [r.reply_id for r in replies.pending(SHOP, PHONE)] == ["rep_b", "rep_c", "rep_a"]
        assert [r.reply_id for r in replies.pending(SHOP, PHONE_2)] == ["rep_f"]
        assert [r.reply_id for r in replies.pending(OTHER_SHOP, PHONE)] == ["rep_g"]
        assert replies.pending(OTHER_SHOP, PHONE_2) == []

    def test_settle_once_then_never_again(self, replies: DynamoReplyRepository) -> None:
        scheduled = replies.create(reply(send_at=T0 + timedelta(hours=9)))
        settled_at = datetime(2025, 3, 2, 8, 0, 1, 250, tzinfo=PARIS)  # read back in UTC, same instant
        sent = replace(scheduled, state=ReplyState.SENT, provider_message_id="pm-1", settled_at=settled_at)

        assert replies.settle(sent) is True
        assert replies.get(SHOP, PHONE, "rep_1") == sent

        assert replies.settle(replace(scheduled, state=ReplyState.CANCELLED, reason="opted_out")) is False
        assert replies.settle(sent) is False
        assert replies.get(SHOP, PHONE, "rep_1") == sent
        assert replies.pending(SHOP, PHONE) == []

    def test_settling_failed_records_the_reason_and_clears_a_provider_id(self, replies: DynamoReplyRepository) -> None:
        replies.create(reply(provider_message_id="stale"))
        assert replies.settle(reply(state=ReplyState.FAILED, reason="provider_rejected"))
        got = replies.get(SHOP, PHONE, "rep_1")
        assert got is not None
        assert (got.state, got.reason, got.provider_message_id) == (ReplyState.FAILED, "provider_rejected", None)

    def test_settling_a_missing_reply_writes_nothing(self, replies: DynamoReplyRepository) -> None:
        assert replies.settle(reply(state=ReplyState.SENT)) is False
        assert list(ReplyRow.scan()) == []

    def test_settling_to_scheduled_is_refused(self, replies: DynamoReplyRepository) -> None:
        replies.create(reply())
        with pytest.raises(InvalidInput) as caught:
            replies.settle(reply())
        assert caught.value.code == "not_final"

    def test_racing_settlements_settle_once(self, replies: DynamoReplyRepository, race: Race) -> None:
        replies.create(reply())
        outcomes = [
            reply(state=ReplyState.SENT, provider_message_id="pm-1"),
            reply(state=ReplyState.CANCELLED, reason="opted_out"),
        ]

        results = race(6, lambda i: replies.settle(outcomes[i % 2]))

        assert Counter(results) == {True: 1, False: 5}
        got = replies.get(SHOP, PHONE, "rep_1")
        assert got is not None and got.state in (ReplyState.SENT, ReplyState.CANCELLED)
