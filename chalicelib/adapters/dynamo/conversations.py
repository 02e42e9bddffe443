"""Conversation threads in DynamoDB: one partition per subscriber, lines in time order."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo.conditions import save_new
from chalicelib.adapters.dynamo.cursors import decode_cursor, encode_cursor, require_partition, validate_limit
from chalicelib.adapters.dynamo.keys import thread_key
from chalicelib.adapters.dynamo.subscribers import message_to_row, row_to_message
from chalicelib.adapters.dynamo.tables import MessageRow
from chalicelib.domain.messages import ConversationMessage
from chalicelib.services.ports import Page

_THREAD_CURSOR_KEYS = {"thread_key", "line_key"}


class DynamoConversations:
    """``Conversations`` on the messages table."""

    def append(self, message: ConversationMessage) -> None:
        """Add a line to the thread; the same line again (same time and message id) is silently kept once."""
        # False means a redelivery of a line we already have: nothing more to do.
        save_new(message_to_row(message), MessageRow.line_key.does_not_exist())

    def thread(self, shop_id: str, phone: str, *, limit: int = 100, cursor: str | None = None) -> Page[ConversationMessage]:
        """The thread, oldest first; ``cursor`` continues after the last line of the previous page."""
        limit = validate_limit(limit)
        key = thread_key(shop_id, phone)
        start: dict[str, Any] | None = None
        if cursor is not None:
            start = decode_cursor(cursor, expected_keys=_THREAD_CURSOR_KEYS)
            require_partition(start, "thread_key", key)
        # One line more than asked tells whether another page exists.
        rows = list(MessageRow.query(key, scan_index_forward=True, limit=limit + 1, last_evaluated_key=start))
        if len(rows) <= limit:
            return Page(items=[row_to_message(row) for row in rows])
        rows = rows[:limit]
        last = {"thread_key": {"S": key}, "line_key": {"S": rows[-1].line_key}}
        return Page(items=[row_to_message(row) for row in rows], cursor=encode_cursor(last))
