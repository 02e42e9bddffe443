"""Shopify webhooks, the one file for this provider: verify the signature, parse the payloads, convert them
into smscast's own commands. Pure: the caller passes the secret, the raw body and the headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from types import MappingProxyType
from typing import Any

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.orders import Order, minor_units
from chalicelib.domain.phones import normalize_phone

ADMIN_CUSTOMER_URL = "https://admin.shopify.com/store/{store}/customers/{customer_id}"
_MYSHOPIFY = ".myshopify.com"


class Topic(str, Enum):
    """The webhook topics smscast subscribes to (shopify.app.toml)."""

    ORDERS_CREATE = "orders/create"
    ORDERS_CANCELLED = "orders/cancelled"
    CUSTOMERS_CREATE = "customers/create"
    CUSTOMERS_UPDATE = "customers/update"
    APP_UNINSTALLED = "app/uninstalled"
    CUSTOMERS_DATA_REQUEST = "customers/data_request"
    CUSTOMERS_REDACT = "customers/redact"
    SHOP_REDACT = "shop/redact"


def signature_valid(secret: str, raw_body: bytes, header: str | None) -> bool:
    """True when ``header`` is base64(HMAC-SHA256(secret, raw_body)), compared in constant time."""
    if not header or not secret:
        return False
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.strip().encode("ascii", "replace"))


def sign(secret: str, raw_body: bytes) -> str:
    """The X-Shopify-Hmac-Sha256 value Shopify would send for ``raw_body`` (devstack and tests sign with it)."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()).decode("ascii")


