"""Subscribers, their consent history and the conversation lines that change them, in DynamoDB.

Also home of the row <-> domain mappings for these tables (conversations.py reuses the message ones).
Every datetime handed back is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib.adapters.dynamo._transactions import LabelledTransaction, TransactionCancelled
from chalicelib.adapters.dynamo.cursors import decode_cursor, encode_cursor, require_partition, validate_limit
from chalicelib.adapters.dynamo.keys import CONTACT_WINDOW, customer_key, parse_time_key, thread_key, time_key, utc
from chalicelib.adapters.dynamo.tables import ConsentEventRow, ContactRow, DedupeRow, MessageRow, SubscriberRow
from chalicelib.domain.errors import ConcurrentUpdate, Conflict, InvalidInput
from chalicelib.domain.messages import ConversationMessage, Direction, MessageKind
from chalicelib.domain.privacy import consent_json, subscriber_json
from chalicelib.domain.sending import CONTACT_MEMORY
from chalicelib.domain.subscribers import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Source,
    Subscriber,
    SubscriberSearch,
    SubscriberStatus,
    fold,
)
from chalicelib.services.ports import AlreadyDone, Clock, Page, SubscriberChange

# Inbound SMS can be redelivered for days (SNS retries, DLQ redrives); 90 days outlasts all of them.
DEDUPE_TTL = timedelta(days=90)
# With a filter, DynamoDB's Limit counts items read, not items matched; read in larger steps so a sparse
# filter does not cost one round trip per few rows.
_FILTERED_PAGE_SIZE = 100
_SUBSCRIBER_CURSOR_KEYS = {"shop_id", "phone"}


def subscriber_to_row(subscriber: Subscriber, version: int) -> SubscriberRow:
    """The row storing ``subscriber`` at ``version``."""
    return SubscriberRow(
        subscriber.shop_id,
        subscriber.phone,
        status=SubscriberStatus(subscriber.status).value,
        source=Source(subscriber.source).value,
        joined_at=utc(subscriber.joined_at),
        updated_at=utc(subscriber.updated_at),
        opted_out_at=utc(subscriber.opted_out_at) if subscriber.opted_out_at else None,
        name=subscriber.name,
        name_folded=fold(subscriber.name) if subscriber.name else None,
        profile_url=subscriber.profile_url,
        customer_id=subscriber.customer_id,
        customer_key=customer_key(subscriber.shop_id, subscriber.customer_id) if subscriber.customer_id else None,
        orders_count=subscriber.orders_count,
        last_order_at=utc(subscriber.last_order_at) if subscriber.last_order_at else None,
        last_clicked_at=utc(subscriber.last_clicked_at) if subscriber.last_clicked_at else None,
        unreachable_reason=subscriber.unreachable_reason,
        unreachable_at=utc(subscriber.unreachable_at) if subscriber.unreachable_at else None,
        tags=list(subscriber.tags) or None,
        version=version,
    )


def row_to_subscriber(row: SubscriberRow) -> Subscriber:
    """The domain subscriber a row holds."""
    return Subscriber(
        shop_id=row.shop_id,
        phone=row.phone,
        status=SubscriberStatus(row.status),
        source=Source(row.source),
        joined_at=utc(row.joined_at),
        updated_at=utc(row.updated_at),
        name=row.name,
        profile_url=row.profile_url,
        customer_id=row.customer_id,
        opted_out_at=utc(row.opted_out_at) if row.opted_out_at else None,
        orders_count=int(row.orders_count or 0),
        last_order_at=utc(row.last_order_at) if row.last_order_at else None,
        last_clicked_at=utc(row.last_clicked_at) if row.last_clicked_at else None,
        unreachable_reason=row.unreachable_reason,
        unreachable_at=utc(row.unreachable_at) if row.unreachable_at else None,
        tags=tuple(str(tag) for tag in row.tags or ()),
        version=int(row.version),
    )


def event_to_row(event: ConsentEvent) -> ConsentEventRow:
    """The append-only row for a consent event."""
    return ConsentEventRow(
        thread_key(event.shop_id, event.phone),
        time_key(event.at, event.event_id),
        action=ConsentAction(event.action).value,
        source=ConsentSource(event.source).value,
        text=event.text,
        page_url=event.page_url,
    )


def row_to_event(row: ConsentEventRow) -> ConsentEvent:
    """The consent event a row holds."""
    shop_id, _, phone = row.subscriber_key.rpartition("#")
    at, event_id = parse_time_key(row.event_key)
    return ConsentEvent(
        shop_id=shop_id,
        phone=phone,
        at=at,
        event_id=event_id,
        action=ConsentAction(row.action),
        source=ConsentSource(row.source),
        text=row.text,
        page_url=row.page_url,
    )


def message_to_row(message: ConversationMessage) -> MessageRow:
    """The row for one conversation line."""
    return MessageRow(
        thread_key(message.shop_id, message.phone),
        time_key(message.at, message.message_id),
        direction=Direction(message.direction).value,
        body=message.body,
        kind=MessageKind(message.kind).value if message.kind is not None else None,
        intent=message.intent,
        media_urls=list(message.media_urls) or None,
        campaign_id=message.campaign_id,
        provider_message_id=message.provider_message_id,
    )


def row_to_message(row: MessageRow) -> ConversationMessage:
    """The conversation line a row holds."""
    shop_id, _, phone = row.thread_key.rpartition("#")
    at, message_id = parse_time_key(row.line_key)
    return ConversationMessage(
        shop_id=shop_id,
        phone=phone,
        at=at,
        message_id=message_id,
        direction=Direction(row.direction),
        body=row.body,
        kind=MessageKind(row.kind) if row.kind else None,
        intent=row.intent,
        media_urls=tuple(str(url) for url in row.media_urls or ()),
        campaign_id=row.campaign_id,
        provider_message_id=row.provider_message_id,
    )


def _change_time(change: SubscriberChange, clock: Clock) -> datetime:
    # The change's own time, else the clock port's, so devstack's movable clock and tests stay consistent.
    if change.event is not None:
        return utc(change.event.at)
    if change.message is not None:
        return utc(change.message.at)
    if change.subscriber is not None:
        return utc(change.subscriber.updated_at)
    return utc(clock.now())


def _check_one_subscriber(change: SubscriberChange) -> None:
    # Every part of a change must concern one number of one shop, or a bug could write across tenants.
    owners = {(part.shop_id, part.phone) for part in (change.subscriber, change.event, change.message) if part is not None}
    if len(owners) > 1:
        raise InvalidInput("a change must concern one subscriber of one shop", code="mixed_change")


def _move_contact_window(tx: LabelledTransaction, subscriber: Subscriber, at: datetime) -> None:
    """Move the number's contact window to a new version in the same transaction as the consent change: a campaign
    group that read the window before it cannot claim the number any more (the claim's condition is on the version,
    see ``DynamoSendLedger.claim``), so a STOP is honoured at the claim itself without a consent read per group. The
    window's messages are kept; a number never messaged gets a window with none, expiring like any other."""
    expires_at = int((utc(at) + CONTACT_MEMORY).timestamp())
    row = ContactRow(thread_key(subscriber.shop_id, subscriber.phone), CONTACT_WINDOW)
    tx.update("contacts", row, actions=[ContactRow.version.add(1), ContactRow.expires_at.set(ContactRow.expires_at | expires_at)])


