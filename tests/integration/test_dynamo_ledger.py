"""DynamoSendLedger and DynamoContactHistory on moto: a group's claim, the claim that precedes every send, holds
per recipient against racing workers, End Campaign, STOP and concurrent campaigns (the frequency cap); outcomes
are counted once; deferrals and releases stay consistent; a campaign's rows spread over many partitions."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.cursors import encode_cursor
from chalicelib.adapters.dynamo.keys import WAVE_SHARDS, campaign_key, gate_keys, ledger_key, thread_key, wave_key
from chalicelib.adapters.dynamo.ledger import DynamoContactHistory, DynamoSendLedger
from chalicelib.adapters.dynamo.subscribers import DynamoSubscriberStore, subscriber_to_row
from chalicelib.adapters.dynamo.tables import (
    ALL_TABLES,
    CampaignGateRow,
    CampaignRow,
    ContactRow,
    MessageRow,
    ReleaseWaveRow,
    SendLedgerRow,
    SubscriberRow,
)
from chalicelib.adapters.dynamo.totals import read_totals
from chalicelib.domain.campaigns import Campaign, CampaignStats, CampaignStatus
from chalicelib.domain.errors import InvalidInput, TransientError
from chalicelib.domain.messages import ConversationMessage, Direction, MessageKind
from chalicelib.domain.sending import (
    CONTACT_MEMORY,
    Claim,
    ClaimRefusal,
    ContactWindow,
    Deferral,
    FailReason,
    GroupClaim,
    LedgerEntry,
    Release,
    SendState,
    Settlement,
    SkipReason,
)
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberStatus
from chalicelib.services.ports import SubscriberChange
from tests.fakes import FrozenClock
from tests.integration.conftest import Contention, Race

SHOP = "alpha.myshopify.com"
OTHER_SHOP = "beta.myshopify.com"
CAMPAIGN = "c001"
CAMPAIGN_2 = "c002"
PHONE = "+15555550123"
PHONE_2 = "+15555550124"
PHONE_3 = "+15555550125"
T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
RELEASE = datetime(2025, 3, 1, 13, 0, tzinfo=timezone.utc)
RELEASE_LATER = datetime(2025, 3, 1, 14, 0, tzinfo=timezone.utc)

pytestmark = pytest.mark.integration


def add_subscriber(phone: str, *, status: SubscriberStatus = SubscriberStatus.ACTIVE, shop_id: str = SHOP) -> None:
    sub = Subscriber(shop_id=shop_id, phone=phone, status=status, source=Source.KEYWORD, joined_at=T0, updated_at=T0)
    subscriber_to_row(sub, 1).save()


def opt_out(phone: str) -> None:
    SubscriberRow(SHOP, phone).update(actions=[SubscriberRow.status.set(SubscriberStatus.OPTED_OUT.value)])


def new_campaign(campaign_id: str = CAMPAIGN, shop_id: str = SHOP) -> Campaign:
    return Campaign(
        shop_id=shop_id,
        campaign_id=campaign_id,
        name="Spring sale",
        message="20% off",
        segment_id="all",
        send_now=True,
        send_at_local=None,
        timezone="America/New_York",
        status=CampaignStatus.DRAFT,
        created_at=T0,
        updated_at=T0,
    )


@pytest.fixture
def campaigns(aws: None) -> DynamoCampaignRepository:
    return DynamoCampaignRepository()


@pytest.fixture
def running(campaigns: DynamoCampaignRepository) -> Campaign:
    """An In Progress campaign with three active subscribers."""
    for phone in (PHONE, PHONE_2, PHONE_3):
        add_subscriber(phone)
    return campaigns.save(campaigns.create(new_campaign()).start(T0, {"all": []}))


@pytest.fixture
def second(campaigns: DynamoCampaignRepository, running: Campaign) -> Campaign:
    """Another In Progress campaign of the same shop, to the same subscribers."""
    return campaigns.save(campaigns.create(new_campaign(CAMPAIGN_2)).start(T0, {"all": []}))


@pytest.fixture
def ledger(running: Campaign) -> DynamoSendLedger:
    return DynamoSendLedger(sleep=lambda seconds: None)


@pytest.fixture
def contacts(running: Campaign) -> DynamoContactHistory:
    return DynamoContactHistory()


def claims(*phones: str, previous: SendState | None = None) -> list[Claim]:
    return [Claim(phone, previous) for phone in phones]


def released_unsent(phone: str, at: datetime = T0) -> Release:
    """A recipient claimed by ``claims`` at ``at`` (an empty window before) and given back unsent."""
    return Release(phone, ContactWindow().with_send(at), at)


def row(phone: str = PHONE, campaign_id: str = CAMPAIGN) -> SendLedgerRow | None:
    try:
        return SendLedgerRow.get(ledger_key(SHOP, campaign_id, phone), phone, consistent_read=True)
    except SendLedgerRow.DoesNotExist:
        return None


def counters(campaign_id: str = CAMPAIGN) -> dict[str, int]:
    """The campaign's counters: the sums over its gates (and its row, which the send path no longer writes)."""
    rows: list[Any] = [CampaignRow.get(SHOP, campaign_id, consistent_read=True)]
    rows += CampaignGateRow.batch_get(gate_keys(SHOP, campaign_id), consistent_read=True)
    names = ("sent", "skipped", "failed", "done", "deferred", "parts")
    return {name: sum(int(getattr(got, name) or 0) for got in rows) for name in names}


def totals() -> dict[str, int]:
    got = read_totals(SHOP)
    return {"sent": got.sent, "skipped": got.skipped, "failed": got.failed, "deferred": got.deferred, "parts": got.parts}