@dataclass(frozen=True)
class Webhook:
    """A verified webhook as it travels on the queue: who sent it, what about, and the body as received."""

    shop_id: str
    topic: Topic
    webhook_id: str
    body: str  # the verified JSON text, parsed only by the worker
    received_at: datetime

    def to_json(self) -> dict[str, str]:
        """The queue message body."""
        return {
            "shop_id": self.shop_id,
            "topic": self.topic.value,
            "webhook_id": self.webhook_id,
            "body": self.body,
            "received_at": self.received_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Webhook:
        """A queue message body back into a webhook; ValueError when it is not one."""
        try:
            return cls(
                shop_id=str(data["shop_id"]),
                topic=Topic(data["topic"]),
                webhook_id=str(data["webhook_id"]),
                body=str(data["body"]),
                received_at=datetime.fromisoformat(str(data["received_at"])),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a webhook message: {exc}") from exc

    def payload(self) -> dict[str, Any]:
        """The JSON object Shopify sent; InvalidInput when it is not an object of Unicode text."""
        try:
            data = json.loads(self.body)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
            raise InvalidInput("webhook body is not JSON", code="invalid_json") from exc
        if not isinstance(data, dict):
            raise InvalidInput("webhook body is not a JSON object", code="invalid_json")
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        # A lone surrogate ("\ud800") is no Unicode text: its write fails (moto's DynamoDB refuses it) on every
        # delivery, so the message would go round until the dead-letter queue; drop it now instead.
        except UnicodeEncodeError as exc:
            raise InvalidInput("webhook body holds text that is not Unicode", code="invalid_json") from exc
        return data


# Claims on webhook ids: taken when the route queued it, and when the worker did its work.
ACCEPTED_PREFIX = "shopify-webhook#"
DONE_PREFIX = "shopify-webhook-done#"


def accepted_key(shop_id: str, webhook_id: str) -> str:
    """The claim the route takes for a webhook id (a replay finds it taken)."""
    return f"{ACCEPTED_PREFIX}{shop_id}#{webhook_id}"


def done_key(shop_id: str, webhook_id: str) -> str:
    """The claim the worker takes for a webhook id (a redelivered message finds it taken)."""
    return f"{DONE_PREFIX}{shop_id}#{webhook_id}"


# What the worker reads of each payload (a field, or these keys of an object / of each object in a list); a
# body too big for the queue is cut down to this. Read-only mappings: shared by several topics.
Fields = Mapping[str, tuple[str, ...] | None]
_ORDER_FIELDS: Fields = MappingProxyType(
    {
        "id": None,
        "created_at": None,
        "cancelled_at": None,
        "phone": None,
        "customer": ("id", "phone"),
        "billing_address": ("phone",),
        "shipping_address": ("phone",),
        "total_price_set": ("shop_money",),
        "discount_codes": ("code",),
    }
)
_CUSTOMER_FIELDS: Fields = MappingProxyType(
    {"id": None, "first_name": None, "last_name": None, "phone": None, "sms_marketing_consent": None}
)
_PRIVACY_FIELDS: Fields = MappingProxyType({"shop_domain": None, "customer": ("id", "phone"), "data_request": ("id",)})
_READ: Mapping[Topic, Fields] = {
    Topic.ORDERS_CREATE: _ORDER_FIELDS,
    Topic.ORDERS_CANCELLED: _ORDER_FIELDS,
    Topic.CUSTOMERS_CREATE: _CUSTOMER_FIELDS,
    Topic.CUSTOMERS_UPDATE: _CUSTOMER_FIELDS,
    Topic.APP_UNINSTALLED: _PRIVACY_FIELDS,
    Topic.CUSTOMERS_DATA_REQUEST: _PRIVACY_FIELDS,
    Topic.CUSTOMERS_REDACT: _PRIVACY_FIELDS,
    Topic.SHOP_REDACT: _PRIVACY_FIELDS,
}


def _keep(value: Any, fields: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {name: value[name] for name in fields if name in value}
    if isinstance(value, list):
        return [_keep(item, fields) for item in value]
    return value


def slim(topic: Topic, body: str) -> str:
    """The payload cut down to the fields the worker reads (for bodies too big to queue as received);
    InvalidInput when it is not a JSON object."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
        raise InvalidInput("webhook body is not JSON", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise InvalidInput("webhook body is not a JSON object", code="invalid_json")
    read = _READ[topic]
    kept = {
        name: (value if read[name] is None else _keep(value, read[name] or ())) for name, value in data.items() if name in read
    }
    return json.dumps(kept, separators=(",", ":"))


def topic_of(header: str | None) -> Topic | None:
    """The topic named by X-Shopify-Topic, or None when smscast does not handle it."""
    try:
        return Topic((header or "").strip())
    except ValueError:
        return None


# --- customers ---------------------------------------------------------------------------------------------


class ConsentState(str, Enum):
    """Shopify's sms_marketing_consent.state."""

    SUBSCRIBED = "subscribed"
    NOT_SUBSCRIBED = "not_subscribed"
    UNSUBSCRIBED = "unsubscribed"
    PENDING = "pending"
    REDACTED = "redacted"


@dataclass(frozen=True)
class CustomerConsent:
    """What a customers/create or customers/update webhook says about SMS marketing for one customer."""

    shop_id: str
    customer_id: str
    phone: str | None  # E.164, None when the customer has no usable phone
    name: str | None
    profile_url: str
    state: ConsentState | None  # None: the payload carries no SMS consent at all
    consent_text: str  # Shopify's consent fields, kept as the consent event's text


def store_handle(shop_id: str) -> str:
    """The store handle in admin URLs: ``demo`` for ``demo.myshopify.com``."""
    return shop_id[: -len(_MYSHOPIFY)] if shop_id.endswith(_MYSHOPIFY) else shop_id.split(".")[0]


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _phone(raw: Any, *, allow_fictional: bool) -> str | None:
    if _text(raw) is None:
        return None
    try:
        return normalize_phone(raw, allow_fictional=allow_fictional)
    except InvalidInput:
        return None


def _customer_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
        raise InvalidInput("customer.id is missing", code="invalid_webhook")
    return str(value).strip()


def parse_customer(shop_id: str, data: dict[str, Any], *, allow_fictional: bool) -> CustomerConsent:
    """A customers/create or customers/update payload as a consent statement."""
    customer_id = _customer_id(data.get("id"))
    consent = data.get("sms_marketing_consent")
    consent = consent if isinstance(consent, dict) else {}
    try:
        state = ConsentState(consent["state"]) if consent.get("state") else None
    except ValueError as exc:
        raise InvalidInput(f"unknown sms_marketing_consent.state {consent.get('state')!r}", code="invalid_webhook") from exc
    fields = ("state", "opt_in_level", "consent_updated_at", "consent_collected_from")
    text = "Shopify sms_marketing_consent: " + ", ".join(f"{name}={consent.get(name)}" for name in fields)
    name = " ".join(part for part in (_text(data.get("first_name")), _text(data.get("last_name"))) if part) or None
    return CustomerConsent(
        shop_id=shop_id,
        customer_id=customer_id,
        phone=_phone(consent.get("phone") or data.get("phone"), allow_fictional=allow_fictional),
        name=name,
        profile_url=ADMIN_CUSTOMER_URL.format(store=store_handle(shop_id), customer_id=customer_id),
        state=state,
        consent_text=text,
    )


# --- privacy -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivacyRequest:
    """customers/data_request or customers/redact: the person (by phone and/or customer id) and the request."""

    shop_id: str
    customer_id: str | None
    phone: str | None
    request_id: str | None  # data_request.id, to name the export


def parse_privacy(shop_id: str, data: dict[str, Any], *, allow_fictional: bool) -> PrivacyRequest:
    """A customers/data_request or customers/redact payload."""
    customer = data.get("customer")
    customer = customer if isinstance(customer, dict) else {}
    request = data.get("data_request")
    request_id = request.get("id") if isinstance(request, dict) else None
    raw_id = customer.get("id")
    return PrivacyRequest(
        shop_id=shop_id,
        customer_id=str(raw_id) if isinstance(raw_id, (int, str)) and not isinstance(raw_id, bool) and str(raw_id) else None,
        phone=_phone(customer.get("phone"), allow_fictional=allow_fictional),
        request_id=str(request_id) if request_id is not None else None,
    )


# --- orders ------------------------------------------------------------------------------------------------


def _utc(value: Any, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{name} is not an ISO datetime", code="invalid_webhook") from exc
    if at.tzinfo is None:
        raise InvalidInput(f"{name} has no timezone", code="invalid_webhook")
    return at.astimezone(timezone.utc)


def _order_phone(data: dict[str, Any], *, allow_fictional: bool) -> str | None:
    customer = _obj(data.get("customer"))
    candidates = [data.get("phone"), customer.get("phone")]
    for address in ("billing_address", "shipping_address"):
        block = data.get(address)
        candidates.append(block.get("phone") if isinstance(block, dict) else None)
    for raw in candidates:
        phone = _phone(raw, allow_fictional=allow_fictional)
        if phone is not None:
            return phone
    return None


def parse_order(shop_id: str, data: dict[str, Any], *, allow_fictional: bool) -> Order:
    """An orders/create or orders/cancelled payload as an Order (total in shop currency minor units)."""
    order_id = data.get("id")
    if isinstance(order_id, bool) or not isinstance(order_id, (int, str)) or not str(order_id).strip():
        raise InvalidInput("order id is missing", code="invalid_webhook")
    money = _obj(_obj(data.get("total_price_set")).get("shop_money"))
    currency = money.get("currency_code")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise InvalidInput("total_price_set.shop_money.currency_code is missing", code="invalid_webhook")
    try:
        total = minor_units(str(money.get("amount")), currency.upper())
    except ValueError as exc:
        raise InvalidInput(f"total_price_set.shop_money.amount: {exc}", code="invalid_webhook") from exc
    customer = _obj(data.get("customer"))
    raw_customer = customer.get("id")
    codes = data.get("discount_codes")
    codes = codes if isinstance(codes, list) else []
    return Order(
        shop_id=shop_id,
        order_id=str(order_id).strip(),
        at=_utc(data.get("created_at"), "created_at"),
        total=total,
        currency=currency.upper(),
        phone=_order_phone(data, allow_fictional=allow_fictional),
        customer_id=str(raw_customer) if isinstance(raw_customer, (int, str)) and not isinstance(raw_customer, bool) else None,
        discount_codes=tuple(
            c["code"].strip().upper()
            for c in codes
            if isinstance(c, dict) and isinstance(c.get("code"), str) and c["code"].strip()
        ),
    )


def cancelled_at(data: dict[str, Any], received_at: datetime) -> datetime:
    """When an orders/cancelled order was cancelled (its cancelled_at, else when the webhook arrived)."""
    raw = data.get("cancelled_at")
    return _utc(raw, "cancelled_at") if raw else received_at
