"""The shop's campaign totals: one item per shop, moved by the same transaction as each campaign counter.

Every write that ADDs to a campaign's counters (ledger finish and defer, planning checkpoints, clicks,
orders) adds the same amounts here in its own transaction, so the totals equal the sum over the shop's
campaigns at every instant and a redelivery that counts nothing on the campaign counts nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping

from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo._transactions import LabelledTransaction
from chalicelib.adapters.dynamo.tables import CampaignRow, CampaignTotalsRow
from chalicelib.domain.campaigns import CampaignStats

_COUNTERS: dict[str, NumberAttribute] = {
    "planned": CampaignTotalsRow.planned,
    "sent": CampaignTotalsRow.sent,
    "skipped": CampaignTotalsRow.skipped,
    "failed": CampaignTotalsRow.failed,
    "deferred": CampaignTotalsRow.deferred,
    "parts": CampaignTotalsRow.parts,
    "clicks": CampaignTotalsRow.clicks,
    "unique_clicks": CampaignTotalsRow.unique_clicks,
    "orders": CampaignTotalsRow.orders,
    "revenue": CampaignTotalsRow.revenue,
}


def add_to_totals(tx: LabelledTransaction, shop_id: str, changes: Mapping[str, int], *, currency: str | None = None) -> None:
    """Add ``changes`` (counter name -> amount) to the shop's totals inside ``tx`` (created on first use)."""
    actions: list[Action] = [_COUNTERS[name].add(amount) for name, amount in changes.items() if amount]
    if currency is not None:
        actions.append(CampaignTotalsRow.currency.set(CampaignTotalsRow.currency | currency))
    if actions:
        tx.update("totals", CampaignTotalsRow(shop_id), actions=actions)


def read_totals(shop_id: str) -> CampaignStats:
    """The shop's totals (all zero before its first campaign counted anything)."""
    try:
        row = CampaignTotalsRow.get(shop_id, consistent_read=True)
    except CampaignTotalsRow.DoesNotExist:
        return CampaignStats()
    return stats_of(row)


def stats_of(row: CampaignRow | CampaignTotalsRow) -> CampaignStats:
    """The counters a campaign row or a shop's totals row holds (the two carry the same counter attributes)."""
    return CampaignStats(
        planned=int(row.planned or 0),
        sent=int(row.sent or 0),
        skipped=int(row.skipped or 0),
        failed=int(row.failed or 0),
        deferred=int(row.deferred or 0),
        parts=int(row.parts or 0),
        clicks=int(row.clicks or 0),
        unique_clicks=int(row.unique_clicks or 0),
        orders=int(row.orders or 0),
        revenue=int(row.revenue or 0),
        currency=row.currency,
    )
