"""Campaigns in DynamoDB: one row per campaign (definition, status, planning checkpoint, ``planned``) and
GATE_SHARDS gates per campaign (a copy of its status and the counters the send path and attribution ADD).

Why gates: every send group's claim checks that the campaign still runs and every settle adds its counts, both in
transactions. On the campaign row (partition key: the shop) that was ~2,650 WCU/s at 20,000 MPS in one campaign,
past DynamoDB's 1,000 per partition key. The gates are small items in their own table (``campaign-gates``, keyed by
keys.gate_key, each its own partition key), so the load spreads over GATE_SHARDS keys (the arithmetic is in
keys.py). A separate table rather than extra items in this one: the campaigns table's partition key is the shop,
and gate items under other partition keys here would show up in every scan and erasure of campaign rows.

Invariants:
- The row and its gates say the same status: every status change (``save``: start, End, pause, schedule...;
  ``complete_if_done``; ``create``; ``delete``) writes the row and all its gates in ONE TransactWriteItems. A claim
  checks one gate, so once End Campaign's transaction has committed no claim can pass (invariant 4).
- A campaign's stats are the row's counters (``planned``, plus whatever rows from before the gates hold) plus the
  sums over its gates, on every read: ``get`` and ``complete_if_done`` read the row and its gates in one
  BatchGetItem over both tables, a page reads its campaigns' gates in batched reads.

Three kinds of writer touch the row, and none may undo another: the merchant's edits and status changes
(``save``: only definition/status attributes, conditioned on ``version``), the planner's checkpoint
(``checkpoint_plan``: conditioned on ``plan_page``) and completion. The counters are only ever ADDed (on the gates,
in the send ledger's transactions, see ledger.py), so a stale copy of the campaign can never overwrite one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo._transactions import (
    CONFLICT_BACKOFF_SECONDS,
    LabelledTransaction,
    commit_with_retries,
)
from chalicelib.adapters.dynamo.conditions import save_new
from chalicelib.adapters.dynamo.cursors import decode_cursor, encode_cursor, require_partition, validate_limit
from chalicelib.adapters.dynamo.keys import GATE_SHARDS, campaign_key, gate_keys, utc
from chalicelib.adapters.dynamo.tables import CampaignGateRow, CampaignRow, DedupeRow
from chalicelib.adapters.dynamo.totals import add_to_totals, read_totals, stats_over
from chalicelib.domain.campaigns import Campaign, CampaignStats, CampaignStatus, PagePlan
from chalicelib.domain.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound, TransientError
from chalicelib.services.ports import Page

_CAMPAIGN_CURSOR_KEYS = {"shop_id", "campaign_id"}
# A page's kept plan matters while a copy of its page job may still arrive: SQS keeps a message (or its DLQ
# copy, for a redrive) at most 14 days. It holds phone numbers: shop/redact deletes it, and a customers/redact
# is answered by its expiry (TTL deletes within days of it), inside the 30 days Shopify allows.
PAGE_PLAN_PREFIX = "plan#"
PAGE_PLAN_TTL = timedelta(days=14)


def plan_key(shop_id: str, campaign_id: str, page: int) -> str:
    """The dedupe key of a planning page's kept plan (it starts with the shop, so a shop's erasure finds it)."""
    return f"{PAGE_PLAN_PREFIX}{shop_id}#{campaign_id}#{page}"


def _plan_of(page: int, row: DedupeRow) -> PagePlan:
    kept = row.receipt or {}
    return PagePlan(page=page, phones=tuple(kept.get("phones") or ()), next_cursor=kept.get("next_cursor"))


def _not_found(campaign_id: str) -> NotFound:
    return NotFound(f"campaign {campaign_id} not found", code="campaign_not_found")


def wall_time_to_text(wall: datetime | None) -> str | None:
    """A naive store-local wall time as ISO text; an aware one is refused (its zone is the campaign's)."""
    if wall is None:
        return None
    if wall.tzinfo is not None:
        raise InvalidInput("send_at_local is a store-local wall time without an offset", code="invalid_send_at")
    return wall.isoformat()


def row_to_campaign(row: CampaignRow, gates: Iterable[CampaignGateRow] = ()) -> Campaign:
    """The domain campaign a row holds, with its checkpoint and the stats of the row and its ``gates``."""
    return Campaign(
        shop_id=row.shop_id,
        campaign_id=row.campaign_id,
        name=row.name,
        message=row.message,
        segment_id=row.segment_id,
        send_now=bool(row.send_now),
        send_at_local=datetime.fromisoformat(row.send_at_local) if row.send_at_local else None,
        timezone=row.timezone,
        status=CampaignStatus(row.status),
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        media_url=row.media_url,
        media_s3_uri=row.media_s3_uri,
        discount_code=row.discount_code,
        started_at=utc(row.started_at) if row.started_at else None,
        audience_rule=dict(row.audience_rule) if row.audience_rule is not None else None,
        plan_page=int(row.plan_page or 0),
        plan_cursor=row.plan_cursor,
        planning_done=bool(row.planning_done),
        completed_at=utc(row.completed_at) if row.completed_at else None,
        ended_early=bool(row.ended_early),
        stats=stats_over([row, *gates]),
        version=int(row.version or 0),
    )


def campaign_to_new_row(campaign: Campaign) -> CampaignRow:
    """The row a brand-new campaign is created as: version 1, empty checkpoint and counters."""
    return CampaignRow(
        campaign.shop_id,
        campaign.campaign_id,
        name=campaign.name,
        message=campaign.message,
        segment_id=campaign.segment_id,
        send_now=campaign.send_now,
        send_at_local=wall_time_to_text(campaign.send_at_local),
        timezone=campaign.timezone,
        status=CampaignStatus(campaign.status).value,
        created_at=utc(campaign.created_at),
        updated_at=utc(campaign.updated_at),
        media_url=campaign.media_url,
        media_s3_uri=campaign.media_s3_uri,
        discount_code=campaign.discount_code,
        started_at=utc(campaign.started_at) if campaign.started_at else None,
        audience_rule=dict(campaign.audience_rule) if campaign.audience_rule is not None else None,
        completed_at=utc(campaign.completed_at) if campaign.completed_at else None,
        ended_early=campaign.ended_early,
        version=1,
    )


def _set_or_remove(attribute: Attribute[Any], value: Any) -> Action:
    # DynamoDB stores no nulls: a cleared optional attribute is removed.
    return attribute.remove() if value is None else attribute.set(value)


def _definition_actions(campaign: Campaign) -> list[Action]:
    """SET/REMOVE for the definition and status attributes only: never counters, never the checkpoint."""
    return [
        CampaignRow.name.set(campaign.name),
        CampaignRow.message.set(campaign.message),
        CampaignRow.segment_id.set(campaign.segment_id),
        CampaignRow.send_now.set(campaign.send_now),
        _set_or_remove(CampaignRow.send_at_local, wall_time_to_text(campaign.send_at_local)),
        CampaignRow.timezone.set(campaign.timezone),
        CampaignRow.status.set(CampaignStatus(campaign.status).value),
        CampaignRow.updated_at.set(utc(campaign.updated_at)),
        _set_or_remove(CampaignRow.media_url, campaign.media_url),
        _set_or_remove(CampaignRow.media_s3_uri, campaign.media_s3_uri),
        _set_or_remove(CampaignRow.discount_code, campaign.discount_code),
        _set_or_remove(CampaignRow.started_at, utc(campaign.started_at) if campaign.started_at else None),
        _set_or_remove(CampaignRow.audience_rule, dict(campaign.audience_rule) if campaign.audience_rule is not None else None),
        _set_or_remove(CampaignRow.completed_at, utc(campaign.completed_at) if campaign.completed_at else None),
        CampaignRow.ended_early.set(campaign.ended_early),
        CampaignRow.version.set(campaign.version + 1),
    ]


# BatchGetItem takes at most 100 keys: ``all`` reads the gates of this many campaigns at a time.
_CAMPAIGNS_PER_GATE_READ = max(1, 100 // GATE_SHARDS)
# A BatchGetItem may leave keys unread under throttling; this many tries (with backoff) before TransientError.
_UNPROCESSED_RETRIES = 8


def _set_gates(tx: LabelledTransaction, shop_id: str, campaign_id: str, status: CampaignStatus) -> None:
    """Every gate of the campaign takes ``status`` (created if absent: a row from before the gates gets them at its
    next status change). No condition: the row's condition in the same transaction decides."""
    for key in gate_keys(shop_id, campaign_id):
        tx.update(f"gate:{key}", CampaignGateRow(key), actions=[CampaignGateRow.status.set(CampaignStatus(status).value)])


def _campaign_of_gate(gate_key: str) -> str:
    """The campaign id in a key made by keys.gate_key (shop domains and campaign ids contain no ``#``)."""
    return gate_key.split("#")[1]


class DynamoCampaignRepository:
    """``CampaignRepository`` on the campaigns and campaign-gates tables."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def _commit(self, campaign_id: str, build: Callable[[LabelledTransaction], None]) -> frozenset[str]:
        # The send ledger's transactions write the gates all the time while a campaign runs, so a status change can
        # meet one (TransactionConflict): commit_with_retries retries those a few times, then TransientError.
        return commit_with_retries(
            build, sleep=self._sleep, busy=f"campaign {campaign_id} is busy with concurrent updates; retry"
        )

    def _read(self, shop_id: str, campaign_id: str) -> tuple[CampaignRow | None, list[CampaignGateRow]]:
        """The campaign row and its gates in one strongly consistent BatchGetItem over both tables (one call, as
        the GetItem of the row alone was)."""
        campaigns, gates = CampaignRow.Meta.table_name, CampaignGateRow.Meta.table_name
        request: dict[str, Any] = {
            campaigns: {
                "Keys": [{"shop_id": {"S": shop_id}, "campaign_id": {"S": campaign_id}}],
                "ConsistentRead": True,
            },
            gates: {"Keys": [{"gate_key": {"S": key}} for key in gate_keys(shop_id, campaign_id)], "ConsistentRead": True},
        }
        row: CampaignRow | None = None
        found: list[CampaignGateRow] = []
        connection = CampaignRow._get_connection().connection
        for attempt in range(_UNPROCESSED_RETRIES):
            data = connection.dispatch("BatchGetItem", {"RequestItems": request})
            responses = data.get("Responses") or {}
            for item in responses.get(campaigns) or []:
                row = CampaignRow.from_raw_data(item)
            found.extend(CampaignGateRow.from_raw_data(item) for item in responses.get(gates) or [])
            request = data.get("UnprocessedKeys") or {}
            if not request:
                return row, found
            self._sleep(CONFLICT_BACKOFF_SECONDS * (attempt + 1))  # throttled: DynamoDB left some keys unread
        raise TransientError(f"campaign {campaign_id} could not be read in full; retry")

    def _with_gates(self, rows: Sequence[CampaignRow]) -> list[Campaign]:
        """The campaigns of ``rows`` with their gates' counters: one BatchGetItem (strongly consistent, 100 keys a
        call) for all of their gates, never a call per campaign."""
        keys = [key for row in rows for key in gate_keys(row.shop_id, row.campaign_id)]
        by_campaign: dict[str, list[CampaignGateRow]] = {}
        for gate in CampaignGateRow.batch_get(keys, consistent_read=True) if keys else []:
            by_campaign.setdefault(_campaign_of_gate(gate.gate_key), []).append(gate)
        return [row_to_campaign(row, by_campaign.get(row.campaign_id, ())) for row in rows]

    def create(self, campaign: Campaign) -> Campaign:
        """Store a new campaign at version 1 with its gates (Conflict with code ``campaign_exists`` if the id is
        taken)."""
        row = campaign_to_new_row(campaign)

        def build(tx: LabelledTransaction) -> None:
            tx.put("campaign", row, condition=CampaignRow.campaign_id.does_not_exist())
            for key in gate_keys(campaign.shop_id, campaign.campaign_id):
                tx.put(f"gate:{key}", CampaignGateRow(key, status=row.status))

        if self._commit(campaign.campaign_id, build):
            raise Conflict(f"campaign {campaign.campaign_id} already exists", code="campaign_exists")
        return row_to_campaign(row)

    def get(self, shop_id: str, campaign_id: str) -> Campaign:
        """The campaign with current stats, or NotFound (code ``campaign_not_found``)."""
        # Strongly consistent: the version read here guards the next save, and workers read status here.
        row, gates = self._read(shop_id, campaign_id)
        if row is None:
            raise _not_found(campaign_id)
        return row_to_campaign(row, gates)

    def page(self, shop_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[Campaign]:
        """The shop's campaigns, newest first (ids sort by creation time); a bad cursor is InvalidInput."""
        limit = validate_limit(limit)
        start: dict[str, Any] | None = None
        if cursor is not None:
            start = decode_cursor(cursor, expected_keys=_CAMPAIGN_CURSOR_KEYS)
            require_partition(start, "shop_id", shop_id)
        # One row more than asked tells whether another page exists, so the last page has no cursor.
        rows = list(
            CampaignRow.query(shop_id, scan_index_forward=False, consistent_read=True, limit=limit + 1, last_evaluated_key=start)
        )
        if len(rows) <= limit:
            return Page(items=self._with_gates(rows))
        rows = rows[:limit]
        last = {"shop_id": {"S": shop_id}, "campaign_id": {"S": rows[-1].campaign_id}}
        return Page(items=self._with_gates(rows), cursor=encode_cursor(last))

    def all(self, shop_id: str) -> Iterator[Campaign]:
        """Every campaign of the shop, newest first (PynamoDB follows the pages; gates read a few campaigns at a
        time, so a long history is never held whole)."""
        rows: list[CampaignRow] = []
        for row in CampaignRow.query(shop_id, scan_index_forward=False):
            rows.append(row)
            if len(rows) == _CAMPAIGNS_PER_GATE_READ:
                yield from self._with_gates(rows)
                rows = []
        yield from self._with_gates(rows)

    def by_discount_code(self, shop_id: str, codes: Sequence[str]) -> dict[str, str]:
        """Upper-cased code -> the newest campaign carrying it; one query of the shop's campaigns filtered on
        the code, reading only ids and codes."""
        wanted = {code.upper() for code in codes}
        if not wanted:
            return {}
        found: dict[str, str] = {}
        rows = CampaignRow.query(
            shop_id,
            scan_index_forward=False,  # newest first: the first campaign met with a code keeps it
            filter_condition=CampaignRow.discount_code.exists(),
            attributes_to_get=["campaign_id", "discount_code"],
        )
        for row in rows:
            code = (row.discount_code or "").upper()
            if code in wanted:
                found.setdefault(code, row.campaign_id)
        return found

    def _missing_or_stale(self, campaign: Campaign) -> Exception:
        # The version condition fails both for a stale copy and for a deleted row; the caller deserves to know which.
        try:
            CampaignRow.get(campaign.shop_id, campaign.campaign_id, consistent_read=True)
        except CampaignRow.DoesNotExist:
            return _not_found(campaign.campaign_id)
        return ConcurrentUpdate(f"campaign {campaign.campaign_id} was changed by someone else; reload and retry")

    def save(self, campaign: Campaign) -> Campaign:
        """Write definition and status, and the status to every gate, in one transaction, if the stored version is
        ``campaign.version``; return the stored campaign (version + 1, with the current counters and checkpoint,
        which this never writes)."""

        def build(tx: LabelledTransaction) -> None:
            tx.update(
                "campaign",
                CampaignRow(campaign.shop_id, campaign.campaign_id),
                actions=_definition_actions(campaign),
                condition=CampaignRow.version == campaign.version,
            )
            _set_gates(tx, campaign.shop_id, campaign.campaign_id, campaign.status)

        if self._commit(campaign.campaign_id, build):
            raise self._missing_or_stale(campaign)
        # A transaction returns no values: read the counters and checkpoint back (fresh, not the caller's possibly
        # stale ones); the definition and version are the ones this call wrote, whatever was saved since.
        row, gates = self._read(campaign.shop_id, campaign.campaign_id)
        stored = replace(campaign, version=campaign.version + 1)
        if row is None:
            return stored  # deleted right after: what this call wrote is all there is to say
        current = row_to_campaign(row, gates)
        return replace(
            stored,
            stats=current.stats,
            plan_page=current.plan_page,
            plan_cursor=current.plan_cursor,
            planning_done=current.planning_done,
        )

    def delete(self, campaign: Campaign) -> None:
        """Delete the row and its gates if the stored version is ``campaign.version`` (else ConcurrentUpdate;
        NotFound if gone)."""

        def build(tx: LabelledTransaction) -> None:
            tx.delete(
                "campaign", CampaignRow(campaign.shop_id, campaign.campaign_id), condition=CampaignRow.version == campaign.version
            )
            for key in gate_keys(campaign.shop_id, campaign.campaign_id):
                tx.delete(f"gate:{key}", CampaignGateRow(key))

        if self._commit(campaign.campaign_id, build):
            raise self._missing_or_stale(campaign)

    def checkpoint_plan(self, shop_id: str, campaign_id: str, *, page: int, next_cursor: str | None, planned: int) -> bool:
        """Record planning page ``page`` as done (plan_page -> page + 1, cursor, planned += n, planning_done when
        no next cursor). False and nothing written if plan_page is not ``page`` (a duplicate plan job) or the
        campaign is no longer In Progress (ended)."""
        actions: list[Action] = [
            CampaignRow.plan_page.set(page + 1),
            _set_or_remove(CampaignRow.plan_cursor, next_cursor),
            CampaignRow.planned.add(planned),
            CampaignRow.planning_done.set(next_cursor is None),
        ]
        condition = (CampaignRow.plan_page == page) & (CampaignRow.status == CampaignStatus.IN_PROGRESS.value)

        def build(tx: LabelledTransaction) -> None:
            tx.update("campaign", CampaignRow(shop_id, campaign_id), actions=actions, condition=condition)
            # with the campaign's planned, never apart
            add_to_totals(tx, shop_id, {"planned": planned}, by=f"{campaign_key(shop_id, campaign_id)}#{page}")

        return not self._commit(campaign_id, build)

    def totals(self, shop_id: str) -> CampaignStats:
        """The shop's totals over every campaign: one batched read of the maintained aggregate."""
        return read_totals(shop_id)

    def page_plan(self, shop_id: str, campaign_id: str, page: int) -> PagePlan | None:
        """The plan kept for planning page ``page``, if one was (strongly consistent)."""
        try:
            row = DedupeRow.get(plan_key(shop_id, campaign_id, page), consistent_read=True)
        except DedupeRow.DoesNotExist:
            return None
        return _plan_of(page, row)

    def keep_page_plan(self, shop_id: str, campaign_id: str, plan: PagePlan, at: datetime) -> PagePlan:
        """Keep ``plan`` unless a plan for its page is kept already (one conditional put); the kept one either way."""
        key = plan_key(shop_id, campaign_id, plan.page)
        row = DedupeRow(
            key,
            taken_at=utc(at),
            receipt={"phones": list(plan.phones), "next_cursor": plan.next_cursor},
            expires_at=int((utc(at) + PAGE_PLAN_TTL).timestamp()),
        )
        if save_new(row, DedupeRow.key.does_not_exist()):
            return plan
        return _plan_of(plan.page, DedupeRow.get(key, consistent_read=True))

    def complete_if_done(self, shop_id: str, campaign_id: str, at: datetime) -> bool:
        """In Progress -> Completed (the row and every gate, in one transaction) when planning is done and every
        planned recipient has an outcome; False otherwise. One read (the row and its gates) on the usual path; the
        conditional write only when that read says the campaign is done.

        Why the write's condition ``status == In Progress AND planning_done AND planned <= :done`` (``:done`` the
        gates' sum as read) never completes early: counters only grow, so the sum read is at most the true number
        of outcomes when the write commits; planned <= what was read <= what is true.
        Why it never misses a completion: every settle calls this after its own transaction committed (send
        batches, release waves) and so does the planner after its last checkpoint. Take the settle that commits
        last: every other settle committed before it, so its strongly consistent read of each gate (each read
        after its own commit) sees them all, and ``:done`` is the final count. If planning was done by then (it
        never becomes undone, and ``planned`` no longer grows once it is), the condition holds; if not, the
        planner's last checkpoint commits after that settle, and the planner's read after it sees every outcome.
        ``planned`` only grows, so a condition that held on what was read still holds on the row unless a later
        checkpoint added recipients, and then those recipients' own settles come later and call this again."""
        row, gates = self._read(shop_id, campaign_id)
        if row is None or row.status != CampaignStatus.IN_PROGRESS.value or not row.planning_done:
            return False
        done = int(row.done or 0) + sum(int(gate.done or 0) for gate in gates)  # row.done: rows from before the gates
        if done < int(row.planned or 0):
            return False
        stamp = utc(at)
        actions: list[Action] = [
            CampaignRow.status.set(CampaignStatus.COMPLETED.value),
            CampaignRow.completed_at.set(stamp),
            CampaignRow.updated_at.set(stamp),
            # A status change: a merchant's End racing this must reload (and then find it Completed), not
            # overwrite Completed with "ended early".
            CampaignRow.version.add(1),
        ]
        condition = (
            (CampaignRow.status == CampaignStatus.IN_PROGRESS.value)
            & (CampaignRow.planning_done == True)  # noqa: E712 - a DynamoDB condition, not a Python comparison
            & (CampaignRow.planned <= done)
        )

        def build(tx: LabelledTransaction) -> None:
            tx.update("campaign", CampaignRow(shop_id, campaign_id), actions=actions, condition=condition)
            _set_gates(tx, shop_id, campaign_id, CampaignStatus.COMPLETED)

        return not self._commit(campaign_id, build)
