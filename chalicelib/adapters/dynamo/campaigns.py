"""Campaigns in DynamoDB: one row per campaign holding its definition, its planning checkpoint and its counters.

Three kinds of writer touch the row, and none may undo another: the merchant's edits and status changes
(``save``: only definition/status attributes, conditioned on ``version``), the planner's checkpoint
(``checkpoint_plan``: conditioned on ``plan_page``) and the send workers' counters (atomic ADDs in the
send ledger's transactions, see ledger.py). Every write is an UpdateItem naming its own attributes, so a
stale copy of the row can never overwrite a counter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo._transactions import (
    CONFLICT_BACKOFF_SECONDS,
    CONFLICT_RETRIES,
    LabelledTransaction,
    commit_with_retries,
)
from chalicelib.adapters.dynamo.conditions import condition_failed, save_new
from chalicelib.adapters.dynamo.cursors import decode_cursor, encode_cursor, require_partition, validate_limit
from chalicelib.adapters.dynamo.keys import utc
from chalicelib.adapters.dynamo.tables import CampaignRow, DedupeRow
from chalicelib.adapters.dynamo.totals import add_to_totals, read_totals, stats_of
from chalicelib.domain.campaigns import Campaign, CampaignStats, CampaignStatus, PagePlan
from chalicelib.domain.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound, TransientError
from chalicelib.services.ports import Page

# A plain write to an item that a transaction is writing at that moment is refused with this code; the
# send ledger's transactions update the campaign row all the time while a campaign runs, so an End
# Campaign or a checkpoint can meet one. Nothing was written, so a few quick retries are safe.
_TRANSACTION_CONFLICT = "TransactionConflictException"
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


def row_to_campaign(row: CampaignRow) -> Campaign:
    """The domain campaign a row holds, with its current stats and checkpoint."""
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
        stats=stats_of(row),
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


class DynamoCampaignRepository:
    """``CampaignRepository`` on the campaigns table."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def _update(self, row: CampaignRow, actions: list[Action], condition: Condition) -> bool:
        """Apply ``actions`` if ``condition`` holds (refreshing ``row`` from the stored item); False if not."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                row.update(actions=actions, condition=condition)
            except UpdateError as exc:
                if condition_failed(exc):
                    return False
                if exc.cause_response_code != _TRANSACTION_CONFLICT:
                    raise
                self._sleep(CONFLICT_BACKOFF_SECONDS * (attempt + 1))
                continue
            return True
        raise TransientError(f"campaign {row.campaign_id} is busy with concurrent updates; retry")

    def create(self, campaign: Campaign) -> Campaign:
        """Store a new campaign at version 1 (Conflict with code ``campaign_exists`` if the id is taken)."""
        row = campaign_to_new_row(campaign)
        if not save_new(row, CampaignRow.campaign_id.does_not_exist()):
            raise Conflict(f"campaign {campaign.campaign_id} already exists", code="campaign_exists")
        return row_to_campaign(row)

    def get(self, shop_id: str, campaign_id: str) -> Campaign:
        """The campaign with current stats, or NotFound (code ``campaign_not_found``)."""
        try:
            # Strongly consistent: the version read here guards the next save, and workers read status here.
            return row_to_campaign(CampaignRow.get(shop_id, campaign_id, consistent_read=True))
        except CampaignRow.DoesNotExist as exc:
            raise _not_found(campaign_id) from exc

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
            return Page(items=[row_to_campaign(row) for row in rows])
        rows = rows[:limit]
        last = {"shop_id": {"S": shop_id}, "campaign_id": {"S": rows[-1].campaign_id}}
        return Page(items=[row_to_campaign(row) for row in rows], cursor=encode_cursor(last))

    def all(self, shop_id: str) -> Iterator[Campaign]:
        """Every campaign of the shop, newest first (PynamoDB follows the pages)."""
        for row in CampaignRow.query(shop_id, scan_index_forward=False):
            yield row_to_campaign(row)

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
        """Write definition and status if the stored version is ``campaign.version``; return the stored campaign
        (version + 1, with the current counters and checkpoint, which this never writes)."""
        row = CampaignRow(campaign.shop_id, campaign.campaign_id)
        if not self._update(row, _definition_actions(campaign), CampaignRow.version == campaign.version):
            raise self._missing_or_stale(campaign)
        return row_to_campaign(row)  # ALL_NEW: fresh counters, not the caller's possibly stale ones

    def delete(self, campaign: Campaign) -> None:
        """Delete if the stored version is ``campaign.version`` (else ConcurrentUpdate; NotFound if gone)."""
        try:
            CampaignRow(campaign.shop_id, campaign.campaign_id).delete(condition=CampaignRow.version == campaign.version)
        except DeleteError as exc:
            if condition_failed(exc):
                raise self._missing_or_stale(campaign) from exc
            raise

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
            add_to_totals(tx, shop_id, {"planned": planned})  # with the campaign's planned, never apart

        busy = f"campaign {campaign_id} is busy with concurrent updates; retry"
        return not commit_with_retries(build, sleep=self._sleep, busy=busy)

    def totals(self, shop_id: str) -> CampaignStats:
        """The shop's totals over every campaign: one read of the maintained aggregate."""
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
        """In Progress -> Completed when planning is done and done >= planned, decided by DynamoDB on the
        stored counters in one conditional write; False otherwise."""
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
            & (CampaignRow.done >= CampaignRow.planned)
        )
        return self._update(CampaignRow(shop_id, campaign_id), actions, condition)
