"""Subscriber routes: add, list, get, opt out, and the CSV exports (the list, one subscriber's consent proof)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import Answer, Call, endpoint
from chalicelib.api.models.subscribers import (
    Subscriber,
    SubscriberCreate,
    SubscriberDetail,
    SubscriberExport,
    SubscriberExportCreate,
    SubscriberPage,
    SubscriberQuery,
)
from chalicelib.domain.subscribers import ConsentSource
from chalicelib.services import exports, subscribers

bp = Blueprint(__name__)


@endpoint(bp, "/subscribers", ["POST"], status=201, also=(200,), errors=(409,))
def add_subscriber(call: Call, body: SubscriberCreate) -> Answer[Subscriber]:
    """Add a subscriber the shop has consent for (201), or refresh a known one (200)."""
    command = body.command(allow_fictional=call.ports.allow_fictional_numbers)
    result = subscribers.add_subscriber(call.ports, call.shop_id, command)
    return Answer(Subscriber.of(result.subscriber), 201 if result.created else 200)


@endpoint(bp, "/subscribers", ["GET"])
def list_subscribers(call: Call, query: SubscriberQuery) -> SubscriberPage:
    """A page of subscribers, optionally filtered by status, source and a search by phone or name (``q``)."""
    page = subscribers.list_subscribers(
        call.ports,
        call.shop_id,
        status=query.status,
        source=query.source,
        search=query.q,
        limit=query.limit,
        cursor=query.cursor,
    )
    return SubscriberPage(items=[Subscriber.of(s) for s in page.items], next_cursor=page.cursor)


@endpoint(bp, "/subscribers/{phone}", ["GET"], errors=(404,))
def get_subscriber(call: Call, phone: str) -> SubscriberDetail:
    """One subscriber with its consent history."""
    subscriber, history = subscribers.get_subscriber(call.ports, call.shop_id, phone)
    return SubscriberDetail.with_history(subscriber, history)


@endpoint(bp, "/subscribers/{phone}/opt-out", ["POST"], errors=(404,))
def opt_out_subscriber(call: Call, phone: str) -> Subscriber:
    """Opt a subscriber out on the shop's side."""
    # An API key is a script or integration; a Shopify session is a person in the dashboard.
    source = ConsentSource.API if call.caller and call.caller.method == "api_key" else ConsentSource.MERCHANT
    return Subscriber.of(subscribers.opt_out(call.ports, call.shop_id, phone, source=source, text="Opted out by the shop"))


@endpoint(bp, "/subscribers/exports", ["POST"], status=201)
def export_subscribers(call: Call, body: SubscriberExportCreate) -> SubscriberExport:
    """Write the subscribers matching the list's filters to a CSV file and answer a link to download it."""
    return SubscriberExport.of(exports.export_subscribers(call.ports, call.shop_id, body.filters()))


@endpoint(bp, "/subscribers/{phone}/consent.csv", ["GET"], errors=(404,), media_types=("text/csv",))
def subscriber_consent_csv(call: Call, phone: str) -> Response:
    """One subscriber's consent proof as CSV: every consent event with its source, time and wording."""
    proof = exports.consent_proof_csv(call.ports, call.shop_id, phone)
    # Text, not bytes: Chalice passes bytes only for the binary media types and text/csv is not one.
    return Response(
        body=proof.data.decode("utf-8"),
        status_code=200,
        headers={"Content-Type": exports.CSV, "Content-Disposition": f'attachment; filename="{proof.filename}"'},
    )
