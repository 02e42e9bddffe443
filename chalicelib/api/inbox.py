"""Inbox routes: conversations by status, the red dot, a thread, replies, resolve/unresolve, opt-out."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import Answer, Call, endpoint
from chalicelib.api.models.inbox import (
    Conversation,
    ConversationPage,
    InboxQuery,
    Reply,
    ReplyCreate,
    Thread,
    ThreadQuery,
    UnresolvedCount,
)
from chalicelib.domain.inbox import ReplyState
from chalicelib.services import inbox

bp = Blueprint(__name__)


@endpoint(bp, "/inbox", ["GET"])
def list_conversations(call: Call, query: InboxQuery) -> ConversationPage:
    """Conversations in one status, most recent activity first."""
    page = inbox.list_conversations(call.ports, call.shop_id, status=query.status, limit=query.limit, cursor=query.cursor)
    return ConversationPage(items=[Conversation.of(c) for c in page.items], next_cursor=page.cursor)


@endpoint(bp, "/inbox/unresolved-count", ["GET"])
def unresolved_count(call: Call) -> UnresolvedCount:
    """The red dot: conversations waiting for an answer."""
    return UnresolvedCount(unresolved=inbox.unresolved_count(call.ports, call.shop_id))


@endpoint(bp, "/inbox/{phone}", ["GET"], errors=(404,))
def conversation(call: Call, phone: str, query: ThreadQuery) -> Thread:
    """The subscriber card, the thread oldest first, and replies waiting for quiet hours."""
    return Thread.of(inbox.thread(call.ports, call.shop_id, phone, limit=query.limit, cursor=query.cursor))


@endpoint(bp, "/inbox/{phone}/replies", ["POST"], status=201, also=(202,), idempotent=True, errors=(404, 409))
def reply(call: Call, phone: str, body: ReplyCreate) -> Answer[Reply]:
    """Send a reply (201), or schedule it for the end of the subscriber's quiet hours (202)."""
    # The Idempotency-Key (already checked by the endpoint) names the reply, so a retry finishes it.
    key = bp.current_request.headers.get("idempotency-key")
    sent = inbox.reply(call.ports, call.shop_id, phone, body.command(), request_key=key)
    return Answer(Reply.of(sent), 202 if sent.state is ReplyState.SCHEDULED else 201)


@endpoint(bp, "/inbox/{phone}/resolve", ["POST"], errors=(404, 409))
def resolve(call: Call, phone: str) -> Conversation:
    """Close a conversation by hand."""
    return Conversation.of(inbox.resolve(call.ports, call.shop_id, phone))


@endpoint(bp, "/inbox/{phone}/unresolve", ["POST"], errors=(404, 409))
def unresolve(call: Call, phone: str) -> Conversation:
    """Reopen a conversation by hand."""
    return Conversation.of(inbox.unresolve(call.ports, call.shop_id, phone))


@endpoint(bp, "/inbox/{phone}/opt-out", ["POST"], errors=(404,))
def opt_out(call: Call, phone: str) -> Conversation:
    """Unsubscribe the subscriber from the Inbox."""
    return Conversation.of(inbox.opt_out(call.ports, call.shop_id, phone))
