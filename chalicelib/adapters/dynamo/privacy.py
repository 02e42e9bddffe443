"""Privacy in DynamoDB: the personal-data stores a data request reads and a redaction erases, the hashed
suppression list, data-request exports, and shop/redact's erasure of everything a shop owns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pynamodb.models import Model

from chalicelib.adapters.dynamo.campaigns import PAGE_PLAN_PREFIX
from chalicelib.adapters.dynamo.conditions import save_new
from chalicelib.adapters.dynamo.inbox import row_to_conversation, row_to_reply
from chalicelib.adapters.dynamo.keys import (
    CONTACT_WINDOW,
    campaign_of_ledger_key,
    gate_keys,
    ledger_key,
    ledger_keys,
    thread_key,
    totals_keys,
    utc,
    wave_key,
)
from chalicelib.adapters.dynamo.subscribers import row_to_message
from chalicelib.adapters.dynamo.tables import (
    CampaignGateRow,
    CampaignRow,
    CampaignTotalsRow,
    ClickRow,
    ConsentEventRow,
    ContactRow,
    ConversationRow,
    DedupeRow,
    IdempotencyRow,
    InboxCounterRow,
    LinkRow,
    ListJobRow,
    MessageRow,
    OrderRow,
    PrivacyExportRow,
    ReleaseWaveRow,
    ReplyRow,
    SegmentRow,
    SendLedgerRow,
    ShopKeyRow,
    ShopRow,
    SubscriberRow,
)
from chalicelib.domain.privacy import PrivacyExport, conversation_json, message_json, reply_json, suppression_hash
from chalicelib.domain.shopify import ACCEPTED_PREFIX, DONE_PREFIX

_SUPPRESSED = "suppressed#"


def _delete_all(rows: Iterable[Model]) -> int:
    """Delete rows in batches of 25 (PynamoDB re-sends unprocessed items); how many."""
    deleted = 0
    batches: dict[type[Model], Any] = {}
    try:
        for row in rows:
            model = type(row)
            if model not in batches:
                batches[model] = model.batch_write().__enter__()
            batches[model].delete(row)
            deleted += 1
    finally:
        for batch in batches.values():
            batch.__exit__(None, None, None)
    return deleted


class DynamoThreadData:
    """``PersonalData`` for the conversation thread (messages table)."""

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        """Every line of the thread, oldest first."""
        rows = MessageRow.query(thread_key(shop_id, phone), consistent_read=True)
        return {"messages": [message_json(row_to_message(row)) for row in rows]}

    def erase(self, shop_id: str, phone: str) -> int:
        """Delete every line of the thread."""
        return _delete_all(MessageRow.query(thread_key(shop_id, phone), consistent_read=True))


class DynamoInboxData:
    """``PersonalData`` for the Inbox conversation; erasing an unresolved one takes it off the red dot."""

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        """The conversation as the Inbox lists it."""
        try:
            row = ConversationRow.get(shop_id, phone, consistent_read=True)
        except ConversationRow.DoesNotExist:
            return {"conversation": None}
        return {"conversation": conversation_json(row_to_conversation(row))}

    def erase(self, shop_id: str, phone: str) -> int:
        """Delete the conversation, moving the unresolved count with it."""
        try:
            row = ConversationRow.get(shop_id, phone, consistent_read=True)
        except ConversationRow.DoesNotExist:
            return 0
        conversation = row_to_conversation(row)
        row.delete(condition=ConversationRow.version == row.version)
        if conversation.counts_as_unresolved:
            InboxCounterRow(shop_id).update(actions=[InboxCounterRow.unresolved.add(-1)])
        return 1


class DynamoReplyData:
    """``PersonalData`` for one-to-one Inbox replies."""

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        """Every reply to the person."""
        rows = ReplyRow.query(thread_key(shop_id, phone), consistent_read=True)
        return {"replies": [reply_json(row_to_reply(row)) for row in rows]}

    def erase(self, shop_id: str, phone: str) -> int:
        """Delete every reply to the person."""
        return _delete_all(ReplyRow.query(thread_key(shop_id, phone), consistent_read=True))


def _received(row: ContactRow) -> list[str]:
    # The contact window lists its messages' times; an item from before windows is one message, named by its key.
    if row.sent_key == CONTACT_WINDOW:
        return [utc(at).isoformat() for at in row.sent or ()]  # type: ignore[arg-type]
    return [row.sent_key]


class DynamoContactData:
    """``PersonalData`` for the frequency-cap contact history."""

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        """When the person received campaign messages."""
        rows = ContactRow.query(thread_key(shop_id, phone), consistent_read=True)
        return {"campaign_messages_received": [received for row in rows for received in _received(row)]}

    def erase(self, shop_id: str, phone: str) -> int:
        """Delete the contact history."""
        return _delete_all(ContactRow.query(thread_key(shop_id, phone), consistent_read=True))


class DynamoSendHistoryData:
    """``PersonalData`` for the campaigns' send ledgers and quiet-hours waves (keyed by campaign, then phone)."""

    def _rows(self, shop_id: str, phone: str) -> list[SendLedgerRow]:
        # One keyed read per campaign of the shop: the ledger has no index by phone, and a shop's campaigns are few.
        keys = [
            (ledger_key(shop_id, c.campaign_id, phone), phone)
            for c in CampaignRow.query(shop_id, attributes_to_get=["campaign_id"])
        ]
        return list(SendLedgerRow.batch_get(keys, consistent_read=True)) if keys else []

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        """Each campaign the person was a recipient of, and what happened."""
        return {
            "campaign_sends": [
                {"campaign_id": campaign_of_ledger_key(row.campaign_key), "state": row.state, "at": utc(row.at).isoformat()}
                for row in self._rows(shop_id, phone)
            ]
        }

    def erase(self, shop_id: str, phone: str) -> int:
        """Delete the person's ledger rows and their release-wave entries."""
        rows = self._rows(shop_id, phone)
        waves = [
            ReleaseWaveRow(wave_key(shop_id, campaign_of_ledger_key(row.campaign_key), row.release_at, phone), phone)
            for row in rows
            if row.release_at is not None
        ]
        return _delete_all(rows) + _delete_all(waves)


