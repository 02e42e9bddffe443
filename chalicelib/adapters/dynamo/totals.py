"""The shop's campaign totals: TOTALS_SHARDS items per shop, moved by the same transaction as each campaign counter.

Every write that ADDs to a campaign's counters (ledger settle and defer on a gate, planning checkpoints on the
campaign row, clicks, orders) adds the same amounts to one of the shop's totals items in its own transaction, so
the totals (the sum over the shop's totals items) equal the sum over the shop's campaigns at every instant, and a
redelivery that counts nothing on the campaign counts nothing here. Which item takes a write does not matter to the
sum; spreading the writes keeps each item far under DynamoDB's 1,000 WCU/s per partition key (see keys.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo._transactions import LabelledTransaction
from chalicelib.adapters.dynamo.keys import totals_for, totals_keys
from chalicelib.adapters.dynamo.tables import CampaignGateRow, CampaignRow, CampaignTotalsRow
from chalicelib.domain.campaigns import CampaignStats

_COUNTERS: dict[str, NumberAttribute] = {
    "planned": CampaignTotalsRow.planned,
    "sent": CampaignTotalsRow.sent,
    "skipped": CampaignTotalsRow.skipped,
    "failed": CampaignTotalsRow.failed,
    "deferred": CampaignTotalsRow.deferred,
    "parts": CampaignTotalsRow.parts,
    "delivered": CampaignTotalsRow.delivered,
    "undelivered": CampaignTotalsRow.undelivered,
    "clicks": CampaignTotalsRow.clicks,
    "unique_clicks": CampaignTotalsRow.unique_clicks,
    "orders": CampaignTotalsRow.orders,
    "revenue": CampaignTotalsRow.revenue,
}


def add_to_totals(
    tx: LabelledTransaction, shop_id: str, changes: Mapping[str, int], *, by: str, currency: str | None = None
) -> None:
    """Add ``changes`` (counter name -> amount) to one of the shop's totals items inside ``tx`` (created on first
    use); ``by`` (a phone, an order id...) picks the item, as it picks the campaign's gate."""
    actions: list[Action] = [_COUNTERS[name].add(amount) for name, amount in changes.items() if amount]
    if currency is not None:
        actions.append(CampaignTotalsRow.currency.set(CampaignTotalsRow.currency | currency))
    if actions:
        tx.update("totals", CampaignTotalsRow(totals_for(shop_id, by)), actions=actions)


def read_totals(shop_id: str) -> CampaignStats:
    """The shop's totals (all zero before its first campaign counted anything): one batched, strongly consistent
    read of its totals items (and of the unsharded item a shop may have from before the sharding)."""
    keys = [shop_id, *totals_keys(shop_id)]
    return stats_over(CampaignTotalsRow.batch_get(keys, consistent_read=True))


def stats_over(rows: Iterable[CampaignRow | CampaignGateRow | CampaignTotalsRow]) -> CampaignStats:
    """The counters summed over ``rows`` (a campaign row and its gates, or a shop's totals items; a gate has no
    ``planned``); the currency is the first one set (every order of a shop is in the shop's currency)."""
    sums = dict.fromkeys(_COUNTERS, 0)
    currency: str | None = None
    for row in rows:
        for name in sums:
            sums[name] += int(getattr(row, name, 0) or 0)
        currency = currency or row.currency
    return CampaignStats(**sums, currency=currency)