def sent(phone: str = PHONE, *, at: datetime = T0, parts: int = 2, campaign_id: str = CAMPAIGN) -> LedgerEntry:
    return LedgerEntry(SHOP, campaign_id, phone, SendState.SENT, at, provider_message_id=f"pm-{phone}", parts=parts)


def skipped(phone: str = PHONE, reason: str = SkipReason.NOT_SUBSCRIBED.value, *, campaign_id: str = CAMPAIGN) -> LedgerEntry:
    return LedgerEntry(SHOP, campaign_id, phone, SendState.SKIPPED, T0, reason=reason)


def interrupted(phone: str = PHONE) -> LedgerEntry:
    return LedgerEntry(SHOP, CAMPAIGN, phone, SendState.FAILED, T0, reason=FailReason.INTERRUPTED.value)


def line(entry: LedgerEntry) -> ConversationMessage:
    """The thread line the send worker writes with a sent message."""
    return ConversationMessage(
        entry.shop_id,
        entry.phone,
        entry.at,
        f"msg-{entry.phone}",
        Direction.OUTBOUND,
        "20% off",
        kind=MessageKind.CAMPAIGN,
        campaign_id=entry.campaign_id,
        provider_message_id=entry.provider_message_id,
    )


def delivered(entry: LedgerEntry, previous: SendState | None = SendState.CLAIMED) -> Settlement:
    """A sent message's settlement, with its thread line."""
    return Settlement(entry, previous, line(entry))


def lines() -> list[tuple[str, str | None]]:
    return sorted((row.thread_key, row.campaign_id) for row in MessageRow.scan())


@contextmanager
def transactions(*, tables: bool = False) -> Iterator[list[Any]]:
    """Count TransactWriteItems calls (and their sizes, or with ``tables`` the tables each one touches)."""
    seen: list[Any] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        items = json.loads(params["body"])["TransactItems"]
        if tables:
            seen.append({op["TableName"] for item in items for op in item.values()})
        else:
            seen.append(len(items))

    emitters = {id(e): e for e in (model._get_connection().connection.client.meta.events for model in ALL_TABLES)}
    for emitter in emitters.values():
        emitter.register("before-call.dynamodb.TransactWriteItems", count)
    try:
        yield seen
    finally:
        for emitter in emitters.values():
            emitter.unregister("before-call.dynamodb.TransactWriteItems", count)


