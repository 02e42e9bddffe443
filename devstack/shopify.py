"""Play Shopify against a running devstack: signed webhooks, shaped like Shopify's own payloads.

    python -m devstack.shopify order --phone +15551230000 --total 42.50 [--code SAVE10] [--currency USD]
    python -m devstack.shopify order --phone +15551230000 --total 42.50 --cancel ID   # orders/cancelled
    python -m devstack.shopify customer --phone +15551230000 --name "Ada Lovelace" --consent subscribed

The payload builders here are what the tests use too.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chalicelib.adapters.clock import FileOffsetClock
from chalicelib.domain.shopify import Topic, sign
from devstack.config import DEVSTACK_SHOPIFY_SECRET, DevstackConfig, DevstackNotRunning, load_state


def stack_now(config: DevstackConfig) -> datetime:
    """The running stack's time (its movable clock), which a real Shopify would stamp the webhook with."""
    return FileOffsetClock(config.clock_file).now().replace(microsecond=0)


def _id() -> int:
    return random.randint(10**15, 10**16 - 1)  # Shopify ids are large integers


def customer_payload(
    phone: str | None, *, at: datetime, name: str = "Ada Lovelace", consent: str = "subscribed", customer_id: int | None = None
) -> dict[str, Any]:
    """A customers/create or customers/update body (the fields smscast reads, and some it does not)."""
    first, _, last = name.partition(" ")
    stamp = at.isoformat()
    return {
        "id": customer_id or _id(),
        "email": f"{first.lower() or 'customer'}@example.com",
        "created_at": stamp,
        "updated_at": stamp,
        "first_name": first or None,
        "last_name": last or None,
        "state": "enabled",
        "verified_email": True,
        "phone": phone,
        "tags": "",
        "currency": "USD",
        "email_marketing_consent": {"state": "not_subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": None},
        "sms_marketing_consent": {
            "state": consent,
            "opt_in_level": "single_opt_in",
            "consent_updated_at": stamp,
            "consent_collected_from": "SHOPIFY",
        },
        "admin_graphql_api_id": "gid://shopify/Customer/1",
    }


def order_payload(
    phone: str | None,
    total: str,
    *,
    at: datetime,
    currency: str = "USD",
    codes: Sequence[str] = (),
    order_id: int | None = None,
    customer_id: int | None = None,
    cancelled_at: datetime | None = None,
) -> dict[str, Any]:
    """An orders/create (or, with ``cancelled_at``, orders/cancelled) body."""
    stamp = at.isoformat()
    money = {"amount": total, "currency_code": currency}
    return {
        "id": order_id or _id(),
        "name": "#1001",
        "created_at": stamp,
        "cancelled_at": cancelled_at.isoformat() if cancelled_at else None,
        "cancel_reason": "customer" if cancelled_at else None,
        "currency": currency,
        "presentment_currency": currency,
        "total_price": total,
        "total_price_set": {"shop_money": money, "presentment_money": money},
        "discount_codes": [{"code": code, "amount": "0.00", "type": "percentage"} for code in codes],
        "phone": None,
        "customer": {"id": customer_id or _id(), "phone": phone, "first_name": "Ada", "last_name": "Lovelace"},
        "billing_address": {"phone": phone, "country_code": "US"},
        "shipping_address": None,
        "line_items": [{"id": _id(), "title": "T-shirt", "quantity": 1, "price": total}],
    }


def headers(
    topic: Topic | str, body: bytes, *, shop: str, secret: str = DEVSTACK_SHOPIFY_SECRET, webhook_id: str | None = None
) -> dict[str, str]:
    """The headers Shopify sends with a webhook, signed with ``secret``."""
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic.value if isinstance(topic, Topic) else topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Hmac-Sha256": sign(secret, body),
        "X-Shopify-API-Version": "2025-01",
    }


def post(
    topic: Topic, payload: dict[str, Any], *, config: DevstackConfig | None = None, webhook_id: str | None = None
) -> tuple[int, str]:
    """Sign and post one webhook to the running stack; the status and body it answered."""
    cfg = config if config is not None else load_state()
    body = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        cfg.api_url.rstrip("/") + "/webhooks/shopify",
        data=body,
        headers=headers(topic, body, shop=cfg.shop_id, webhook_id=webhook_id),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m devstack.shopify", description="Post signed Shopify webhooks to devstack.")
    commands = parser.add_subparsers(dest="command", required=True)
    order = commands.add_parser("order", help="orders/create (or orders/cancelled with --cancel)")
    order.add_argument("--phone", required=True, help="the customer's phone, E.164")
    order.add_argument("--total", required=True, help='the order total in the shop currency, e.g. "42.50"')
    order.add_argument("--code", action="append", default=[], help="a discount code used (repeatable)")
    order.add_argument("--currency", default="USD", help="ISO 4217 currency (default USD)")
    order.add_argument("--id", dest="order_id", type=int, help="the order id (default: a random one)")
    order.add_argument("--cancel", action="store_true", help="send orders/cancelled for --id instead")
    customer = commands.add_parser("customer", help="customers/create with SMS marketing consent")
    customer.add_argument("--phone", required=True, help="the customer's phone, E.164")
    customer.add_argument("--name", default="Ada Lovelace", help="first and last name")
    customer.add_argument("--consent", choices=["subscribed", "unsubscribed", "not_subscribed"], default="subscribed")
    customer.add_argument("--id", dest="customer_id", type=int, help="the customer id (default: a random one)")
    customer.add_argument("--update", action="store_true", help="send customers/update instead of customers/create")
    args = parser.parse_args(argv)
    try:
        config = load_state()
    except DevstackNotRunning as exc:
        print(f"devstack.shopify: {exc}", file=sys.stderr)
        return 2
    if args.command == "order":
        if args.cancel and args.order_id is None:
            parser.error("--cancel needs the --id of the order to cancel")
        now = stack_now(config)
        payload = order_payload(
            args.phone,
            args.total,
            at=now,
            currency=args.currency,
            codes=args.code,
            order_id=args.order_id,
            cancelled_at=now if args.cancel else None,
        )
        topic = Topic.ORDERS_CANCELLED if args.cancel else Topic.ORDERS_CREATE
    else:
        payload = customer_payload(
            args.phone, at=stack_now(config), name=args.name, consent=args.consent, customer_id=args.customer_id
        )
        topic = Topic.CUSTOMERS_UPDATE if args.update else Topic.CUSTOMERS_CREATE
    try:
        status, answer = post(topic, payload, config=config)
    except urllib.error.URLError as exc:
        print(f"devstack.shopify: devstack does not answer ({exc.reason}); is it still running?", file=sys.stderr)
        return 2
    print(f"{topic.value} id {payload['id']} -> {status} {answer}")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
