"""DynamoSendLedger.record_deliveries on moto: delivery receipts move a sent row and the counters once, many per
transaction; duplicates, unknown ids, receipts ahead of their outcome and a deleted campaign are told apart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.ledger import DynamoSendLedger
from chalicelib.adapters.dynamo.totals import read_totals
from chalicelib.domain.campaigns import Campaign
from chalicelib.domain.messages import MessageKind
from chalicelib.domain.receipts import Delivery, DeliveryReceipt
from chalicelib.domain.sending import DeliveryRecord, LedgerEntry, SendState
from tests.integration.test_dynamo_ledger import (
    CAMPAIGN,
    PHONE,
    PHONE_2,
    PHONE_3,
    SHOP,
    T0,
    add_subscriber,
    campaigns,
    claims,
    delivered,
    ledger,
    row,
    running,
    sent,
    transactions,
)

__all__ = ["campaigns", "ledger", "running"]  # fixtures, used by name

pytestmark = pytest.mark.integration


def receipt(phone: str, kind: str = "TEXT_DELIVERED", *, message_id: str | None = None, final: bool = True) -> DeliveryReceipt:
    return DeliveryReceipt(
        message_id or f"pm-{phone}", phone, kind, final, T0 + timedelta(seconds=4), SHOP, CAMPAIGN, MessageKind.CAMPAIGN, "why"
    )


def send_all(ledger: DynamoSendLedger, *phones: str) -> None:
    assert set(ledger.claim(SHOP, CAMPAIGN, claims(*phones), T0).claimed) == set(phones)
    ledger.settle(SHOP, CAMPAIGN, [delivered(sent(p)) for p in phones])


def delivery_stats(campaigns: DynamoCampaignRepository) -> tuple[int, int]:
    stats = campaigns.get(SHOP, CAMPAIGN).stats
    return stats.delivered, stats.undelivered


def test_receipts_move_rows_and_counters_once(ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository) -> None:
    send_all(ledger, PHONE, PHONE_2, PHONE_3)
    batch = [receipt(PHONE), receipt(PHONE_2, "TEXT_INVALID"), receipt(PHONE_3, "TEXT_PENDING", final=False)]
    with transactions() as seen:
        first = ledger.record_deliveries(SHOP, CAMPAIGN, batch)
    assert first == DeliveryRecord(recorded=frozenset({"pm-" + PHONE, "pm-" + PHONE_2}))
    assert seen == [2 + 2]  # two rows, the campaign's counters and the shop's totals in one transaction
    again = ledger.record_deliveries(SHOP, CAMPAIGN, batch)
    assert again == DeliveryRecord()  # duplicates: recorded before, nothing new, nothing unknown
    assert delivery_stats(campaigns) == (1, 1)
    assert (read_totals(SHOP).delivered, read_totals(SHOP).undelivered) == (1, 1)
    stored = row(PHONE_2)
    assert stored is not None and stored.state == SendState.SENT.value
    assert (stored.delivery, stored.delivery_reason) == (Delivery.UNDELIVERED.value, "TEXT_INVALID: why")


def test_a_later_final_receipt_does_not_move_a_recorded_one(
    ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository
) -> None:
    send_all(ledger, PHONE)
    ledger.record_deliveries(SHOP, CAMPAIGN, [receipt(PHONE)])
    assert ledger.record_deliveries(SHOP, CAMPAIGN, [receipt(PHONE, "TEXT_UNKNOWN")]) == DeliveryRecord()
    assert delivery_stats(campaigns) == (1, 0)


def test_unknown_ids_and_unsettled_rows_are_told_apart(ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository) -> None:
    send_all(ledger, PHONE)
    assert ledger.claim(SHOP, CAMPAIGN, claims(PHONE_2), T0).claimed == (PHONE_2,)  # claimed, not settled yet
    result = ledger.record_deliveries(
        SHOP,
        CAMPAIGN,
        [
            receipt(PHONE, message_id="pm-someone-else"),  # the row holds another id
            receipt(PHONE_2),  # ahead of its outcome
            receipt(PHONE_3),  # no row at all
            receipt(PHONE_3, message_id="pm-another"),  # the same phone twice: a second round
        ],
    )
    assert result.recorded == frozenset()
    assert result.not_settled == {"pm-" + PHONE_2}
    assert result.unknown == {"pm-someone-else", "pm-" + PHONE_3, "pm-another"}
    assert delivery_stats(campaigns) == (0, 0)


def test_a_big_poll_is_split_into_transactions_of_at_most_100_items(
    ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository
) -> None:
    phones = [f"+1555555{n:04d}" for n in range(120)]
    for phone in phones:
        add_subscriber(phone)
    for start in range(0, len(phones), 49):
        send_all(ledger, *phones[start : start + 49])
    with transactions() as seen:
        result = ledger.record_deliveries(SHOP, CAMPAIGN, [receipt(p) for p in phones])
    assert len(result.recorded) == 120
    assert seen == [100, 24]
    assert delivery_stats(campaigns) == (120, 0)


def test_receipts_of_a_deleted_campaign_count_nowhere(
    ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository, running: Campaign
) -> None:
    send_all(ledger, PHONE)
    campaigns.delete(campaigns.get(SHOP, CAMPAIGN))
    result = ledger.record_deliveries(SHOP, CAMPAIGN, [receipt(PHONE)])
    assert result.recorded == frozenset() and result.unknown == {"pm-" + PHONE}
    assert read_totals(SHOP).delivered == 0


def test_a_receipt_refused_while_claimed_and_settled_before_the_check_is_tried_again(
    ledger: DynamoSendLedger, campaigns: DynamoCampaignRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The send worker settles the row between the receipt's refused transaction and the read that explains the
    # refusal (workers run side by side): the receipt is not a duplicate, nothing has recorded it yet.
    assert ledger.claim(SHOP, CAMPAIGN, claims(PHONE), T0).claimed == (PHONE,)
    read = ledger.get_many

    def settled_meanwhile(shop_id: str, campaign_id: str, phones: Sequence[str]) -> dict[str, LedgerEntry]:
        ledger.settle(SHOP, CAMPAIGN, [delivered(sent(PHONE))])
        return read(shop_id, campaign_id, phones)

    monkeypatch.setattr(ledger, "get_many", settled_meanwhile)
    assert ledger.record_deliveries(SHOP, CAMPAIGN, [receipt(PHONE)]).not_settled == {"pm-" + PHONE}
    monkeypatch.undo()
    assert ledger.record_deliveries(SHOP, CAMPAIGN, [receipt(PHONE)]).recorded == {"pm-" + PHONE}
    assert delivery_stats(campaigns) == (1, 0)