class TestClaim:
    def test_claim_writes_claimed_rows_and_contact_windows(
        self, ledger: DynamoSendLedger, contacts: DynamoContactHistory
    ) -> None:
        got = ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2), T0)

        assert got == GroupClaim((PHONE, PHONE_2), {}) and got.campaign_running
        for phone in (PHONE, PHONE_2):
            claimed = row(phone)
            assert claimed is not None and (claimed.state, claimed.at, claimed.attempts) == ("claimed", T0, 1)
            item = ContactRow.get(thread_key(SHOP, phone), "window", consistent_read=True)
            assert item.expires_at == int((T0 + CONTACT_MEMORY).timestamp())
        assert contacts.windows(SHOP, [PHONE, PHONE_2, PHONE_3]) == {
            PHONE: ContactWindow((T0,), 1),
            PHONE_2: ContactWindow((T0,), 1),
            PHONE_3: ContactWindow(),
        }
        assert row(PHONE_3) is None

    def test_a_second_claim_is_taken(self, ledger: DynamoSendLedger, contacts: DynamoContactHistory) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0)
        windows = contacts.windows(SHOP, [PHONE, PHONE_2])
        again = [Claim(phone, None, windows[phone]) for phone in (PHONE, PHONE_2)]

        got = ledger.claim(SHOP, CAMPAIGN, again, T0 + timedelta(seconds=1))

        assert got == GroupClaim((PHONE_2,), {PHONE: ClaimRefusal.TAKEN})
        first = row()
        assert first is not None and (first.at, first.attempts) == (T0, 1)
        assert contacts.windows(SHOP, [PHONE])[PHONE] == ContactWindow((T0,), 1)

    def test_threads_racing_with_overlapping_groups_claim_each_recipient_once(self, ledger: DynamoSendLedger, race: Race) -> None:
        phones = [f"+1555555030{i}" for i in range(10)]
        for phone in phones:
            add_subscriber(phone)

        # Eight workers, each a group of five sliding over the ten phones: every phone is in up to five groups.
        results = race(8, lambda i: ledger.claim(SHOP, CAMPAIGN, claims(*phones[i : i + 5]), T0 + timedelta(milliseconds=i)))

        won = Counter(phone for result in results for phone in result.claimed)
        assert won == dict.fromkeys(phones, 1)
        assert {reason for result in results for reason in result.refused.values()} <= {ClaimRefusal.TAKEN}
        for i, result in enumerate(results):
            assert set(result.claimed) | set(result.refused) == set(phones[i : i + 5])
        for phone in phones:
            got = row(phone)
            assert got is not None and (got.state, got.attempts) == ("claimed", 1)
            assert ContactRow.get(thread_key(SHOP, phone), "window").version == 1

    def test_after_end_campaign_nothing_is_claimed(self, ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository) -> None:
        campaigns.save(campaigns.get(SHOP, CAMPAIGN).end(T0))

        got = ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2), T0)

        assert got == GroupClaim((), {PHONE: ClaimRefusal.CAMPAIGN_NOT_RUNNING, PHONE_2: ClaimRefusal.CAMPAIGN_NOT_RUNNING})
        assert not got.campaign_running
        assert list(SendLedgerRow.scan()) == [] and list(ContactRow.scan()) == []

    def test_a_campaign_that_is_not_running_or_missing_claims_nothing(
        self, ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository
    ) -> None:
        campaigns.create(new_campaign("draft"))
        # Another shop's campaign of the same id does not make it running.
        for shop_id, campaign_id in ((SHOP, "draft"), (SHOP, "missing"), (OTHER_SHOP, CAMPAIGN)):
            got = ledger.claim(shop_id, campaign_id, claims(PHONE, PHONE_2), T0)
            assert got.refused == dict.fromkeys((PHONE, PHONE_2), ClaimRefusal.CAMPAIGN_NOT_RUNNING)
            assert got.claimed == ()
        assert list(SendLedgerRow.scan()) == [] and list(ContactRow.scan()) == []

    def test_the_claim_writes_nothing_to_the_shops_subscribers_partition(self, ledger: DynamoSendLedger) -> None:
        # Consent reaches the claim through the contact window's version (a STOP moves it, see the consent tests
        # below); a condition check per recipient on the subscriber would be a write on the shop's one subscribers
        # partition key, past 1,000 WCU/s at a short code's rate.
        opt_out(PHONE_2)
        with transactions(tables=True) as touched:
            got = ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2, PHONE_3), T0)
        assert got == GroupClaim((PHONE, PHONE_2, PHONE_3), {})
        assert all(not any(table.endswith("subscribers") for table in tables) for tables in touched)

    def test_a_taken_recipient_whose_window_also_changed_is_taken_whatever_the_set_order(
        self, ledger: DynamoSendLedger, second: Campaign
    ) -> None:
        # Both conditions fail for each of these: the ledger must win, or the worker would decide again a recipient
        # another delivery holds (and which reason came back depended on set order).
        phones = [f"+1555555040{i}" for i in range(10)]
        for phone in phones:
            add_subscriber(phone)
        stale = claims(*phones)
        assert set(ledger.claim(SHOP, CAMPAIGN, stale, T0).claimed) == set(phones)
        windows = DynamoContactHistory().windows(SHOP, phones)
        moved_on = [Claim(phone, None, windows[phone]) for phone in phones]
        assert set(ledger.claim(SHOP, CAMPAIGN_2, moved_on, T0).claimed) == set(phones)  # the windows move on

        got = ledger.claim(SHOP, CAMPAIGN, stale, T0)  # a duplicate delivery with the windows it read at first

        assert got == GroupClaim((), dict.fromkeys(phones, ClaimRefusal.TAKEN))

    def test_a_stopped_campaign_wins_over_every_other_reason(
        self, ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository
    ) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0)
        assert ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2), T0).refused == {PHONE: ClaimRefusal.TAKEN}
        campaigns.save(campaigns.get(SHOP, CAMPAIGN).end(T0))

        got = ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2, PHONE_3), T0)

        assert got == GroupClaim((), dict.fromkeys((PHONE, PHONE_2, PHONE_3), ClaimRefusal.CAMPAIGN_NOT_RUNNING))
        assert row(PHONE_3) is None

    def test_a_finished_recipient_is_taken(self, ledger: DynamoSendLedger, contacts: DynamoContactHistory) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0)
        ledger.settle(SHOP, CAMPAIGN, [delivered(sent())])
        ledger.settle(SHOP, CAMPAIGN, [Settlement(skipped(PHONE_2), None)])
        windows = contacts.windows(SHOP, [PHONE, PHONE_2])

        got = ledger.claim(SHOP, CAMPAIGN, [Claim(p, None, windows[p]) for p in (PHONE, PHONE_2)], T0)

        assert got.refused == {PHONE: ClaimRefusal.TAKEN, PHONE_2: ClaimRefusal.TAKEN}
        assert [(r.phone, r.state) for r in (row(), row(PHONE_2)) if r] == [(PHONE, "sent"), (PHONE_2, "skipped")]

    def test_a_deferred_recipient_can_be_claimed_once(self, ledger: DynamoSendLedger, contacts: DynamoContactHistory) -> None:
        assert ledger.defer(SHOP, CAMPAIGN, [Deferral(PHONE, RELEASE, None)], T0) == 1

        first = ledger.claim(SHOP, CAMPAIGN, claims(PHONE, previous=SendState.DEFERRED), RELEASE)
        window = contacts.windows(SHOP, [PHONE])[PHONE]
        again = ledger.claim(SHOP, CAMPAIGN, [Claim(PHONE, SendState.DEFERRED, window)], RELEASE)

        assert first == GroupClaim((PHONE,), {}) and again == GroupClaim((), {PHONE: ClaimRefusal.TAKEN})
        got = row()
        assert got is not None and (got.state, got.at, got.attempts, got.release_at) == ("claimed", RELEASE, 1, RELEASE)

    def test_a_claim_from_the_wrong_previous_state_is_taken(self, ledger: DynamoSendLedger) -> None:
        ledger.defer(SHOP, CAMPAIGN, [Deferral(PHONE, RELEASE, None)], T0)

        got = ledger.claim(SHOP, CAMPAIGN, [Claim(PHONE, None), Claim(PHONE_2, SendState.DEFERRED), Claim(PHONE_3, None)], T0)

        # PHONE is deferred, not absent; PHONE_2 was never deferred.
        assert got == GroupClaim((PHONE_3,), {PHONE: ClaimRefusal.TAKEN, PHONE_2: ClaimRefusal.TAKEN})
        deferred = row()
        assert deferred is not None and deferred.state == "deferred"
        assert row(PHONE_2) is None

    def test_a_window_changed_since_it_was_read_is_refused_and_the_rest_claimed(
        self, ledger: DynamoSendLedger, contacts: DynamoContactHistory, second: Campaign
    ) -> None:
        read = contacts.windows(SHOP, [PHONE, PHONE_2])
        ledger.claim(SHOP, CAMPAIGN_2, claims(PHONE), T0)  # the other campaign got there first

        got = ledger.claim(SHOP, CAMPAIGN, [Claim(p, None, read[p]) for p in (PHONE, PHONE_2)], T0 + timedelta(seconds=1))

        assert got == GroupClaim((PHONE_2,), {PHONE: ClaimRefusal.CONTACTS_CHANGED})
        assert row(PHONE) is None
        assert contacts.windows(SHOP, [PHONE])[PHONE] == ContactWindow((T0,), 1)
        # Read again, the window is current and the claim goes through, counting both campaigns' messages.
        fresh = contacts.windows(SHOP, [PHONE])[PHONE]
        later = T0 + timedelta(seconds=2)
        assert ledger.claim(SHOP, CAMPAIGN, [Claim(PHONE, None, fresh)], later).claimed == (PHONE,)
        assert contacts.windows(SHOP, [PHONE])[PHONE] == ContactWindow((later, T0), 2)

    def test_the_frequency_cap_holds_across_concurrent_campaigns(
        self, ledger: DynamoSendLedger, contacts: DynamoContactHistory, second: Campaign, race: Race
    ) -> None:
        # Both workers read the same window (no message yet), so both would decide the cap allows one more.
        window = contacts.windows(SHOP, [PHONE])[PHONE]
        campaign_ids = (CAMPAIGN, CAMPAIGN_2)

        results = race(2, lambda i: ledger.claim(SHOP, campaign_ids[i], [Claim(PHONE, None, window)], T0))

        assert sorted(len(r.claimed) for r in results) == [0, 1]
        (loser,) = [r for r in results if not r.claimed]
        assert loser.refused == {PHONE: ClaimRefusal.CONTACTS_CHANGED}
        assert contacts.windows(SHOP, [PHONE])[PHONE] == ContactWindow((T0,), 1)
        assert sum(row(PHONE, c) is not None for c in campaign_ids) == 1

    def test_a_group_bigger_than_one_transaction_is_claimed_in_several(self, ledger: DynamoSendLedger) -> None:
        phones = [f"+155555510{i:02d}" for i in range(70)]
        for phone in phones:
            add_subscriber(phone)
        ledger.claim(SHOP, CAMPAIGN, claims(phones[50]), T0)  # taken before

        with transactions() as sizes:
            got = ledger.claim(SHOP, CAMPAIGN, claims(*phones), T0)

        assert set(got.claimed) == set(phones) - {phones[50]} and got.refused == {phones[50]: ClaimRefusal.TAKEN}
        assert len(got.claimed) == 69
        assert max(sizes) <= 100 and len(sizes) >= 2  # 49 + 21 recipients, and one more after the refusal
        assert {r.phone for r in SendLedgerRow.scan() if r.state == "claimed"} == set(phones)

    def test_duplicates_in_a_group_are_claimed_once(self, ledger: DynamoSendLedger) -> None:
        got = ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE, PHONE_2), T0)
        assert got == GroupClaim((PHONE, PHONE_2), {})
        claimed = row()
        assert claimed is not None and claimed.attempts == 1

    def test_get_many_returns_existing_rows_only(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0)
        ledger.defer(SHOP, CAMPAIGN, [Deferral(PHONE_2, RELEASE, None)], T0)

        got = ledger.get_many(SHOP, CAMPAIGN, [PHONE, PHONE_2, "+15555550199", PHONE])

        assert got == {
            PHONE: LedgerEntry(SHOP, CAMPAIGN, PHONE, SendState.CLAIMED, T0, attempts=1),
            PHONE_2: LedgerEntry(SHOP, CAMPAIGN, PHONE_2, SendState.DEFERRED, T0, release_at=RELEASE),
        }
        assert ledger.get_many(OTHER_SHOP, CAMPAIGN, [PHONE]) == {}
        assert ledger.get_many(SHOP, CAMPAIGN, []) == {}


