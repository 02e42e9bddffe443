"""The send ledger, release waves and contact windows in DynamoDB: where at-most-once is enforced per group.

A campaign's recipients move in groups (see services/sending.py), and each step of a group is ONE
TransactWriteItems carrying the conditions that make it safe:
- claim: the campaign is still In Progress, as one of its gates says (End Campaign holds: a status change writes
  the campaign row and all its gates in one transaction, see campaigns.py); per recipient the ledger row is still where
  the worker saw it (no second claim) and the contact window is unchanged (two campaigns cannot both squeeze
  under the frequency cap) -> claimed. Consent is not a condition here: a shop's subscribers share one partition
  key, which a condition check per recipient (a write) would run far past 1,000 WCU/s; the send path reads the
  group's subscribers strongly consistently just before its claim instead (services/sending.py);
- settle: each row moves from the state the worker saw to its outcome, the counters of one of the campaign's gates
  and of one of the shop's totals items grow by the group's sums, and sent messages' thread lines are written, so an
  outcome is counted exactly once however often it is recorded;
- defer: the rows, their release-wave entries and the deferred counter are written together.
A recipient whose condition fails is reported and left out, and the rest of the group is committed again.
Rows live under ``keys.ledger_key`` (128 partitions per campaign), and a group's gate and totals item are picked
by a hash of its first phone (keys.gate_for, keys.totals_for), so no partition key runs hot.
See domain/sending.py for the states.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo._transactions import LabelledTransaction, commit_with_retries
from chalicelib.adapters.dynamo.cursors import decode_cursor, encode_cursor, require_partition, validate_limit
from chalicelib.adapters.dynamo.keys import (
    CONTACT_WINDOW,
    gate_for,
    ledger_key,
    ledger_keys,
    thread_key,
    utc,
    wave_key,
    wave_keys,
)
from chalicelib.adapters.dynamo.subscribers import message_to_row
from chalicelib.adapters.dynamo.tables import CampaignGateRow, ContactRow, ReleaseWaveRow, SendLedgerRow
from chalicelib.adapters.dynamo.totals import add_to_totals
from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.receipts import Delivery, DeliveryReceipt
from chalicelib.domain.sending import (
    CONTACT_MEMORY,
    Claim,
    ClaimRefusal,
    ContactWindow,
    Deferral,
    DeliveryRecord,
    GroupClaim,
    LedgerEntry,
    Release,
    SendState,
    Settlement,
)
from chalicelib.services.ports import Page

# A wave entry is only a pointer to its ledger row; keep it a while after its release for inspection.
WAVE_TTL_DAYS = 30
_WAVE_CURSOR_KEYS = {"wave_key", "phone"}
# DynamoDB takes at most 100 items per TransactWriteItems.
MAX_TRANSACTION_ITEMS = 100
# A claim's failed conditions in the order they decide a recipient's refusal (as FakeLedger decides it).
_REFUSALS = (
    ("ledger", ClaimRefusal.TAKEN),
    ("contact", ClaimRefusal.CONTACTS_CHANGED),
)

T = TypeVar("T")


def _pieces(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


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
        delivery=Delivery(row.delivery) if row.delivery else None,
        delivery_reason=row.delivery_reason,
        delivery_at=utc(row.delivery_at) if row.delivery_at else None,
    )


def _row(shop_id: str, campaign_id: str, phone: str) -> SendLedgerRow:
    return SendLedgerRow(ledger_key(shop_id, campaign_id, phone), phone)


def _in_state(previous: SendState | None) -> Any:
    """The condition 'the row is still where the worker saw it' (None: absent)."""
    if previous is None:
        return SendLedgerRow.phone.does_not_exist()
    return SendLedgerRow.state == SendState(previous).value


def _contact_row(shop_id: str, phone: str, window: ContactWindow, at: datetime) -> ContactRow:
    return ContactRow(
        thread_key(shop_id, phone),
        CONTACT_WINDOW,
        sent=list(window.sent),
        version=window.version,
        expires_at=int((utc(at) + CONTACT_MEMORY).timestamp()),
    )


def _refused_phone(label: str) -> str:
    return label.partition(":")[2]


class DynamoSendLedger:
    """``SendLedger`` on the send-ledger, release-waves, contacts, messages, campaign-gates and campaign-totals
    tables."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def _commit(self, build: Callable[[LabelledTransaction], None]) -> frozenset[str]:
        return commit_with_retries(
            build, sleep=self._sleep, busy="the send ledger is busy with concurrent transactions; retry later"
        )

    def get_many(self, shop_id: str, campaign_id: str, phones: Sequence[str]) -> dict[str, LedgerEntry]:
        """Existing rows for these phones (strongly consistent batched reads)."""
        keys = [(ledger_key(shop_id, campaign_id, phone), phone) for phone in dict.fromkeys(phones)]
        rows = SendLedgerRow.batch_get(keys, consistent_read=True) if keys else []
        return {row.phone: row_to_entry(shop_id, campaign_id, row) for row in rows}

    def rows(self, shop_id: str, campaign_id: str) -> Iterator[LedgerEntry]:
        """Every row of the campaign, partition by partition (erasure, audits, tests; never the send path)."""
        for key in ledger_keys(shop_id, campaign_id):
            for row in SendLedgerRow.query(key, consistent_read=True):
                yield row_to_entry(shop_id, campaign_id, row)

    # --- claim -----------------------------------------------------------------------------------------

    def claim(self, shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
        """Claim a group in as few transactions as DynamoDB allows (two items per recipient); a recipient whose
        condition fails is left out with its reason and the others are claimed."""
        unique = list({claim.phone: claim for claim in claims}.values())
        claimed: list[str] = []
        refused: dict[str, ClaimRefusal] = {}
        for piece in _pieces(unique, (MAX_TRANSACTION_ITEMS - 1) // 2):
            pending = list(piece)
            while pending:
                failed = self._commit(
                    partial(self._build_claim, shop_id=shop_id, campaign_id=campaign_id, claims=tuple(pending), at=at)
                )
                if not failed:
                    claimed.extend(claim.phone for claim in pending)
                    break
                if "campaign" in failed:
                    # Once the campaign has ended nothing else about the group matters.
                    refused.update(
                        {claim.phone: ClaimRefusal.CAMPAIGN_NOT_RUNNING for claim in unique if claim.phone not in claimed}
                    )
                    return GroupClaim(tuple(claimed), refused)
                # Both conditions of one recipient may fail at once; the reason must not depend on set order.
                # The ledger first: a recipient someone else holds is theirs, whatever else changed.
                for kind, reason in _REFUSALS:
                    for label in sorted(failed):
                        if label.partition(":")[0] == kind:
                            refused.setdefault(_refused_phone(label), reason)
                pending = [claim for claim in pending if claim.phone not in refused]
        return GroupClaim(tuple(claimed), refused)

    def _build_claim(
        self, tx: LabelledTransaction, shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime
    ) -> None:
        stamp = utc(at)
        # Any gate would do (all say the same status); one picked by the group spreads the checks over them all.
        gate = gate_for(shop_id, campaign_id, claims[0].phone)
        tx.condition_check("campaign", CampaignGateRow, gate, CampaignGateRow.status == CampaignStatus.IN_PROGRESS.value)
        for claim in claims:
            phone = claim.phone
            tx.update(
                f"ledger:{phone}",
                _row(shop_id, campaign_id, phone),
                actions=[
                    SendLedgerRow.state.set(SendState.CLAIMED.value),
                    SendLedgerRow.at.set(stamp),
                    SendLedgerRow.attempts.add(1),
                ],
                condition=_in_state(claim.previous),
            )
            contact = _contact_row(shop_id, phone, claim.contacts.with_send(stamp), stamp)
            unchanged = (
                ContactRow.sent_key.does_not_exist()
                if claim.contacts.version == 0
                else ContactRow.version == claim.contacts.version
            )
            tx.put(f"contact:{phone}", contact, condition=unchanged)

    # --- settle ----------------------------------------------------------------------------------------

    def settle(
        self, shop_id: str, campaign_id: str, settlements: Sequence[Settlement], *, released: Sequence[Release] = ()
    ) -> frozenset[str]:
        """Record final outcomes (counted once on the campaign and the shop's totals, thread lines for sent
        messages) and give claimed rows in ``released`` back (absent again, and out of the contact window).
        Returns the phones whose outcome this call recorded; the others had been settled by someone else."""
        for settlement in settlements:
            state = SendState(settlement.entry.state)
            if not state.final:
                raise InvalidInput(f"settle records an outcome, not {state.value}", code="not_final")
            if settlement.previous is not None and SendState(settlement.previous).final:
                # From a final state the condition could hold again and count the recipient twice.
                raise InvalidInput(f"a {settlement.previous.value} row is already finished", code="already_final")
        recorded: set[str] = set()
        unique = list({s.entry.phone: s for s in settlements}.values())
        # Each settlement takes one or two items (its row, its thread line), plus the campaign's gate and the totals.
        size = (MAX_TRANSACTION_ITEMS - 2) // 2
        for piece in _pieces(unique, size):
            pending = list(piece)
            while pending:
                failed = self._commit(
                    partial(self._build_settle, shop_id=shop_id, campaign_id=campaign_id, settlements=tuple(pending))
                )
                if not failed:
                    recorded.update(s.entry.phone for s in pending)
                    break
                if "campaign" in failed:
                    return frozenset(recorded)  # the campaign was deleted: a stale job, nothing to count on
                lost = {_refused_phone(label) for label in failed}
                pending = [s for s in pending if s.entry.phone not in lost]
        for releases in _pieces(list({r.phone: r for r in released}.values()), MAX_TRANSACTION_ITEMS // 2):
            self._release(shop_id, campaign_id, releases)
        return frozenset(recorded)

    def _build_settle(self, tx: LabelledTransaction, shop_id: str, campaign_id: str, settlements: Sequence[Settlement]) -> None:
        totals: Counter[str] = Counter()
        for settlement in settlements:
            entry = settlement.entry
            state = SendState(entry.state)
            actions: list[Action] = [
                SendLedgerRow.state.set(state.value),
                SendLedgerRow.at.set(utc(entry.at)),
                SendLedgerRow.parts.set(entry.parts),
                SendLedgerRow.reason.remove() if entry.reason is None else SendLedgerRow.reason.set(entry.reason),
                SendLedgerRow.provider_message_id.remove()
                if entry.provider_message_id is None
                else SendLedgerRow.provider_message_id.set(entry.provider_message_id),
            ]
            tx.update(
                f"ledger:{entry.phone}",
                _row(shop_id, campaign_id, entry.phone),
                actions=actions,
                condition=_in_state(settlement.previous),
            )
            if settlement.line is not None:
                tx.put(f"line:{entry.phone}", message_to_row(settlement.line))
            totals[state.value] += 1
            totals["parts"] += entry.parts
        counters = {name: amount for name, amount in totals.items() if amount}
        actions = [getattr(CampaignGateRow, name).add(amount) for name, amount in counters.items()]
        actions.append(CampaignGateRow.done.add(len(settlements)))
        # Conditioned on existence so a stale job for a deleted campaign (whose gates went with it) cannot create a
        # stray gate. Which gate does not matter to the sums; the group's first phone spreads them.
        by = settlements[0].entry.phone
        gate = CampaignGateRow(gate_for(shop_id, campaign_id, by))
        tx.update("campaign", gate, actions=actions, condition=CampaignGateRow.gate_key.exists())
        add_to_totals(tx, shop_id, counters, by=by)

    def _release(self, shop_id: str, campaign_id: str, releases: Sequence[Release]) -> None:
        # Claimed -> absent, each row its own condition: one already settled by someone else stays as it is. The
        # contact window gets the unsent message taken out only if no other claim wrote it since; otherwise it
        # keeps counting a message that never left, which can only make the cap stricter.
        pending = list(releases)
        keep_window = {r.phone for r in releases}
        while pending:

            def build(
                tx: LabelledTransaction,
                group: tuple[Release, ...] = tuple(pending),
                windows: frozenset[str] = frozenset(keep_window),
            ) -> None:
                for release in group:
                    phone = release.phone
                    condition = SendLedgerRow.state == SendState.CLAIMED.value
                    tx.delete(f"ledger:{phone}", _row(shop_id, campaign_id, phone), condition=condition)
                    if phone in windows:
                        restored = release.restored
                        row = _contact_row(shop_id, phone, restored, release.claimed_at)
                        tx.put(f"contact:{phone}", row, condition=ContactRow.version == release.claimed.version)

            failed = self._commit(build)
            if not failed:
                return
            keep_window -= {_refused_phone(label) for label in failed if label.startswith("contact:")}
            lost = {_refused_phone(label) for label in failed if label.startswith("ledger:")}
            pending = [r for r in pending if r.phone not in lost]

    # --- defer -----------------------------------------------------------------------------------------

    def defer(self, shop_id: str, campaign_id: str, deferrals: Sequence[Deferral], at: datetime) -> int:
        """Absent -> deferred until its release time (listed in that wave; the deferred counter grows once per
        recipient); already deferred -> moved to the new wave. Rows that moved on meanwhile are left alone.
        Returns how many recipients were deferred for the first time."""
        first = 0
        unique = list({d.phone: d for d in deferrals}.values())
        # Up to three items a recipient (its row, its new wave entry, the entry it leaves), the gate and the totals.
        for piece in _pieces(unique, (MAX_TRANSACTION_ITEMS - 2) // 3):
            pending = list(piece)
            while pending:
                failed = self._commit(
                    partial(self._build_defer, shop_id=shop_id, campaign_id=campaign_id, deferrals=tuple(pending), at=at)
                )
                if not failed:
                    first += sum(1 for d in pending if d.previous is None)
                    break
                if "campaign" in failed:
                    return first
                lost = {_refused_phone(label) for label in failed}
                pending = [d for d in pending if d.phone not in lost]
        return first

    def _build_defer(
        self, tx: LabelledTransaction, shop_id: str, campaign_id: str, deferrals: Sequence[Deferral], at: datetime
    ) -> None:
        new = 0
        for deferral in deferrals:
            release = utc(deferral.release_at)
            expires = int(release.timestamp()) + WAVE_TTL_DAYS * 86_400
            tx.put(
                f"wave:{deferral.phone}",
                ReleaseWaveRow(wave_key(shop_id, campaign_id, release, deferral.phone), deferral.phone, expires_at=expires),
            )
            if deferral.previous is None:
                row = SendLedgerRow(
                    ledger_key(shop_id, campaign_id, deferral.phone),
                    deferral.phone,
                    state=SendState.DEFERRED.value,
                    at=utc(at),
                    release_at=release,
                    attempts=0,
                )
                tx.put(f"ledger:{deferral.phone}", row, condition=SendLedgerRow.phone.does_not_exist())
                new += 1
            else:
                # The entry in the wave it leaves goes in the same step: no wave keeps a phone no row points to.
                if deferral.moved_from is not None:
                    old_wave = wave_key(shop_id, campaign_id, utc(deferral.moved_from), deferral.phone)
                    tx.delete(f"left:{deferral.phone}", ReleaseWaveRow(old_wave, deferral.phone))
                tx.update(
                    f"ledger:{deferral.phone}",
                    _row(shop_id, campaign_id, deferral.phone),
                    actions=[SendLedgerRow.release_at.set(release)],
                    condition=SendLedgerRow.state == SendState.DEFERRED.value,
                )
        if new:
            by = deferrals[0].phone
            tx.update(
                "campaign",
                CampaignGateRow(gate_for(shop_id, campaign_id, by)),
                actions=[CampaignGateRow.deferred.add(new)],
                condition=CampaignGateRow.gate_key.exists(),
            )
            add_to_totals(tx, shop_id, {"deferred": new}, by=by)

    # --- delivery receipts -----------------------------------------------------------------------------

    def record_deliveries(self, shop_id: str, campaign_id: str, receipts: Sequence[DeliveryReceipt]) -> DeliveryRecord:
        """Each final receipt moves its sent row once (conditioned on the row holding its message id and having no
        delivery yet) and the counters with it, many receipts per transaction; the refused ones are read once to
        tell a receipt that came before its send was settled from an unknown id and a duplicate."""
        finals = [r for r in {r.provider_message_id: r for r in receipts}.values() if r.outcome is not None]
        recorded: set[str] = set()
        refused: list[DeliveryReceipt] = []
        while finals:
            # One item per recipient in a transaction: a second message id for one phone waits for the next round.
            round_ = list({r.phone: r for r in reversed(finals)}.values())[::-1]
            taken = {id(r) for r in round_}
            finals = [r for r in finals if id(r) not in taken]
            for piece in _pieces(round_, MAX_TRANSACTION_ITEMS - 2):
                pending = list(piece)
                while pending:
                    failed = self._commit(
                        partial(self._build_deliveries, shop_id=shop_id, campaign_id=campaign_id, receipts=tuple(pending))
                    )
                    if not failed:
                        recorded.update(r.provider_message_id for r in pending)
                        break
                    if "campaign" in failed:
                        # The campaign was deleted: nothing of it is left to count on.
                        return DeliveryRecord(frozenset(recorded), unknown=frozenset(r.provider_message_id for r in receipts))
                    lost = {_refused_phone(label) for label in failed}
                    refused.extend(r for r in pending if r.phone in lost)
                    pending = [r for r in pending if r.phone not in lost]
        rows = self.get_many(shop_id, campaign_id, [r.phone for r in refused])
        not_settled: set[str] = set()
        unknown: set[str] = set()
        for receipt in refused:
            row = rows.get(receipt.phone)
            if row is None or (row.state is not SendState.CLAIMED and row.provider_message_id != receipt.provider_message_id):
                unknown.add(receipt.provider_message_id)
            elif row.delivery is None:
                # Still claimed, or settled by its worker between the refused transaction and this read: either
                # way nothing recorded it yet, so it is tried again (a duplicate is only one whose row has it).
                not_settled.add(receipt.provider_message_id)
        return DeliveryRecord(frozenset(recorded), frozenset(not_settled), frozenset(unknown))

    def _build_deliveries(
        self, tx: LabelledTransaction, shop_id: str, campaign_id: str, receipts: Sequence[DeliveryReceipt]
    ) -> None:
        counters: Counter[str] = Counter()
        for receipt in receipts:
            outcome = receipt.outcome
            assert outcome is not None
            reason = receipt.reason
            tx.update(
                f"ledger:{receipt.phone}",
                _row(shop_id, campaign_id, receipt.phone),
                actions=[
                    SendLedgerRow.delivery.set(outcome.value),
                    SendLedgerRow.delivery_at.set(utc(receipt.at)),
                    SendLedgerRow.delivery_reason.remove() if reason is None else SendLedgerRow.delivery_reason.set(reason),
                ],
                # The first final receipt wins; the id ties it to this send (a stale or foreign id moves nothing).
                condition=(SendLedgerRow.provider_message_id == receipt.provider_message_id)
                & SendLedgerRow.delivery.does_not_exist(),
            )
            counters[outcome.value] += 1
        actions = [getattr(CampaignGateRow, name).add(amount) for name, amount in counters.items()]
        # A gate, like a group's settle (a receipt poll is as hot as the sends it follows); none for a deleted campaign.
        by = receipts[0].phone
        gate = CampaignGateRow(gate_for(shop_id, campaign_id, by))
        tx.update("campaign", gate, actions=actions, condition=CampaignGateRow.gate_key.exists())
        add_to_totals(tx, shop_id, counters, by=by)

    def wave(self, shop_id: str, campaign_id: str, release_at: datetime, *, limit: int, cursor: str | None) -> Page[str]:
        """Phones waiting in one release wave, partition by partition and in phone order within each; ``cursor``
        continues a previous page."""
        limit = validate_limit(limit)
        keys = wave_keys(shop_id, campaign_id, release_at)
        index, start = 0, None
        if cursor is not None:
            start = decode_cursor(cursor, expected_keys=_WAVE_CURSOR_KEYS)
            index = next((i for i, key in enumerate(keys) if start.get("wave_key") == {"S": key}), -1)
            if index < 0:
                require_partition(start, "wave_key", keys[0])  # refuses it: another wave's, shop's or campaign's
        phones: list[str] = []
        while index < len(keys):
            room = limit - len(phones)
            # One row more than there is room for tells whether this partition has more.
            rows = list(ReleaseWaveRow.query(keys[index], consistent_read=True, limit=room + 1, last_evaluated_key=start))
            phones.extend(row.phone for row in rows[:room])
            if len(rows) > room:
                return Page(items=phones, cursor=_wave_cursor(keys[index], phones[-1]))
            index, start = index + 1, None
            if len(phones) == limit and index < len(keys):
                # "+" sorts before every E.164 number: the next page starts at the top of the next partition.
                return Page(items=phones, cursor=_wave_cursor(keys[index], "+"))
        return Page(items=phones)


def _wave_cursor(key: str, after: str) -> str:
    return encode_cursor({"wave_key": {"S": key}, "phone": {"S": after}})


class DynamoContactHistory:
    """``ContactHistory`` on the contacts table (written by ``DynamoSendLedger.claim``)."""

    def windows(self, shop_id: str, phones: Sequence[str]) -> dict[str, ContactWindow]:
        """Each phone's contact window (empty, version 0, for a phone never messaged), in one batched read."""
        keys = [(thread_key(shop_id, phone), CONTACT_WINDOW) for phone in dict.fromkeys(phones)]
        found = {
            row.subscriber_key.rpartition("#")[2]: ContactWindow(tuple(utc(at) for at in row.sent or ()), int(row.version or 0))  # type: ignore[arg-type]
            for row in (ContactRow.batch_get(keys, consistent_read=True) if keys else [])
        }
        return {phone: found.get(phone, ContactWindow()) for phone in dict.fromkeys(phones)}
