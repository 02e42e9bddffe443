"""DynamoSendLedger and DynamoContactHistory on moto: the claim that precedes every send holds against
racing workers, End Campaign and STOP; outcomes are counted once; deferrals and releases stay consistent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.cursors import encode_cursor
from chalicelib.adapters.dynamo.keys import campaign_key, wave_key
from chalicelib.adapters.dynamo.ledger import DynamoContactHistory, DynamoSendLedger
from chalicelib.adapters.dynamo.subscribers import subscriber_to_row
from chalicelib.adapters.dynamo.tables import CampaignRow, ContactRow, ReleaseWaveRow, SendLedgerRow, SubscriberRow
from chalicelib.domain.campaigns import Campaign, CampaignStatus
from chalicelib.domain.errors import InvalidInput, TransientError
from chalicelib.domain.sending import FailReason, LedgerEntry, SendState, SkipReason
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberStatus
from chalicelib.services.ports import ClaimResult
from tests.integration.conftest import Contention, Race

SHOP = "alpha.myshopify.com"
OTHER_SHOP = "beta.myshopify.com"
CAMPAIGN = "c001"
PHONE = "+15555550123"
PHONE_2 = "+15555550124"
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
    """An In Progress campaign with two active subscribers."""
    add_subscriber(PHONE)
    add_subscriber(PHONE_2)
    return campaigns.save(campaigns.create(new_campaign()).start(T0, {"all": []}))


@pytest.fixture
def ledger(running: Campaign) -> DynamoSendLedger:
    return DynamoSendLedger(sleep=lambda seconds: None)


def row(phone: str = PHONE) -> SendLedgerRow | None:
    try:
        return SendLedgerRow.get(campaign_key(SHOP, CAMPAIGN), phone, consistent_read=True)
    except SendLedgerRow.DoesNotExist:
        return None


def counters() -> dict[str, int]:
    got = CampaignRow.get(SHOP, CAMPAIGN, consistent_read=True)
    names = ("sent", "skipped", "failed", "done", "deferred", "parts")
    return {name: int(getattr(got, name)) for name in names}


def sent(phone: str = PHONE, *, at: datetime = T0, parts: int = 2) -> LedgerEntry:
    return LedgerEntry(SHOP, CAMPAIGN, phone, SendState.SENT, at, provider_message_id="pm-1", parts=parts)


def skipped(phone: str = PHONE, reason: str = SkipReason.NOT_SUBSCRIBED.value) -> LedgerEntry:
    return LedgerEntry(SHOP, CAMPAIGN, phone, SendState.SKIPPED, T0, reason=reason)


class TestClaim:
    def test_claim_writes_a_claimed_row(self, ledger: DynamoSendLedger) -> None:
        assert ledger.claim(SHOP, CAMPAIGN, PHONE, T0) is ClaimResult.CLAIMED
        got = row()
        assert got is not None
        assert (got.state, got.at, got.attempts) == ("claimed", T0, 1)

    def test_a_second_claim_is_taken(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)
        assert ledger.claim(SHOP, CAMPAIGN, PHONE, T0 + timedelta(seconds=1)) is ClaimResult.TAKEN
        got = row()
        assert got is not None and (got.at, got.attempts) == (T0, 1)

    def test_threads_racing_for_one_recipient_claim_it_once(self, ledger: DynamoSendLedger, race: Race) -> None:
        results = race(8, lambda i: ledger.claim(SHOP, CAMPAIGN, PHONE, T0 + timedelta(milliseconds=i)))

        assert Counter(results) == {ClaimResult.CLAIMED: 1, ClaimResult.TAKEN: 7}
        got = row()
        assert got is not None and (got.state, got.attempts) == ("claimed", 1)

    def test_after_end_campaign_nothing_is_claimed(self, ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository) -> None:
        current = campaigns.get(SHOP, CAMPAIGN)
        campaigns.save(current.end(T0))

        assert ledger.claim(SHOP, CAMPAIGN, PHONE, T0) is ClaimResult.CAMPAIGN_NOT_RUNNING
        assert row() is None

    def test_a_campaign_that_is_not_running_or_missing_claims_nothing(
        self, ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository
    ) -> None:
        campaigns.create(new_campaign("draft"))
        assert ledger.claim(SHOP, "draft", PHONE, T0) is ClaimResult.CAMPAIGN_NOT_RUNNING
        assert ledger.claim(SHOP, "missing", PHONE, T0) is ClaimResult.CAMPAIGN_NOT_RUNNING
        # Another shop's campaign of the same id does not make it running.
        assert ledger.claim(OTHER_SHOP, CAMPAIGN, PHONE, T0) is ClaimResult.CAMPAIGN_NOT_RUNNING
        assert list(SendLedgerRow.scan()) == []

    def test_after_stop_nothing_is_claimed(self, ledger: DynamoSendLedger) -> None:
        opt_out(PHONE)
        assert ledger.claim(SHOP, CAMPAIGN, PHONE, T0) is ClaimResult.NOT_SUBSCRIBED
        assert row() is None

    def test_unknown_pending_or_other_shops_subscribers_are_not_subscribed(self, ledger: DynamoSendLedger) -> None:
        add_subscriber("+15555550125", status=SubscriberStatus.PENDING)
        add_subscriber("+15555550126", shop_id=OTHER_SHOP)
        for phone in ("+15555550125", "+15555550126", "+15555550199"):
            assert ledger.claim(SHOP, CAMPAIGN, phone, T0) is ClaimResult.NOT_SUBSCRIBED
        assert list(SendLedgerRow.scan()) == []

    def test_a_stopped_campaign_wins_over_every_other_reason(
        self, ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository
    ) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)
        opt_out(PHONE)
        assert ledger.claim(SHOP, CAMPAIGN, PHONE, T0) is ClaimResult.NOT_SUBSCRIBED
        campaigns.save(campaigns.get(SHOP, CAMPAIGN).end(T0))
        assert ledger.claim(SHOP, CAMPAIGN, PHONE, T0) is ClaimResult.CAMPAIGN_NOT_RUNNING

    def test_a_finished_recipient_is_taken(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)
        ledger.finish(sent(), previous=SendState.CLAIMED)
        assert ledger.claim(SHOP, CAMPAIGN, PHONE, T0) is ClaimResult.TAKEN
        got = row()
        assert got is not None and got.state == "sent"

    def test_a_deferred_recipient_can_be_claimed_once(self, ledger: DynamoSendLedger) -> None:
        assert ledger.defer(SHOP, CAMPAIGN, PHONE, RELEASE, T0)

        assert ledger.claim(SHOP, CAMPAIGN, PHONE, RELEASE) is ClaimResult.CLAIMED
        assert ledger.claim(SHOP, CAMPAIGN, PHONE, RELEASE) is ClaimResult.TAKEN
        got = row()
        assert got is not None and (got.state, got.at, got.attempts, got.release_at) == ("claimed", RELEASE, 1, RELEASE)

    def test_get_many_returns_existing_rows_only(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)
        ledger.defer(SHOP, CAMPAIGN, PHONE_2, RELEASE, T0)

        got = ledger.get_many(SHOP, CAMPAIGN, [PHONE, PHONE_2, "+15555550199", PHONE])

        assert got == {
            PHONE: LedgerEntry(SHOP, CAMPAIGN, PHONE, SendState.CLAIMED, T0, attempts=1),
            PHONE_2: LedgerEntry(SHOP, CAMPAIGN, PHONE_2, SendState.DEFERRED, T0, release_at=RELEASE),
        }
        assert ledger.get_many(OTHER_SHOP, CAMPAIGN, [PHONE]) == {}
        assert ledger.get_many(SHOP, CAMPAIGN, []) == {}


class TestContention:
    def test_a_conflicting_transaction_is_retried(self, running: Campaign, contention: Contention) -> None:
        slept: list[float] = []
        ledger = DynamoSendLedger(sleep=slept.append)
        with contention("TransactWriteItems", times=2) as answered:
            assert ledger.claim(SHOP, CAMPAIGN, PHONE, T0) is ClaimResult.CLAIMED
        assert len(answered) == 2 and len(slept) == 2
        got = row()
        assert got is not None and got.attempts == 1

    def test_lasting_contention_is_transient_and_writes_nothing(self, ledger: DynamoSendLedger, contention: Contention) -> None:
        with contention("TransactWriteItems", times=100), pytest.raises(TransientError):
            ledger.finish(skipped(), previous=None)
        assert row() is None
        assert counters()["done"] == 0


class TestFinish:
    def test_sent_is_recorded_and_counted_with_the_contact(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)

        assert ledger.finish(sent(parts=2), previous=SendState.CLAIMED)

        assert ledger.get_many(SHOP, CAMPAIGN, [PHONE])[PHONE] == replace(sent(parts=2), attempts=1)
        assert counters() == {"sent": 1, "skipped": 0, "failed": 0, "done": 1, "deferred": 0, "parts": 2}
        # parts keeps the attribute name rows were written with before the rename: no migration
        (item,) = SendLedgerRow.scan()
        assert item.attribute_values["parts"] == 2 and "segments" in item.serialize()
        (contact,) = ContactRow.scan()
        assert (contact.subscriber_key, contact.sent_key) == (f"{SHOP}#{PHONE}", f"2025-03-01T12:00:00.123456Z#{CAMPAIGN}")
        assert contact.expires_at == int((T0 + timedelta(days=100)).timestamp())

    def test_finishing_twice_counts_once(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)
        assert ledger.finish(sent(), previous=SendState.CLAIMED)

        assert not ledger.finish(sent(), previous=SendState.CLAIMED)
        assert not ledger.finish(replace(sent(), state=SendState.FAILED, reason="interrupted"), previous=SendState.CLAIMED)
        assert counters()["done"] == 1 and counters()["sent"] == 1 and counters()["failed"] == 0
        assert len(list(ContactRow.scan())) == 1

    def test_racing_redeliveries_count_once(self, ledger: DynamoSendLedger, race: Race) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)
        interrupted = LedgerEntry(SHOP, CAMPAIGN, PHONE, SendState.FAILED, T0, reason=FailReason.INTERRUPTED.value)

        results = race(6, lambda i: ledger.finish(sent() if i % 2 else interrupted, previous=SendState.CLAIMED))

        assert results.count(True) == 1
        done = counters()
        assert done["done"] == 1 and done["sent"] + done["failed"] == 1
        assert len(list(ContactRow.scan())) == done["sent"]

    def test_from_the_wrong_previous_state_nothing_is_written(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)

        assert not ledger.finish(skipped(), previous=None)  # the row exists: it is not absent
        assert not ledger.finish(skipped(), previous=SendState.DEFERRED)
        assert not ledger.finish(sent(PHONE_2), previous=SendState.CLAIMED)  # never claimed

        got = row()
        assert got is not None and got.state == "claimed"
        assert row(PHONE_2) is None
        assert counters()["done"] == 0
        assert list(ContactRow.scan()) == []

    def test_skipping_an_absent_recipient(self, ledger: DynamoSendLedger) -> None:
        assert ledger.finish(skipped(reason=SkipReason.FREQUENCY_CAP.value), previous=None)

        got = row()
        assert got is not None and (got.state, got.reason) == ("skipped", "frequency_cap")
        assert counters() == {"sent": 0, "skipped": 1, "failed": 0, "done": 1, "deferred": 0, "parts": 0}
        assert not ledger.finish(skipped(), previous=None)
        assert list(ContactRow.scan()) == []

    def test_skipping_a_deferred_recipient(self, ledger: DynamoSendLedger) -> None:
        ledger.defer(SHOP, CAMPAIGN, PHONE, RELEASE, T0)

        assert ledger.finish(skipped(), previous=SendState.DEFERRED)
        assert not ledger.finish(skipped(), previous=SendState.DEFERRED)
        assert counters() == {"sent": 0, "skipped": 1, "failed": 0, "done": 1, "deferred": 1, "parts": 0}

    def test_non_final_outcomes_and_final_previous_states_are_refused(self, ledger: DynamoSendLedger) -> None:
        with pytest.raises(InvalidInput):
            ledger.finish(replace(sent(), state=SendState.CLAIMED), previous=None)
        with pytest.raises(InvalidInput):
            ledger.finish(sent(), previous=SendState.SENT)

    def test_a_missing_campaign_is_neither_recorded_nor_created(self, ledger: DynamoSendLedger) -> None:
        ghost = replace(skipped(), campaign_id="gone")
        assert not ledger.finish(ghost, previous=None)
        assert list(SendLedgerRow.scan()) == []
        assert [c.campaign_id for c in CampaignRow.scan()] == [CAMPAIGN]

    def test_an_outcome_is_recorded_after_end_campaign(
        self, ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository
    ) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)
        campaigns.save(campaigns.get(SHOP, CAMPAIGN).end(T0))

        # The send in flight when End returned still gets its outcome recorded and counted.
        assert ledger.finish(sent(), previous=SendState.CLAIMED)
        assert campaigns.get(SHOP, CAMPAIGN).stats.sent == 1


class TestDefer:
    def test_first_deferral_counts_and_lists_in_its_wave(self, ledger: DynamoSendLedger) -> None:
        assert ledger.defer(SHOP, CAMPAIGN, PHONE, RELEASE, T0)

        got = row()
        assert got is not None and (got.state, got.release_at, got.at) == ("deferred", RELEASE, T0)
        assert counters()["deferred"] == 1
        assert ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=10, cursor=None).items == [PHONE]
        (wave,) = ReleaseWaveRow.scan()
        assert wave.wave_key == f"{SHOP}#{CAMPAIGN}#2025-03-01T13:00:00.000000Z"

    def test_the_same_instant_in_another_offset_is_the_same_wave(self, ledger: DynamoSendLedger) -> None:
        eastern = RELEASE.astimezone(timezone(timedelta(hours=-5)))
        ledger.defer(SHOP, CAMPAIGN, PHONE, eastern, T0)
        assert ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=10, cursor=None).items == [PHONE]
        assert wave_key(SHOP, CAMPAIGN, eastern) == wave_key(SHOP, CAMPAIGN, RELEASE)

    def test_deferring_again_moves_it_and_counts_once(self, ledger: DynamoSendLedger) -> None:
        assert ledger.defer(SHOP, CAMPAIGN, PHONE, RELEASE, T0)
        assert not ledger.defer(SHOP, CAMPAIGN, PHONE, RELEASE_LATER, T0 + timedelta(hours=1))

        got = row()
        assert got is not None and (got.state, got.release_at) == ("deferred", RELEASE_LATER)
        assert counters()["deferred"] == 1
        assert ledger.wave(SHOP, CAMPAIGN, RELEASE_LATER, limit=10, cursor=None).items == [PHONE]

    def test_racing_deferrals_count_once(self, ledger: DynamoSendLedger, race: Race) -> None:
        results = race(6, lambda i: ledger.defer(SHOP, CAMPAIGN, PHONE, RELEASE, T0))
        assert results.count(True) == 1
        assert counters()["deferred"] == 1

    def test_a_claimed_or_finished_recipient_is_not_deferred(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)
        ledger.finish(skipped(PHONE_2), previous=None)

        assert not ledger.defer(SHOP, CAMPAIGN, PHONE, RELEASE, T0)
        assert not ledger.defer(SHOP, CAMPAIGN, PHONE_2, RELEASE, T0)

        claimed, finished = row(), row(PHONE_2)
        assert claimed is not None and claimed.state == "claimed" and claimed.release_at is None
        assert finished is not None and finished.state == "skipped"
        assert list(ReleaseWaveRow.scan()) == []
        assert counters()["deferred"] == 0

    def test_deferring_for_a_missing_campaign_writes_nothing(self, ledger: DynamoSendLedger) -> None:
        assert not ledger.defer(SHOP, "gone", PHONE, RELEASE, T0)
        assert list(SendLedgerRow.scan()) == [] and list(ReleaseWaveRow.scan()) == []


class TestUnclaim:
    def test_a_claimed_row_goes_back_to_absent_and_can_be_claimed_again(self, ledger: DynamoSendLedger) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)
        ledger.unclaim(SHOP, CAMPAIGN, PHONE)

        assert row() is None
        assert ledger.claim(SHOP, CAMPAIGN, PHONE, T0) is ClaimResult.CLAIMED

    def test_other_states_are_left_alone(self, ledger: DynamoSendLedger) -> None:
        ledger.defer(SHOP, CAMPAIGN, PHONE, RELEASE, T0)
        ledger.finish(skipped(PHONE_2), previous=None)

        ledger.unclaim(SHOP, CAMPAIGN, PHONE)
        ledger.unclaim(SHOP, CAMPAIGN, PHONE_2)
        ledger.unclaim(SHOP, CAMPAIGN, "+15555550199")  # absent: nothing to do

        deferred, finished = row(), row(PHONE_2)
        assert deferred is not None and deferred.state == "deferred"
        assert finished is not None and finished.state == "skipped"


class TestWave:
    @pytest.fixture
    def waiting(self, ledger: DynamoSendLedger) -> list[str]:
        phones = [f"+1555555020{i}" for i in range(5)]
        for phone in phones:
            ledger.defer(SHOP, CAMPAIGN, phone, RELEASE, T0)
        ledger.defer(SHOP, CAMPAIGN, PHONE, RELEASE_LATER, T0)
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
        assert seen == waiting
        assert ledger.wave(SHOP, CAMPAIGN, RELEASE_LATER, limit=10, cursor=None).items == [PHONE]
        assert ledger.wave(OTHER_SHOP, CAMPAIGN, RELEASE, limit=10, cursor=None).items == []

    def test_a_cursor_of_another_wave_or_shop_is_refused(self, ledger: DynamoSendLedger, waiting: list[str]) -> None:
        cursor = ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=1, cursor=None).cursor
        assert cursor is not None
        with pytest.raises(InvalidInput):
            ledger.wave(SHOP, CAMPAIGN, RELEASE_LATER, limit=1, cursor=cursor)
        with pytest.raises(InvalidInput):
            ledger.wave(OTHER_SHOP, CAMPAIGN, RELEASE, limit=1, cursor=cursor)
        forged = encode_cursor({"wave_key": {"S": wave_key(OTHER_SHOP, CAMPAIGN, RELEASE)}, "phone": {"S": PHONE}})
        with pytest.raises(InvalidInput):
            ledger.wave(SHOP, CAMPAIGN, RELEASE, limit=1, cursor=forged)


class TestContactHistory:
    @pytest.fixture
    def contacts(self, ledger: DynamoSendLedger) -> Iterator[DynamoContactHistory]:
        yield DynamoContactHistory()

    def test_counts_sends_at_or_after_since(self, ledger: DynamoSendLedger, contacts: DynamoContactHistory) -> None:
        ledger.claim(SHOP, CAMPAIGN, PHONE, T0)
        ledger.finish(sent(at=T0), previous=SendState.CLAIMED)
        ledger.finish(skipped(PHONE_2), previous=None)  # a skip is no contact

        assert contacts.count_since(SHOP, PHONE, T0 - timedelta(days=1)) == 1
        assert contacts.count_since(SHOP, PHONE, T0) == 1
        assert contacts.count_since(SHOP, PHONE, T0 + timedelta(microseconds=1)) == 0
        assert contacts.count_since(SHOP, PHONE_2, T0 - timedelta(days=1)) == 0
        assert contacts.count_since(OTHER_SHOP, PHONE, T0 - timedelta(days=1)) == 0

    def test_counts_every_campaign(
        self, ledger: DynamoSendLedger, contacts: DynamoContactHistory, campaigns: DynamoCampaignRepository
    ) -> None:
        campaigns.save(campaigns.create(new_campaign("c002")).start(T0, {"all": []}))
        for campaign_id, at in ((CAMPAIGN, T0), ("c002", T0 + timedelta(hours=2))):
            assert ledger.claim(SHOP, campaign_id, PHONE, at) is ClaimResult.CLAIMED
            assert ledger.finish(replace(sent(at=at), campaign_id=campaign_id), previous=SendState.CLAIMED)

        assert contacts.count_since(SHOP, PHONE, T0) == 2
        assert contacts.count_since(SHOP, PHONE, T0 + timedelta(hours=1)) == 1