class TestPartitions:
    def test_a_campaigns_rows_spread_over_partitions_and_are_all_found(self, ledger: DynamoSendLedger) -> None:
        phones = [f"+1555556{i:04d}" for i in range(200)]

        assert ledger.defer(SHOP, CAMPAIGN, [Deferral(p, RELEASE, None) for p in phones], T0) == 200

        keys = Counter(r.campaign_key for r in SendLedgerRow.scan())
        assert sum(keys.values()) == 200
        # 200 phones over 128 partitions: about a hundred distinct keys, none of them the campaign's bare key.
        assert len(keys) >= 64 and max(keys.values()) <= 10
        assert all(key.startswith(f"{campaign_key(SHOP, CAMPAIGN)}#") for key in keys)
        assert all(r.campaign_key == ledger_key(SHOP, CAMPAIGN, r.phone) for r in SendLedgerRow.scan())
        assert set(ledger.get_many(SHOP, CAMPAIGN, phones)) == set(phones)
        assert sorted(e.phone for e in ledger.rows(SHOP, CAMPAIGN)) == phones
        assert list(ledger.rows(SHOP, CAMPAIGN_2)) == [] and list(ledger.rows(OTHER_SHOP, CAMPAIGN)) == []
        assert counters()["deferred"] == 200


class TestContention:
    def test_a_conflicting_transaction_is_retried(self, running: Campaign, contention: Contention) -> None:
        slept: list[float] = []
        ledger = DynamoSendLedger(sleep=slept.append)
        with contention("TransactWriteItems", times=2) as answered:
            got = ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2), T0)
        assert got == GroupClaim((PHONE, PHONE_2), {})
        assert len(answered) == 2 and len(slept) == 2
        for phone in (PHONE, PHONE_2):
            claimed = row(phone)
            assert claimed is not None and claimed.attempts == 1

    def test_a_conflicting_settle_is_retried_and_counted_once(self, running: Campaign, contention: Contention) -> None:
        ledger = DynamoSendLedger(sleep=lambda seconds: None)
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0)
        with contention("TransactWriteItems", times=3):
            assert ledger.settle(SHOP, CAMPAIGN, [delivered(sent())]) == {PHONE}
        assert counters()["sent"] == 1 and totals()["sent"] == 1

    def test_lasting_contention_is_transient_and_writes_nothing(self, ledger: DynamoSendLedger, contention: Contention) -> None:
        with contention("TransactWriteItems", times=100), pytest.raises(TransientError):
            ledger.settle(SHOP, CAMPAIGN, [Settlement(skipped(), None), Settlement(skipped(PHONE_2), None)])
        with contention("TransactWriteItems", times=100), pytest.raises(TransientError):
            ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2), T0)
        with contention("TransactWriteItems", times=100), pytest.raises(TransientError):
            ledger.defer(SHOP, CAMPAIGN, [Deferral(PHONE, RELEASE, None)], T0)
        assert row() is None and row(PHONE_2) is None
        assert list(ContactRow.scan()) == [] and list(ReleaseWaveRow.scan()) == []
        assert counters()["done"] == 0 and counters()["deferred"] == 0
        assert read_totals(SHOP) == CampaignStats()


