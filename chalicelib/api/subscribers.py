"""Subscriber routes: add, list, get, opt out."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import Call, endpoint
from chalicelib.api.views import consent_json, subscriber_json
from chalicelib.domain.subscribers import ConsentSource
from chalicelib.services import subscribers

bp = Blueprint(__name__)


@endpoint(bp, "/subscribers", ["POST"])
def add_subscriber(call: Call) -> Response:
    command = subscribers.parse_add(call.json(), allow_fictional=call.ports.allow_fictional_numbers)
    result = subscribers.add_subscriber(call.ports, call.shop_id, command)
    return Response(
        body=subscriber_json(result.subscriber),
        status_code=201 if result.created else 200,
        headers={"Content-Type": "application/json"},
    )


@endpoint(bp, "/subscribers", ["GET"])
def list_subscribers(call: Call) -> dict[str, Any]:
    call.only_query("status", "source", "limit", "cursor")
    page = subscribers.list_subscribers(
        call.ports,
        call.shop_id,
        status=call.query.get("status"),
        source=call.query.get("source"),
        limit=call.query_int("limit", 50, 1, 200),
        cursor=call.query.get("cursor"),
    )
    return {"items": [subscriber_json(s) for s in page.items], "next_cursor": page.cursor}


@endpoint(bp, "/subscribers/{phone}", ["GET"])
def get_subscriber(call: Call, phone: str) -> dict[str, Any]:
    subscriber, history = subscribers.get_subscriber(call.ports, call.shop_id, phone)
    return {**subscriber_json(subscriber), "consent_history": consent_json(history)}


@endpoint(bp, "/subscribers/{phone}/opt-out", ["POST"])
def opt_out_subscriber(call: Call, phone: str) -> dict[str, Any]:
    # An API key is a script or integration; a Shopify session is a person in the dashboard.
    source = ConsentSource.API if call.caller and call.caller.method == "api_key" else ConsentSource.MERCHANT
    subscriber = subscribers.opt_out(call.ports, call.shop_id, phone, source=source, text="Opted out by the shop")
    return subscriber_json(subscriber)
