"""The send ledger, release waves and contact history in DynamoDB: where at-most-once is enforced.

Each state change of a recipient is ONE TransactWriteItems with the conditions that make it safe:
- claim: the campaign is still In Progress (End Campaign holds), the subscriber is still active (STOP
  holds) and the ledger row is absent or deferred (no second claim), checked in the same instant as the
  claim is written;
- finish: the row moves from the state the worker saw to its outcome, and the campaign's counters grow
  in the same transaction, so an outcome is counted exactly once however often it is recorded;
- defer: the row, its release wave entry and the deferred counter are written together.
See domain/sending.py for the states.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo._transactions import LabelledTransaction, commit_with_retries
from chalicelib.adapters.dynamo.conditions import condition_failed
from chalicelib.adapters.dynamo.cursors import decode_cursor, encode_cursor, require_partition, validate_limit
from chalicelib.adapters.dynamo.keys import campaign_key, stamp, thread_key, time_key, utc, wave_key
from chalicelib.adapters.dynamo.tables import CampaignRow, ContactRow, ReleaseWaveRow, SendLedgerRow, SubscriberRow
from chalicelib.adapters.dynamo.totals import add_to_totals
from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.sending import LedgerEntry, SendState
from chalicelib.domain.subscribers import SubscriberStatus
from chalicelib.services.ports import ClaimResult, Page

# The frequency cap looks back days, not months; 100 days outlasts any cap a merchant can set.
CONTACT_TTL = timedelta(days=100)
# A wave entry is only a pointer to its ledger row; keep it a while after its release for inspection.
WAVE_TTL = timedelta(days=30)
_WAVE_CURSOR_KEYS = {"wave_key", "phone"}


def row_to_entry(shop_id: str, campaign_id: str, row: SendLedgerRow) -> LedgerEntry:
    """The ledger entry a row holds."""
    return LedgerEntry(
        shop_id=shop_id,
        campaign_id=campaign_id,
        phone=row.phone,
        state=SendState(row.state),
        at=utc(row.at),
        reason=row.reason,
        provider_message_id=row.provider_message_id,
        parts=int(row.parts or 0),
        release_at=utc(row.release_at) if row.release_at else None,
        attempts=int(row.attempts or 0),
    )


def _counter(state: SendState) -> Any:
    return {SendState.SENT: CampaignRow.sent, SendState.SKIPPED: CampaignRow.skipped, SendState.FAILED: CampaignRow.failed}[state]


class DynamoSendLedger:
    """``SendLedger`` on the send-ledger, release-waves, contacts and campaigns tables."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def _commit(self, build: Callable[[LabelledTransaction], None]) -> frozenset[str]:
        return commit_with_retries(
            build, sleep=self._sleep, busy="the send ledger is busy with concurrent transactions; retry later"
        )

    def get_many(self, shop_id: str, campaign_id: str, phones: Sequence[str]) -> dict[str, LedgerEntry]:
        """Existing rows for these phones (strongly consistent batched reads)."""
        key = campaign_key(shop_id, campaign_id)
        rows = SendLedgerRow.batch_get([(key, phone) for phone in dict.fromkeys(phones)], consistent_read=True)
        return {row.phone: row_to_entry(shop_id, campaign_id, row) for row in rows}

    def claim(self, shop_id: str, campaign_id: str, phone: str, at: datetime) -> ClaimResult:
        """In one transaction: campaign In Progress, subscriber active, row absent or deferred -> claimed."""
        stamp = utc(at)
        ledger_actions: list[Action] = [
            SendLedgerRow.state.set(SendState.CLAIMED.value),
            SendLedgerRow.at.set(stamp),
            SendLedgerRow.attempts.add(1),
        ]

        def build(tx: LabelledTransaction) -> None:
            tx.condition_check(
                "campaign", CampaignRow, shop_id, CampaignRow.status == CampaignStatus.IN_PROGRESS.value, range_key=campaign_id
            )
            tx.condition_check(
                "subscriber", SubscriberRow, shop_id, SubscriberRow.status == SubscriberStatus.ACTIVE.value, range_key=phone
            )
            tx.update(
                "ledger",
                SendLedgerRow(campaign_key(shop_id, campaign_id), phone),
                actions=ledger_actions,
                condition=SendLedgerRow.phone.does_not_exist() | (SendLedgerRow.state == SendState.DEFERRED.value),
            )

        failed = self._commit(build)
        # The campaign first: once it has ended, nothing else about the recipient matters.
        if "campaign" in failed:
            return ClaimResult.CAMPAIGN_NOT_RUNNING
        if "subscriber" in failed:
            return ClaimResult.NOT_SUBSCRIBED
        if "ledger" in failed:
            return ClaimResult.TAKEN
        return ClaimResult.CLAIMED

    def finish(self, entry: LedgerEntry, *, previous: SendState | None) -> bool:
        """Move the row from ``previous`` (None: absent) to the final ``entry``, count it on the campaign and,
        for SENT, in the contact history, all in one transaction. False (nothing written) if the row was not in
        ``previous`` or the campaign does not exist."""
        state = SendState(entry.state)
        if not state.final:
            raise InvalidInput(f"finish records an outcome, not {state.value}", code="not_final")
        if previous is not None and SendState(previous).final:
            # From a final state the condition could hold again and count the recipient twice.
            raise InvalidInput(f"a {previous.value} row is already finished", code="already_final")
        stamp = utc(entry.at)
        ledger_actions: list[Action] = [
            SendLedgerRow.state.set(state.value),
            SendLedgerRow.at.set(stamp),
            SendLedgerRow.parts.set(entry.parts),
            SendLedgerRow.reason.remove() if entry.reason is None else SendLedgerRow.reason.set(entry.reason),
            SendLedgerRow.provider_message_id.remove()
            if entry.provider_message_id is None
            else SendLedgerRow.provider_message_id.set(entry.provider_message_id),
        ]
        expected = SendLedgerRow.phone.does_not_exist() if previous is None else SendLedgerRow.state == SendState(previous).value
        counter_actions: list[Action] = [_counter(state).add(1), CampaignRow.done.add(1), CampaignRow.parts.add(entry.parts)]

        def build(tx: LabelledTransaction) -> None:
            tx.update(
                "ledger",
                SendLedgerRow(campaign_key(entry.shop_id, entry.campaign_id), entry.phone),
                actions=ledger_actions,
                condition=expected,
            )
            # Conditioned on existence so a stale job for a deleted campaign cannot create a half row.
            tx.update(
                "campaign",
                CampaignRow(entry.shop_id, entry.campaign_id),
                actions=counter_actions,
                condition=CampaignRow.campaign_id.exists(),
            )
            add_to_totals(tx, entry.shop_id, {state.value: 1, "parts": entry.parts})
            if state is SendState.SENT:
                contact = ContactRow(
                    thread_key(entry.shop_id, entry.phone),
                    time_key(stamp, entry.campaign_id),
                    expires_at=int((stamp + CONTACT_TTL).timestamp()),
                )
                tx.put("contact", contact)

        return not self._commit(build)

    def defer(self, shop_id: str, campaign_id: str, phone: str, release_at: datetime, at: datetime) -> bool:
        """Absent -> deferred until ``release_at`` (listed in that wave, deferred counter + 1): True. Already
        deferred -> moved to the new wave: False. Claimed or finished: nothing written, False."""
        key = campaign_key(shop_id, campaign_id)
        release = utc(release_at)
        wave = ReleaseWaveRow(wave_key(shop_id, campaign_id, release), phone, expires_at=int((release + WAVE_TTL).timestamp()))

        def first_time(tx: LabelledTransaction) -> None:
            row = SendLedgerRow(key, phone, state=SendState.DEFERRED.value, at=utc(at), release_at=release, attempts=0)
            tx.put("ledger", row, condition=SendLedgerRow.phone.does_not_exist())
            tx.put("wave", wave)
            tx.update(
                "campaign",
                CampaignRow(shop_id, campaign_id),
                actions=[CampaignRow.deferred.add(1)],
                condition=CampaignRow.campaign_id.exists(),
            )
            add_to_totals(tx, shop_id, {"deferred": 1})

        failed = self._commit(first_time)
        if not failed:
            return True
        if "ledger" not in failed:
            return False  # the campaign is gone: nothing to defer for

        def again(tx: LabelledTransaction) -> None:
            # The old wave entry stays; the release of that wave finds release_at moved and leaves the row alone.
            tx.update(
                "ledger",
                SendLedgerRow(key, phone),
                actions=[SendLedgerRow.release_at.set(release)],
                condition=SendLedgerRow.state == SendState.DEFERRED.value,
            )
            tx.put("wave", wave)

        self._commit(again)
        return False

    def unclaim(self, shop_id: str, campaign_id: str, phone: str) -> None:
        """Claimed -> absent (the provider definitely did not send); any other state is left alone."""
        try:
            SendLedgerRow(campaign_key(shop_id, campaign_id), phone).delete(
                condition=SendLedgerRow.state == SendState.CLAIMED.value
            )
        except DeleteError as exc:
            if condition_failed(exc):
                return
            raise

    def wave(self, shop_id: str, campaign_id: str, release_at: datetime, *, limit: int, cursor: str | None) -> Page[str]:
        """Phones waiting in one release wave, in phone order; ``cursor`` continues a previous page."""
        limit = validate_limit(limit)
        key = wave_key(shop_id, campaign_id, release_at)
        start: dict[str, Any] | None = None
        if cursor is not None:
            start = decode_cursor(cursor, expected_keys=_WAVE_CURSOR_KEYS)
            require_partition(start, "wave_key", key)
        # One row more than asked tells whether another page exists.
        rows = list(ReleaseWaveRow.query(key, consistent_read=True, limit=limit + 1, last_evaluated_key=start))
        phones = [row.phone for row in rows[:limit]]
        if len(rows) <= limit:
            return Page(items=phones)
        return Page(items=phones, cursor=encode_cursor({"wave_key": {"S": key}, "phone": {"S": phones[-1]}}))


class DynamoContactHistory:
    """``ContactHistory`` on the contacts table (written by ``DynamoSendLedger.finish``)."""

    def count_since(self, shop_id: str, phone: str, since: datetime) -> int:
        """Campaign messages sent to the phone at or after ``since``."""
        # sent_key is "<fixed-width UTC>#<campaign id>", so the bare stamp sorts just before every key at ``since``.
        return ContactRow.count(
            thread_key(shop_id, phone), range_key_condition=ContactRow.sent_key >= stamp(since), consistent_read=True
        )