class TestSettle:
    def test_outcomes_are_recorded_and_counted_with_the_totals_and_thread_lines(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2), T0)

        recorded = ledger.settle(
            SHOP,
            CAMPAIGN,
            [delivered(sent(parts=2)), Settlement(interrupted(PHONE_2), SendState.CLAIMED), Settlement(skipped(PHONE_3), None)],
        )

        assert recorded == {PHONE, PHONE_2, PHONE_3}
        assert ledger.get_many(SHOP, CAMPAIGN, [PHONE])[PHONE] == replace(sent(parts=2), attempts=1)
        assert counters() == {"sent": 1, "skipped": 1, "failed": 1, "done": 3, "deferred": 0, "parts": 2}
        assert totals() == {"sent": 1, "skipped": 1, "failed": 1, "deferred": 0, "parts": 2}
        # Only the sent message has a line in its thread.
        assert lines() == [(thread_key(SHOP, PHONE), CAMPAIGN)]
        (message,) = MessageRow.scan()
        assert (message.body, message.provider_message_id, message.kind) == ("20% off", f"pm-{PHONE}", "campaign")
        # parts keeps the attribute name rows were written with before the rename: no migration
        item = SendLedgerRow.get(ledger_key(SHOP, CAMPAIGN, PHONE), PHONE)
        assert item.attribute_values["parts"] == 2 and "segments" in item.serialize()

    def test_settling_twice_counts_once(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2), T0)
        group = [delivered(sent()), delivered(sent(PHONE_2))]
        assert ledger.settle(SHOP, CAMPAIGN, group) == {PHONE, PHONE_2}

        assert ledger.settle(SHOP, CAMPAIGN, group) == frozenset()
        assert ledger.settle(SHOP, CAMPAIGN, [Settlement(interrupted(), SendState.CLAIMED)]) == frozenset()

        assert counters() == {"sent": 2, "skipped": 0, "failed": 0, "done": 2, "deferred": 0, "parts": 4}
        assert totals() == {"sent": 2, "skipped": 0, "failed": 0, "deferred": 0, "parts": 4}
        assert len(lines()) == 2

    def test_racing_settles_count_once(self, ledger: DynamoSendLedger, race: Race) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2), T0)

        def settle(i: int) -> frozenset[str]:
            if i % 2:
                return ledger.settle(SHOP, CAMPAIGN, [delivered(sent()), delivered(sent(PHONE_2))])
            return ledger.settle(SHOP, CAMPAIGN, [Settlement(interrupted(p), SendState.CLAIMED) for p in (PHONE, PHONE_2)])

        results = race(6, settle)

        assert Counter(phone for result in results for phone in result) == {PHONE: 1, PHONE_2: 1}
        done = counters()
        assert done["done"] == 2 and done["sent"] + done["failed"] == 2
        assert totals()["sent"] + totals()["failed"] == 2 and totals()["sent"] == done["sent"]
        assert len(lines()) == done["sent"]

    def test_a_wrong_previous_writes_nothing_for_that_phone_and_the_rest_is_recorded(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0)

        recorded = ledger.settle(
            SHOP,
            CAMPAIGN,
            [
                Settlement(skipped(), None),  # the row exists: it is not absent
                delivered(sent(PHONE_2)),  # never claimed
                Settlement(skipped(PHONE_3), SendState.DEFERRED),  # never deferred
                Settlement(skipped("+15555550140"), None),  # absent, as the worker saw it
            ],
        )

        assert recorded == {"+15555550140"}
        got = row()
        assert got is not None and got.state == "claimed"
        assert row(PHONE_2) is None and row(PHONE_3) is None
        assert counters() == {"sent": 0, "skipped": 1, "failed": 0, "done": 1, "deferred": 0, "parts": 0}
        assert totals()["skipped"] == 1 and totals()["sent"] == 0
        assert lines() == []

    def test_skipping_a_deferred_recipient(self, ledger: DynamoSendLedger) -> None:
        ledger.defer(SHOP, CAMPAIGN, [Deferral(PHONE, RELEASE, None)], T0)

        assert ledger.settle(SHOP, CAMPAIGN, [Settlement(skipped(), SendState.DEFERRED)]) == {PHONE}
        assert ledger.settle(SHOP, CAMPAIGN, [Settlement(skipped(), SendState.DEFERRED)]) == frozenset()
        assert counters() == {"sent": 0, "skipped": 1, "failed": 0, "done": 1, "deferred": 1, "parts": 0}

    def test_non_final_outcomes_and_final_previous_states_are_refused(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0)
        with pytest.raises(InvalidInput):
            ledger.settle(SHOP, CAMPAIGN, [delivered(sent()), Settlement(replace(sent(PHONE_2), state=SendState.CLAIMED), None)])
        with pytest.raises(InvalidInput):
            ledger.settle(SHOP, CAMPAIGN, [Settlement(replace(skipped(PHONE_2), state=SendState.DEFERRED), None)])
        with pytest.raises(InvalidInput):
            ledger.settle(SHOP, CAMPAIGN, [delivered(sent()), Settlement(sent(PHONE_2), SendState.SENT)])
        # A refused group writes nothing, not even its valid part.
        got = row()
        assert got is not None and got.state == "claimed"
        assert counters()["done"] == 0 and lines() == []

    def test_a_missing_campaign_is_neither_recorded_nor_created(self, ledger: DynamoSendLedger) -> None:
        ghost = [Settlement(skipped(campaign_id="gone"), None), delivered(sent(PHONE_2, campaign_id="gone"), None)]

        assert ledger.settle(SHOP, "gone", ghost) == frozenset()

        assert list(SendLedgerRow.scan()) == [] and lines() == []
        assert [c.campaign_id for c in CampaignRow.scan()] == [CAMPAIGN]
        assert read_totals(SHOP) == CampaignStats()

    def test_outcomes_are_recorded_after_end_campaign(
        self, ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository
    ) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2), T0)
        campaigns.save(campaigns.get(SHOP, CAMPAIGN).end(T0))

        # The sends in flight when End returned still get their outcomes recorded and counted.
        assert ledger.settle(SHOP, CAMPAIGN, [delivered(sent()), delivered(sent(PHONE_2))]) == {PHONE, PHONE_2}
        assert campaigns.get(SHOP, CAMPAIGN).stats.sent == 2 and totals()["sent"] == 2

    def test_released_rows_go_back_to_absent_and_settled_rows_stay(
        self, ledger: DynamoSendLedger, contacts: DynamoContactHistory
    ) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE, PHONE_2), T0)
        ledger.defer(SHOP, CAMPAIGN, [Deferral(PHONE_3, RELEASE, None)], T0)

        # PHONE is settled in the same call (a redelivery raced with it), PHONE_3 is deferred, the last one absent.
        released = [released_unsent(phone) for phone in (PHONE, PHONE_2, PHONE_3, "+15555550199")]
        recorded = ledger.settle(SHOP, CAMPAIGN, [delivered(sent())], released=released)

        assert recorded == {PHONE}
        settled, deferred = row(), row(PHONE_3)
        assert settled is not None and settled.state == "sent"
        assert deferred is not None and deferred.state == "deferred"
        assert row(PHONE_2) is None
        assert counters() == {"sent": 1, "skipped": 0, "failed": 0, "done": 1, "deferred": 1, "parts": 2}
        window = contacts.windows(SHOP, [PHONE_2])[PHONE_2]
        # its unsent message is out of its contact window again, which moved on one version
        assert window == ContactWindow((), version=2)
        assert ledger.claim(SHOP, CAMPAIGN, [Claim(PHONE_2, None, window)], T0).claimed == (PHONE_2,)

    def test_only_releasing_writes_no_counters(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0)
        assert ledger.settle(SHOP, CAMPAIGN, [], released=[released_unsent(PHONE)]) == frozenset()
        assert row() is None
        assert counters()["done"] == 0 and read_totals(SHOP) == CampaignStats()

    def test_a_group_bigger_than_one_transaction_is_settled_in_several(self, ledger: DynamoSendLedger) -> None:
        phones = [f"+155555520{i:02d}" for i in range(70)]

        with transactions() as sizes:
            recorded = ledger.settle(SHOP, CAMPAIGN, [Settlement(skipped(p), None) for p in phones])

        assert recorded == set(phones) and len(sizes) >= 2 and max(sizes) <= 100
        assert counters()["skipped"] == 70 and counters()["done"] == 70 and totals()["skipped"] == 70