class DynamoSuppressions:
    """``Suppressions`` on the dedupe table: ``suppressed#<sha256(shop#phone)>``, never expiring."""

    def add(self, shop_id: str, phone: str, at: datetime) -> None:
        """Suppress the number (a second add keeps the first)."""
        save_new(DedupeRow(_SUPPRESSED + suppression_hash(shop_id, phone), taken_at=utc(at)), DedupeRow.key.does_not_exist())

    def contains(self, shop_id: str, phone: str) -> bool:
        """True when the number was suppressed for the shop."""
        try:
            DedupeRow.get(_SUPPRESSED + suppression_hash(shop_id, phone), consistent_read=True)
        except DedupeRow.DoesNotExist:
            return False
        return True

    def suppressed(self, shop_id: str, phones: Sequence[str]) -> set[str]:
        """Which of ``phones`` were suppressed (BatchGetItem, 100 keys a call, strongly consistent)."""
        keys = {_SUPPRESSED + suppression_hash(shop_id, phone): phone for phone in dict.fromkeys(phones)}
        return {keys[row.key] for row in DedupeRow.batch_get(list(keys), consistent_read=True)}


class DynamoPrivacyExports:
    """``PrivacyExports`` on the privacy-exports table; also ``PersonalData`` (an export is the person's data)."""

    def save(self, export: PrivacyExport) -> None:
        """Store the export."""
        PrivacyExportRow(
            export.shop_id, export.export_id, phone=export.phone, created_at=utc(export.created_at), data=export.data
        ).save()

    def get(self, shop_id: str, export_id: str) -> PrivacyExport | None:
        """One export, or None."""
        try:
            row = PrivacyExportRow.get(shop_id, export_id, consistent_read=True)
        except PrivacyExportRow.DoesNotExist:
            return None
        return PrivacyExport(row.shop_id, row.export_id, row.phone, utc(row.created_at), dict(row.data or {}))

    def _of(self, shop_id: str, phone: str) -> Iterable[PrivacyExportRow]:
        return PrivacyExportRow.query(shop_id, filter_condition=PrivacyExportRow.phone == phone, consistent_read=True)

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        """The ids of earlier exports about the person (not their contents again)."""
        return {"earlier_exports": [row.export_id for row in self._of(shop_id, phone)]}

    def erase(self, shop_id: str, phone: str) -> int:
        """Delete the person's exports."""
        return _delete_all(self._of(shop_id, phone))


