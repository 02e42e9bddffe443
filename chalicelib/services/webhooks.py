"""Shopify webhooks: accepted at the edge (deduped, queued, answered fast) and handled by the webhook worker.

The route has already verified the signature; nothing here trusts a payload it did not get that way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import Enum

from aws_lambda_powertools import Logger

from chalicelib.domain.errors import InvalidInput, NotFound
from chalicelib.domain.orders import Order
from chalicelib.domain.shopify import (
    Topic,
    Webhook,
    accepted_key,
    cancelled_at,
    done_key,
    parse_customer,
    parse_order,
    parse_privacy,
    slim,
    topic_of,
)
from chalicelib.domain.shops import validate_shop_id
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services import orders, privacy
from chalicelib.services.ports import Ports
from chalicelib.services.subscribers import apply_shopify_consent

logger = Logger(service=SERVICE, child=True, level=INHERIT)

_MAX_WEBHOOK_ID = 200
# SQS takes 256 KiB a message; the envelope around the body (shop, topic, ids, time) needs well under 1 KiB.
QUEUED_BODY_MAX = 250 * 1024


class Acceptance(str, Enum):
    """What the route did with a verified webhook (every one is answered 200, so Shopify stops retrying)."""

    QUEUED = "queued"
    DUPLICATE = "duplicate"  # this webhook id was accepted before
    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_SHOP = "unknown_shop"


class Handled(str, Enum):
    """What the worker did with a webhook."""

    DONE = "done"
    ALREADY_DONE = "already_done"  # a redelivered message: the work happened before
    DROPPED = "dropped"  # a payload that cannot be understood; retrying would not help


def accept(ports: Ports, *, shop_domain: str | None, topic: str | None, webhook_id: str | None, body: bytes) -> Acceptance:
    """Dedupe a verified webhook on its id and queue it for the worker; TransientError if the queue failed."""
    shop_id = (shop_domain or "").strip().lower()
    wanted = topic_of(topic)
    if wanted is None:
        logger.info("shopify webhook topic not handled", extra={"topic": (topic or "")[:100]})
        return Acceptance.UNKNOWN_TOPIC
    # Shopify's ids are UUIDs; a lone surrogate in one would fail the claim's write after the webhook was queued.
    if not webhook_id or len(webhook_id) > _MAX_WEBHOOK_ID or not (webhook_id.isascii() and webhook_id.isprintable()):
        raise InvalidInput("X-Shopify-Webhook-Id must be printable ASCII, up to 200 characters", code="invalid_webhook")
    if not shop_id:
        raise InvalidInput("X-Shopify-Webhook-Id and X-Shopify-Shop-Domain are required", code="invalid_webhook")
    try:
        ports.shops.get(validate_shop_id(shop_id))
    except (NotFound, InvalidInput):
        # Not 404: Shopify retries any non-2xx for 48 hours, and no retry can make an unknown shop known.
        logger.warning("shopify webhook for an unknown shop ignored", extra={"shop_id": shop_id[:100], "topic": wanted.value})
        return Acceptance.UNKNOWN_SHOP
    now = ports.clock.now()
    key = accepted_key(shop_id, webhook_id)
    if ports.claims.taken(key):
        return Acceptance.DUPLICATE
    ports.webhooks.put(Webhook(shop_id, wanted, webhook_id, _queueable(wanted, body), now))
    # Marked only once queued: a failed or interrupted put answers 5xx (or nothing) and Shopify's retry queues
    # it then. Two deliveries racing past the check both queue it; the worker does the work once.
    ports.claims.claim(key, now)
    return Acceptance.QUEUED


def _queueable(topic: Topic, body: bytes) -> str:
    """The body as received, or cut down to what the worker reads when SQS could not carry it whole."""
    text = body.decode("utf-8", "replace")
    # json.dumps: the size it has escaped inside the queue message (quotes and non-ASCII grow).
    if len(json.dumps(text)) <= QUEUED_BODY_MAX:
        return text
    slimmed = slim(topic, text)
    if len(json.dumps(slimmed)) > QUEUED_BODY_MAX:
        raise InvalidInput("webhook payload is too large even without the fields smscast ignores", code="body_too_large")
    logger.info("large webhook cut down to the fields read", extra={"topic": topic.value, "bytes": len(body)})
    return slimmed


@dataclass(frozen=True)
class Result:
    """What the worker did with a webhook, and the order it attributed to a campaign just now (for metrics)."""

    handled: Handled
    attributed: Order | None = None


def handle(ports: Ports, webhook: Webhook) -> Handled:
    """Do a webhook's work; a message redelivered after it was done does nothing. Errors other than bad input
    propagate, so SQS delivers it again."""
    return process(ports, webhook).handled


def process(ports: Ports, webhook: Webhook) -> Result:
    """``handle``, also returning an order this run counted for a campaign (the worker emits its revenue)."""
    key = done_key(webhook.shop_id, webhook.webhook_id)
    if ports.claims.taken(key):
        return Result(Handled.ALREADY_DONE)
    # Marked done only after the work: a worker that dies half-way (a timeout during shop/redact) leaves the
    # webhook to the redelivery, which redoes it. Every topic's work is idempotent, so the rare second run of
    # a webhook whose mark was not written yet changes nothing.
    handled = _run(ports, webhook)
    if webhook.topic is not Topic.SHOP_REDACT:
        # Not after shop/redact: the mark would keep the erased shop's name, and erasing again finds nothing.
        ports.claims.claim(key, ports.clock.now())
    return handled


def _run(ports: Ports, webhook: Webhook) -> Result:
    try:
        if webhook.topic is not Topic.SHOP_REDACT:
            ports.shops.get(webhook.shop_id)  # erased by shop/redact since it was queued: nothing left to do it for
        return _dispatch(ports, webhook)
    except NotFound as exc:
        if exc.code != "shop_not_found":
            raise
        logger.info("shopify webhook for a shop that is gone dropped", extra={"topic": webhook.topic.value})
        return Result(Handled.DROPPED)
    except InvalidInput as exc:
        logger.warning("shopify webhook dropped", extra={"topic": webhook.topic.value, "code": exc.code, "why": exc.message})
        return Result(Handled.DROPPED)


def _dispatch(ports: Ports, webhook: Webhook) -> Result:
    data = webhook.payload()
    shop_id, topic = webhook.shop_id, webhook.topic
    fictional = ports.allow_fictional_numbers
    if topic in (Topic.CUSTOMERS_CREATE, Topic.CUSTOMERS_UPDATE):
        outcome = apply_shopify_consent(ports, parse_customer(shop_id, data, allow_fictional=fictional))
        logger.info("shopify customer applied", extra={"topic": topic.value, "outcome": outcome.value})
    elif topic is Topic.APP_UNINSTALLED:
        stopped = privacy.uninstall(ports, shop_id)
        logger.info("shop uninstalled", extra={"ended": stopped.ended, "unscheduled": stopped.unscheduled})
    elif topic is Topic.CUSTOMERS_DATA_REQUEST:
        privacy.data_request(ports, parse_privacy(shop_id, data, allow_fictional=fictional))
    elif topic is Topic.CUSTOMERS_REDACT:
        privacy.redact_customer(ports, parse_privacy(shop_id, data, allow_fictional=fictional))
    elif topic is Topic.SHOP_REDACT:
        privacy.redact_shop(ports, shop_id)
    elif topic is Topic.ORDERS_CREATE:
        order = with_phone(ports, parse_order(shop_id, data, allow_fictional=fictional))
        placed = orders.place_order(ports, order)  # logs its outcome
        if placed.attribution is not None:
            return Result(Handled.DONE, attributed=order)
    elif topic is Topic.ORDERS_CANCELLED:
        order = parse_order(shop_id, data, allow_fictional=fictional)
        orders.order_cancelled(ports, shop_id, order.order_id, cancelled_at(data, webhook.received_at))  # logs its outcome
    return Result(Handled.DONE)


def with_phone(ports: Ports, order: Order) -> Order:
    """The order with the phone of the checkout subscriber carrying its customer id, when it came without one."""
    if order.phone is not None or order.customer_id is None:
        return order
    subscriber = ports.subscribers.by_customer_id(order.shop_id, order.customer_id)
    if subscriber is None:
        return order
    return replace(order, phone=subscriber.phone)