class TestDefer:
    def test_first_deferrals_count_and_list_in_their_waves(self, ledger: DynamoSendLedger) -> None:
        got = ledger.defer(SHOP, CAMPAIGN, [Deferral(PHONE, RELEASE, None), Deferral(PHONE_2, RELEASE_LATER, None)], T0)

        assert got == 2
        first = row()
        assert first is not None and (first.state, first.release_at, first.at) == ("deferred", RELEASE, T0)
        assert counters()["deferred"] == 2 and totals()["deferred"] == 2
        assert ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=10, cursor=None).items == [PHONE]
        assert ledger.wave(SHOP, CAMPAIGN, RELEASE_LATER, limit=10, cursor=None).items == [PHONE_2]
        assert {w.wave_key for w in ReleaseWaveRow.scan()} == {
            wave_key(SHOP, CAMPAIGN, RELEASE, PHONE),
            wave_key(SHOP, CAMPAIGN, RELEASE_LATER, PHONE_2),
        }

    def test_the_same_instant_in_another_offset_is_the_same_wave(self, ledger: DynamoSendLedger) -> None:
        eastern = RELEASE.astimezone(timezone(timedelta(hours=-5)))
        ledger.defer(SHOP, CAMPAIGN, [Deferral(PHONE, eastern, None)], T0)
        assert ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=10, cursor=None).items == [PHONE]
        assert wave_key(SHOP, CAMPAIGN, eastern, PHONE) == wave_key(SHOP, CAMPAIGN, RELEASE, PHONE)

    def test_deferring_again_moves_it_and_counts_nothing(self, ledger: DynamoSendLedger) -> None:
        assert ledger.defer(SHOP, CAMPAIGN, [Deferral(PHONE, RELEASE, None)], T0) == 1

        later = T0 + timedelta(hours=1)
        assert (
            ledger.defer(
                SHOP,
                CAMPAIGN,
                [Deferral(PHONE, RELEASE_LATER, SendState.DEFERRED, moved_from=RELEASE), Deferral(PHONE_2, RELEASE, None)],
                later,
            )
            == 1
        )

        got = row()
        assert got is not None and (got.state, got.release_at) == ("deferred", RELEASE_LATER)
        assert counters()["deferred"] == 2 and totals()["deferred"] == 2
        assert ledger.wave(SHOP, CAMPAIGN, RELEASE_LATER, limit=10, cursor=None).items == [PHONE]
        # the wave it left no longer lists it (nothing for erasure to miss), the newcomer stays
        assert ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=10, cursor=None).items == [PHONE_2]

    def test_racing_deferrals_count_once(self, ledger: DynamoSendLedger, race: Race) -> None:
        group = [Deferral(phone, RELEASE, None) for phone in (PHONE, PHONE_2, PHONE_3)]

        results = race(6, lambda i: ledger.defer(SHOP, CAMPAIGN, group, T0))

        assert sum(results) == 3
        assert counters()["deferred"] == 3 and totals()["deferred"] == 3
        assert sorted(ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=10, cursor=None).items) == [PHONE, PHONE_2, PHONE_3]

    def test_claimed_or_finished_recipients_are_not_deferred_and_the_rest_is(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0)
        ledger.settle(SHOP, CAMPAIGN, [Settlement(skipped(PHONE_2), None)])

        deferrals: Sequence[Deferral] = [
            Deferral(PHONE, RELEASE, None),
            Deferral(PHONE, RELEASE, SendState.DEFERRED),
            Deferral(PHONE_2, RELEASE, None),
            Deferral(PHONE_3, RELEASE, None),
        ]
        assert ledger.defer(SHOP, CAMPAIGN, deferrals[:1], T0) == 0
        assert ledger.defer(SHOP, CAMPAIGN, deferrals[1:], T0) == 1

        claimed, finished = row(), row(PHONE_2)
        assert claimed is not None and claimed.state == "claimed" and claimed.release_at is None
        assert finished is not None and finished.state == "skipped"
        assert [w.phone for w in ReleaseWaveRow.scan()] == [PHONE_3]
        assert counters()["deferred"] == 1 and totals()["deferred"] == 1

    def test_deferring_for_a_missing_campaign_writes_nothing(self, ledger: DynamoSendLedger) -> None:
        assert ledger.defer(SHOP, "gone", [Deferral(PHONE, RELEASE, None), Deferral(PHONE_2, RELEASE, None)], T0) == 0
        assert list(SendLedgerRow.scan()) == [] and list(ReleaseWaveRow.scan()) == []
        assert [c.campaign_id for c in CampaignRow.scan()] == [CAMPAIGN]
        assert read_totals(SHOP) == CampaignStats()