class DynamoSubscriberStore:
    """``SubscriberStore`` on the subscribers, consent-events, messages and dedupe tables."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def get(self, shop_id: str, phone: str) -> Subscriber | None:
        """One subscriber or None (strongly consistent: callers read, then write with its version)."""
        try:
            return row_to_subscriber(SubscriberRow.get(shop_id, phone, consistent_read=True))
        except SubscriberRow.DoesNotExist:
            return None

    def page(
        self,
        shop_id: str,
        *,
        status: SubscriberStatus | None = None,
        source: Source | None = None,
        search: SubscriberSearch | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Subscriber]:
        """Subscribers ordered by phone, up to ``limit`` matching ones; a bad cursor is InvalidInput."""
        limit = validate_limit(limit)
        start: dict[str, Any] | None = None
        if cursor is not None:
            start = decode_cursor(cursor, expected_keys=_SUBSCRIBER_CURSOR_KEYS)
            require_partition(start, "shop_id", shop_id)
        filters: list[Condition] = []
        if status is not None:
            filters.append(SubscriberRow.status == SubscriberStatus(status).value)
        if source is not None:
            filters.append(SubscriberRow.source == Source(source).value)
        if search is not None and search.digits is not None:
            filters.append(SubscriberRow.phone.contains(search.digits))
        elif search is not None and search.name is not None:
            filters.append(SubscriberRow.name_folded.contains(search.name))
        condition = reduce(lambda left, right: left & right, filters) if filters else None
        # One item more than asked tells whether another page exists, so the last page has no cursor.
        rows = SubscriberRow.query(
            shop_id,
            filter_condition=condition,
            limit=limit + 1,
            page_size=max(limit + 1, _FILTERED_PAGE_SIZE) if filters else limit + 1,
            last_evaluated_key=start,
        )
        items = [row_to_subscriber(row) for row in rows]
        if len(items) <= limit:
            return Page(items=items)
        items = items[:limit]
        return Page(items=items, cursor=encode_cursor({"shop_id": {"S": shop_id}, "phone": {"S": items[-1].phone}}))

    def get_many(self, shop_id: str, phones: Sequence[str]) -> dict[str, Subscriber]:
        """The subscribers that exist among ``phones``, by phone (strongly consistent batched reads).

        PynamoDB sends BatchGetItem in chunks of 100 keys and re-asks for unprocessed keys; duplicates are
        dropped first because DynamoDB refuses a batch that names one key twice.
        """
        keys = [(shop_id, phone) for phone in dict.fromkeys(phones)]
        return {row.phone: row_to_subscriber(row) for row in SubscriberRow.batch_get(keys, consistent_read=True)}

    def consent_history(self, shop_id: str, phone: str) -> list[ConsentEvent]:
        """Every consent event for the number, oldest first."""
        rows = ConsentEventRow.query(thread_key(shop_id, phone), consistent_read=True, scan_index_forward=True)
        return [row_to_event(row) for row in rows]

    def by_customer_id(self, shop_id: str, customer_id: str) -> Subscriber | None:
        """The subscriber carrying this Shopify customer id (the most recently updated if several do)."""
        # The index is eventually consistent: a customer created a moment ago may not be found yet, which
        # costs only an order without a phone when Shopify sent none either.
        rows = [row_to_subscriber(row) for row in SubscriberRow.by_customer.query(customer_key(shop_id, customer_id))]
        return max(rows, key=lambda s: s.updated_at, default=None)

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        """The subscriber and its consent history, JSON-ready (PersonalData)."""
        subscriber = self.get(shop_id, phone)
        return {
            "subscriber": subscriber_json(subscriber) if subscriber else None,
            "consent_history": [consent_json(event) for event in self.consent_history(shop_id, phone)],
        }

    def erase(self, shop_id: str, phone: str) -> int:
        """Delete the subscriber row and its consent events (PersonalData)."""
        deleted = 0
        with ConsentEventRow.batch_write() as batch:
            for event_row in ConsentEventRow.query(thread_key(shop_id, phone), consistent_read=True):
                batch.delete(event_row)
                deleted += 1
        try:
            SubscriberRow.get(shop_id, phone, consistent_read=True).delete()
            deleted += 1
        except SubscriberRow.DoesNotExist:
            pass
        return deleted

    def apply(self, change: SubscriberChange) -> Subscriber | None:
        """Commit ``change`` in one transaction and return the stored subscriber (with its new version)."""
        if change.subscriber is None and change.event is None and change.message is None and change.dedupe_key is None:
            return None
        _check_one_subscriber(change)
        tx = LabelledTransaction()
        if change.dedupe_key is not None:
            taken_at = _change_time(change, self._clock)
            dedupe = DedupeRow(
                change.dedupe_key,
                taken_at=taken_at,
                receipt=dict(change.receipt or {}),
                expires_at=int((taken_at + DEDUPE_TTL).timestamp()),
            )
            tx.put("dedupe", dedupe, condition=DedupeRow.key.does_not_exist())
        stored: Subscriber | None = None
        if change.subscriber is not None:
            version = (change.expected_version or 0) + 1
            stored = replace(change.subscriber, version=version)
            expected: Condition = (
                SubscriberRow.phone.does_not_exist()
                if change.expected_version is None
                else SubscriberRow.version == change.expected_version
            )
            tx.put("subscriber", subscriber_to_row(stored, version), condition=expected)
            if not stored.can_receive_marketing:
                _move_contact_window(tx, stored, _change_time(change, self._clock))
        if change.event is not None:
            tx.put("event", event_to_row(change.event), condition=ConsentEventRow.event_key.does_not_exist())
        if change.message is not None:
            # Unconditional: the same line written twice is the same line, and must not undo the consent change.
            tx.put("message", message_to_row(change.message))
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "dedupe" in exc.failed:
                raise AlreadyDone(change.dedupe_key) from exc
            if "event" in exc.failed and "subscriber" not in exc.failed:
                raise Conflict("this consent event is already recorded", code="consent_event_exists") from exc
            phone = change.subscriber.phone if change.subscriber else "subscriber"
            raise ConcurrentUpdate(f"{phone} was changed by someone else; reload and retry") from exc
        return stored

    def receipt(self, dedupe_key: str) -> dict[str, str] | None:
        """The receipt committed with ``dedupe_key`` ({} if it had none); None if the key was never committed."""
        try:
            # Strongly consistent: it is read right after AlreadyDone to resume the committed plan.
            row = DedupeRow.get(dedupe_key, consistent_read=True)
        except DedupeRow.DoesNotExist:
            return None
        return {str(name): str(value) for name, value in (row.receipt or {}).items()}
