"""Inbox routes: conversations by status, the red dot, a thread, replies, resolve/unresolve, opt-out."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import Call, endpoint
from chalicelib.api.views import conversation_json, reply_json, thread_json
from chalicelib.domain.inbox import ReplyState
from chalicelib.services import inbox

bp = Blueprint(__name__)


@endpoint(bp, "/inbox", ["GET"])
def list_conversations(call: Call) -> dict[str, Any]:
    call.only_query("status", "limit", "cursor")
    page = inbox.list_conversations(
        call.ports,
        call.shop_id,
        status=call.query.get("status"),
        limit=call.query_int("limit", 50, 1, 200),
        cursor=call.query.get("cursor"),
    )
    return {"items": [conversation_json(c) for c in page.items], "next_cursor": page.cursor}


@endpoint(bp, "/inbox/unresolved-count", ["GET"])
def unresolved_count(call: Call) -> dict[str, Any]:
    return {"unresolved": inbox.unresolved_count(call.ports, call.shop_id)}


@endpoint(bp, "/inbox/{phone}", ["GET"])
def conversation(call: Call, phone: str) -> dict[str, Any]:
    call.only_query("limit", "cursor")
    thread = inbox.thread(
        call.ports, call.shop_id, phone, limit=call.query_int("limit", 100, 1, 200), cursor=call.query.get("cursor")
    )
    return thread_json(thread)


@endpoint(bp, "/inbox/{phone}/replies", ["POST"], idempotent=True)
def reply(call: Call, phone: str) -> Response:
    # The Idempotency-Key (already checked by the endpoint) names the reply, so a retry finishes it.
    key = bp.current_request.headers.get("idempotency-key")
    sent = inbox.reply(call.ports, call.shop_id, phone, call.json(), request_key=key)
    # 201 for a reply that went out, 202 for one waiting for the subscriber's quiet hours to end
    status = 202 if sent.state is ReplyState.SCHEDULED else 201
    return Response(body=reply_json(sent), status_code=status, headers={"Content-Type": "application/json"})


@endpoint(bp, "/inbox/{phone}/resolve", ["POST"])
def resolve(call: Call, phone: str) -> dict[str, Any]:
    return conversation_json(inbox.resolve(call.ports, call.shop_id, phone))


@endpoint(bp, "/inbox/{phone}/unresolve", ["POST"])
def unresolve(call: Call, phone: str) -> dict[str, Any]:
    return conversation_json(inbox.unresolve(call.ports, call.shop_id, phone))


@endpoint(bp, "/inbox/{phone}/opt-out", ["POST"])
def opt_out(call: Call, phone: str) -> dict[str, Any]:
    return conversation_json(inbox.opt_out(call.ports, call.shop_id, phone))