class TestWavePartitions:
    def test_a_big_wave_pages_across_its_partitions_each_phone_once(self, ledger: DynamoSendLedger) -> None:
        phones = [f"+1555555{n:04d}" for n in range(3000, 3060)]
        ledger.defer(SHOP, CAMPAIGN, [Deferral(p, RELEASE, None) for p in phones], T0)
        assert len({w.wave_key for w in ReleaseWaveRow.scan()}) == WAVE_SHARDS  # spread, not one hot partition
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(20):
            page = ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=7, cursor=cursor)
            assert len(page.items) <= 7
            seen.extend(page.items)
            cursor = page.cursor
            if cursor is None:
                break
        assert sorted(seen) == phones and len(seen) == len(phones)


class TestWave:
    @pytest.fixture
    def waiting(self, ledger: DynamoSendLedger) -> list[str]:
        phones = [f"+1555555020{i}" for i in range(5)]
        ledger.defer(SHOP, CAMPAIGN, [Deferral(p, RELEASE, None) for p in phones] + [Deferral(PHONE, RELEASE_LATER, None)], T0)
        return phones

    def test_pages_cover_the_wave_once(self, ledger: DynamoSendLedger, waiting: list[str]) -> None:
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(5):
            page = ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=2, cursor=cursor)
            seen.extend(page.items)
            cursor = page.cursor
            if cursor is None:
                break
        assert sorted(seen) == waiting and len(seen) == len(waiting)  # partition by partition, each phone once
        assert ledger.wave(SHOP, CAMPAIGN, RELEASE_LATER, limit=10, cursor=None).items == [PHONE]
        assert ledger.wave(OTHER_SHOP, CAMPAIGN, RELEASE, limit=10, cursor=None).items == []

    def test_a_cursor_of_another_wave_or_shop_is_refused(self, ledger: DynamoSendLedger, waiting: list[str]) -> None:
        cursor = ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=1, cursor=None).cursor
        assert cursor is not None
        with pytest.raises(InvalidInput):
            ledger.wave(SHOP, CAMPAIGN, RELEASE_LATER, limit=1, cursor=cursor)
        with pytest.raises(InvalidInput):
            ledger.wave(OTHER_SHOP, CAMPAIGN, RELEASE, limit=1, cursor=cursor)
        forged = encode_cursor({"wave_key": {"S": wave_key(OTHER_SHOP, CAMPAIGN, RELEASE, PHONE)}, "phone": {"S": PHONE}})
        with pytest.raises(InvalidInput):
            ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=1, cursor=forged)