# Tables erase_shop has decided about (a test holds ALL_TABLES to these lists, so a new table must be decided).
# Kept: dedupe keys are opaque message ids and hashed suppressions (the webhook ids that name the shop go);
# the sandbox tables are devstack's stand-in for the carrier's records, not smscast's.
ERASED_TABLES = frozenset(
    {"shops", "shop-keys", "subscribers", "consent-events", "messages", "campaigns", "send-ledger", "release-waves",
     "contacts", "segments", "pacers", "conversations", "inbox-counters", "replies", "idempotency", "privacy-exports",
     "links", "clicks", "orders", "campaign-totals", "campaign-gates", "list-jobs"}
)  # fmt: skip
# rate-limits: counters keyed by hashes of an IP or a phone, gone by TTL an hour or two after their window.
KEPT_TABLES = frozenset({"dedupe", "sandbox-messages", "sandbox-control", "rate-limits"})


class DynamoShopData:
    """``ShopData``: shop/redact's erasure, table by table, from the shop's own partitions."""

    def erase_shop(self, shop_id: str) -> int:
        """Delete every item of the shop; dedupe keys (hashed or opaque ids) and suppressions stay."""
        phones = {row.phone for row in SubscriberRow.query(shop_id)} | {row.phone for row in ConversationRow.query(shop_id)}
        deleted = 0
        for phone in phones:
            key = thread_key(shop_id, phone)
            for model in (MessageRow, ReplyRow, ContactRow):
                deleted += _delete_all(model.query(key))
            deleted += _delete_all(ConsentEventRow.query(key))
        for campaign in CampaignRow.query(shop_id):
            for key in ledger_keys(shop_id, campaign.campaign_id):
                deleted += _delete_all(SendLedgerRow.query(key))
            # A campaign's gates are keyed by shop#campaign#shard: found from the campaign, before its row goes.
            deleted += _delete_all(CampaignGateRow.batch_get(gate_keys(shop_id, campaign.campaign_id)))
        # The shop's totals items (and the unsharded one a shop may have from before the sharding).
        deleted += _delete_all(CampaignTotalsRow.batch_get([shop_id, *totals_keys(shop_id)]))
        # Wave and idempotency keys start with the shop but are not partitioned by it: a scan, once per shop ever.
        deleted += _delete_all(ReleaseWaveRow.scan(ReleaseWaveRow.wave_key.startswith(f"{shop_id}#")))
        deleted += _delete_all(IdempotencyRow.scan(IdempotencyRow.key.startswith(f"{shop_id}#")))
        deleted += _delete_all(ShopKeyRow.scan(ShopKeyRow.shop_id == shop_id))
        # Links are keyed by their code (opaque) and clicks by shop#phone of any recipient, erased or not.
        deleted += _delete_all(LinkRow.scan(LinkRow.shop_id == shop_id))
        deleted += _delete_all(ClickRow.scan(ClickRow.subscriber_key.startswith(f"{shop_id}#")))
        # webhook ids and kept planning pages name the shop; other dedupe keys are opaque
        for prefix in (ACCEPTED_PREFIX, DONE_PREFIX, PAGE_PLAN_PREFIX):
            deleted += _delete_all(DedupeRow.scan(DedupeRow.key.startswith(f"{prefix}{shop_id}#")))
        for by_shop in (SubscriberRow, ConversationRow, CampaignRow, SegmentRow, PrivacyExportRow, OrderRow, ListJobRow):
            deleted += _delete_all(by_shop.query(shop_id))
        # The pacers table is keyed by sender number and holds only a send instant: nothing of the shop's to erase.
        for single in (InboxCounterRow, ShopRow):
            try:
                single.get(shop_id).delete()
                deleted += 1
            except single.DoesNotExist:
                pass
        return deleted
