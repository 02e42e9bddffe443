"""The Inbox in DynamoDB: conversations with their shop's unresolved count, and one-to-one replies.

The count (the red dot) is exact because it never moves on its own: every save of a conversation is ONE
TransactWriteItems that writes the conversation if it is still the version (and status) the caller read
and ADDs the difference its status change makes to the count. A stale save writes nothing, so no
interleaving of inbound messages, replies and opt-outs can make the count drift.

A conversation row carries its derived ``status`` and ``activity_key`` (``<status>#<last activity>``); the
``by-status`` index on (shop_id, activity_key) lists one status newest first with a single Query.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger
from pynamodb.attributes import Attribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo._transactions import LabelledTransaction, commit_with_retries
from chalicelib.adapters.dynamo.conditions import condition_failed, save_new
from chalicelib.adapters.dynamo.cursors import decode_cursor, encode_cursor, require_partition, validate_limit
from chalicelib.adapters.dynamo.keys import activity_key, status_prefix, thread_key, utc
from chalicelib.adapters.dynamo.tables import ConversationRow, InboxCounterRow, ReplyRow
from chalicelib.domain.errors import ConcurrentUpdate, Conflict, InvalidInput
from chalicelib.domain.inbox import Conversation, ConversationStatus, Reply, ReplyState
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services.ports import Page

logger = Logger(service=SERVICE, child=True, level=INHERIT)

_CONVERSATION_CURSOR_KEYS = {"shop_id", "phone", "activity_key"}


def conversation_to_row(conversation: Conversation) -> ConversationRow:
    """The row storing ``conversation`` (status and activity key derived from it, never passed in)."""
    return ConversationRow(
        conversation.shop_id,
        conversation.phone,
        needs_reply=conversation.needs_reply,
        opted_out=conversation.opted_out,
        last_activity_at=utc(conversation.last_activity_at),
        last_inbound_at=utc(conversation.last_inbound_at) if conversation.last_inbound_at else None,
        last_message=conversation.last_message,
        last_direction=conversation.last_direction,
        number=conversation.number,
        version=conversation.version,
        status=conversation.status.value,
        activity_key=activity_key(conversation.status, conversation.last_activity_at),
    )


def row_to_conversation(row: ConversationRow) -> Conversation:
    """The domain conversation a row holds."""
    return Conversation(
        shop_id=row.shop_id,
        phone=row.phone,
        needs_reply=bool(row.needs_reply),
        opted_out=bool(row.opted_out),
        last_activity_at=utc(row.last_activity_at),
        last_inbound_at=utc(row.last_inbound_at) if row.last_inbound_at else None,
        last_message=row.last_message or "",
        last_direction=row.last_direction,
        number=row.number,
        version=int(row.version or 0),
    )


class DynamoInboxRepository:
    """``InboxRepository`` on the conversations and inbox-counters tables."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def _commit(self, build: Callable[[LabelledTransaction], None]) -> frozenset[str]:
        return commit_with_retries(build, sleep=self._sleep, busy="the inbox is busy with concurrent changes; retry later")

    def get(self, shop_id: str, phone: str) -> Conversation | None:
        """One conversation or None (strongly consistent: its version guards the next save)."""
        try:
            return row_to_conversation(ConversationRow.get(shop_id, phone, consistent_read=True))
        except ConversationRow.DoesNotExist:
            return None

    def save(self, conversation: Conversation, *, previous: Conversation | None) -> Conversation:
        """Write ``conversation`` if the stored one is still ``previous`` and move the unresolved count by the
        difference, in one transaction; ConcurrentUpdate (nothing written) if someone else wrote first."""
        if previous is not None and (previous.shop_id, previous.phone) != (conversation.shop_id, conversation.phone):
            # The count moves by previous -> conversation: both must be the same thread or it counts the wrong one.
            raise InvalidInput("previous must be the same conversation", code="mixed_change")
        stored = replace(conversation, version=(previous.version if previous else 0) + 1)
        expected: Condition = (
            ConversationRow.phone.does_not_exist()
            if previous is None
            # The status too: the count's delta is computed from ``previous``, so it must be what is stored.
            else (ConversationRow.version == previous.version) & (ConversationRow.status == previous.status.value)
        )
        delta = int(stored.counts_as_unresolved) - int(previous.counts_as_unresolved if previous else False)

        def build(tx: LabelledTransaction) -> None:
            tx.put("conversation", conversation_to_row(stored), condition=expected)
            if delta:
                # ADD creates the counter item at 0 + delta when the shop has none yet.
                tx.update("counter", InboxCounterRow(conversation.shop_id), actions=[InboxCounterRow.unresolved.add(delta)])

        if self._commit(build):
            raise ConcurrentUpdate(f"conversation {conversation.phone} was changed by someone else; reload and retry")
        return stored

    def page(self, shop_id: str, status: ConversationStatus, *, limit: int = 50, cursor: str | None = None) -> Page[Conversation]:
        """Conversations in ``status``, most recent activity first; a bad or foreign cursor is InvalidInput."""
        limit = validate_limit(limit)
        prefix = status_prefix(status)
        start: dict[str, Any] | None = None
        if cursor is not None:
            start = decode_cursor(cursor, expected_keys=_CONVERSATION_CURSOR_KEYS)
            require_partition(start, "shop_id", shop_id)
            # Key types are checked here (decoding accepts any S or N); and DynamoDB refuses a start key outside
            # the key condition, which a cursor from another status listing would be: a bad cursor, not a 500.
            position = start["activity_key"].get("S")
            if "S" not in start["phone"] or not isinstance(position, str) or not position.startswith(prefix):
                raise InvalidInput("invalid cursor: does not belong to this listing", code="invalid_cursor")
        # A GSI is eventually consistent: a change shows in the listing a moment later (the count is exact).
        # One row more than asked tells whether another page exists, so the last page has no cursor.
        rows = list(
            ConversationRow.by_status.query(
                shop_id,
                range_key_condition=ConversationRow.activity_key.startswith(prefix),
                scan_index_forward=False,
                limit=limit + 1,
                last_evaluated_key=start,
            )
        )
        items = [row_to_conversation(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return Page(items=items)
        last = rows[limit - 1]
        key = {"shop_id": {"S": shop_id}, "phone": {"S": last.phone}, "activity_key": {"S": last.activity_key}}
        return Page(items=items, cursor=encode_cursor(key))

    def unresolved_count(self, shop_id: str) -> int:
        """How many of the shop's conversations are unresolved (0 when none ever was)."""
        try:
            count = int(InboxCounterRow.get(shop_id, consistent_read=True).unresolved or 0)
        except InboxCounterRow.DoesNotExist:
            return 0
        if count < 0:
            # Cannot happen while every change rides on a version-checked save; a red dot of -1 helps nobody.
            logger.error("negative unresolved count", extra={"shop_id": shop_id, "count": count})
            return 0
        return count


# --- replies ------------------------------------------------------------------------------------------


def reply_to_row(reply: Reply) -> ReplyRow:
    """The row storing ``reply``."""
    return ReplyRow(
        thread_key(reply.shop_id, reply.phone),
        reply.reply_id,
        text=reply.text,
        state=ReplyState(reply.state).value,
        created_at=utc(reply.created_at),
        send_at=utc(reply.send_at) if reply.send_at else None,
        media_url=reply.media_url,
        media_s3_uri=reply.media_s3_uri,
        reason=reply.reason,
        provider_message_id=reply.provider_message_id,
        settled_at=utc(reply.settled_at) if reply.settled_at else None,
    )


def row_to_reply(row: ReplyRow) -> Reply:
    """The reply a row holds."""
    shop_id, _, phone = row.thread_key.rpartition("#")
    return Reply(
        shop_id=shop_id,
        phone=phone,
        reply_id=row.reply_id,
        text=row.text,
        state=ReplyState(row.state),
        created_at=utc(row.created_at),
        send_at=utc(row.send_at) if row.send_at else None,
        media_url=row.media_url,
        media_s3_uri=row.media_s3_uri,
        reason=row.reason,
        provider_message_id=row.provider_message_id,
        settled_at=utc(row.settled_at) if row.settled_at else None,
    )


def _set_or_remove(attribute: Attribute[Any], value: Any) -> Action:
    # DynamoDB stores no nulls: a cleared optional attribute is removed.
    return attribute.remove() if value is None else attribute.set(value)


class DynamoReplyRepository:
    """``ReplyRepository`` on the replies table."""

    def create(self, reply: Reply) -> Reply:
        """Store a new reply (Conflict with code ``reply_exists`` if the id is taken in this thread)."""
        if not save_new(reply_to_row(reply), ReplyRow.reply_id.does_not_exist()):
            raise Conflict(f"reply {reply.reply_id} already exists", code="reply_exists")
        return reply

    def get(self, shop_id: str, phone: str, reply_id: str) -> Reply | None:
        """One reply or None (strongly consistent: the scheduled sender decides on its state)."""
        try:
            return row_to_reply(ReplyRow.get(thread_key(shop_id, phone), reply_id, consistent_read=True))
        except ReplyRow.DoesNotExist:
            return None

    def pending(self, shop_id: str, phone: str) -> list[Reply]:
        """Scheduled replies not yet sent or cancelled, oldest first."""
        rows = ReplyRow.query(
            thread_key(shop_id, phone),
            filter_condition=ReplyRow.state == ReplyState.SCHEDULED.value,
            consistent_read=True,
        )
        # Reply ids are random, so key order is not time order; a thread has few replies to sort.
        return sorted((row_to_reply(row) for row in rows), key=lambda reply: (reply.created_at, reply.reply_id))

    def settle(self, reply: Reply) -> bool:
        """Scheduled -> ``reply.state`` with its reason and provider id; False (nothing written) if it was
        no longer scheduled or does not exist."""
        state = ReplyState(reply.state)
        if state is ReplyState.SCHEDULED:
            raise InvalidInput("settle records an outcome, not scheduled", code="not_final")
        actions: list[Action] = [
            ReplyRow.state.set(state.value),
            _set_or_remove(ReplyRow.reason, reply.reason),
            _set_or_remove(ReplyRow.provider_message_id, reply.provider_message_id),
            _set_or_remove(ReplyRow.settled_at, utc(reply.settled_at) if reply.settled_at else None),
        ]
        try:
            # The condition also fails for a missing row, so settle never creates a half reply.
            ReplyRow(thread_key(reply.shop_id, reply.phone), reply.reply_id).update(
                actions=actions, condition=ReplyRow.state == ReplyState.SCHEDULED.value
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