class TestContactHistory:
    def test_a_window_holds_the_claims_of_a_subscriber(self, ledger: DynamoSendLedger, contacts: DynamoContactHistory) -> None:
        ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0)
        ledger.settle(SHOP, CAMPAIGN, [Settlement(skipped(PHONE_2), None)])  # a skip is no contact

        got = contacts.windows(SHOP, [PHONE, PHONE_2, PHONE])

        assert got == {PHONE: ContactWindow((T0,), 1), PHONE_2: ContactWindow()}
        assert got[PHONE].count_since(T0 - timedelta(days=1)) == 1
        assert got[PHONE].count_since(T0) == 1
        assert got[PHONE].count_since(T0 + timedelta(microseconds=1)) == 0
        assert contacts.windows(OTHER_SHOP, [PHONE]) == {PHONE: ContactWindow()}
        assert contacts.windows(SHOP, []) == {}

    def test_counts_every_campaign(self, ledger: DynamoSendLedger, contacts: DynamoContactHistory, second: Campaign) -> None:
        for campaign_id, at in ((CAMPAIGN, T0), (CAMPAIGN_2, T0 + timedelta(hours=2))):
            window = contacts.windows(SHOP, [PHONE])[PHONE]
            assert ledger.claim(SHOP, campaign_id, [Claim(PHONE, None, window)], at).claimed == (PHONE,)
            assert ledger.settle(SHOP, campaign_id, [delivered(sent(at=at, campaign_id=campaign_id))]) == {PHONE}

        window = contacts.windows(SHOP, [PHONE])[PHONE]
        assert window.version == 2
        assert window.count_since(T0) == 2
        assert window.count_since(T0 + timedelta(hours=1)) == 1
        (item,) = ContactRow.scan()
        assert (item.subscriber_key, item.sent_key) == (f"{SHOP}#{PHONE}", "window")
        assert item.expires_at == int((T0 + timedelta(hours=2) + CONTACT_MEMORY).timestamp())


class TestConsentReachesTheClaim:
    """A consent change that leaves a number not active moves its contact window in the same transaction, so a group
    that read the window before cannot claim the number: the send path needs no consent read per group."""

    def store(self) -> DynamoSubscriberStore:
        return DynamoSubscriberStore(FrozenClock(T0))

    def active(self, store: DynamoSubscriberStore, phone: str) -> Subscriber:
        found = store.get(SHOP, phone)  # the running campaign's three active subscribers
        assert found is not None and found.status is SubscriberStatus.ACTIVE
        return found

    def test_a_stop_after_the_window_read_refuses_the_claim(
        self, ledger: DynamoSendLedger, contacts: DynamoContactHistory
    ) -> None:
        store = self.store()
        stopper, other = self.active(store, PHONE), self.active(store, PHONE_2)
        windows = contacts.windows(SHOP, [PHONE, PHONE_2])
        assert windows[PHONE] == ContactWindow() and ContactRow.count() == 0

        store.apply(SubscriberChange(subscriber=stopper.opt_out(T0), expected_version=stopper.version))
        got = ledger.claim(SHOP, CAMPAIGN, [Claim(p, None, windows[p]) for p in (PHONE, PHONE_2)], T0)

        assert got == GroupClaim((PHONE_2,), {PHONE: ClaimRefusal.CONTACTS_CHANGED})
        assert row(PHONE) is None and other.status is SubscriberStatus.ACTIVE
        moved = contacts.windows(SHOP, [PHONE])[PHONE]
        assert moved == ContactWindow((), 1)  # a new version, no message, and an expiry like any window
        stored = ContactRow.get(thread_key(SHOP, PHONE), "window")
        assert stored.expires_at == int((T0 + CONTACT_MEMORY).timestamp())

    def test_the_window_keeps_its_messages_and_its_expiry(self, ledger: DynamoSendLedger, contacts: DynamoContactHistory) -> None:
        store = self.store()
        stopper = self.active(store, PHONE)
        ledger.claim(SHOP, CAMPAIGN, [Claim(PHONE, None, ContactWindow())], T0)
        before = contacts.windows(SHOP, [PHONE])[PHONE]
        expiry = ContactRow.get(thread_key(SHOP, PHONE), "window").expires_at

        later = T0 + timedelta(days=3)
        store.apply(SubscriberChange(subscriber=stopper.opt_out(later), expected_version=stopper.version))

        after = contacts.windows(SHOP, [PHONE])[PHONE]
        assert after.sent == before.sent and after.version == before.version + 1
        assert ContactRow.get(thread_key(SHOP, PHONE), "window").expires_at == expiry

    def test_a_change_that_keeps_the_number_active_moves_nothing(self, contacts: DynamoContactHistory) -> None:
        store = self.store()
        sub = self.active(store, PHONE)
        renamed = replace(sub, name="Ada", updated_at=T0 + timedelta(minutes=1))
        store.apply(SubscriberChange(subscriber=renamed, expected_version=sub.version))
        assert contacts.windows(SHOP, [PHONE])[PHONE] == ContactWindow() and ContactRow.count() == 0
