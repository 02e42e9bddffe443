"""Inbound webhooks from Shopify: verified by signature (not a bearer token), deduped, queued, answered fast."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.api.models.webhooks import PrivacyExport, WebhookReceipt
from chalicelib.services import privacy, webhooks

bp = Blueprint(__name__)


# Orders with many line items run past the API's usual 64 KiB; Shopify would retry a 413 for 48 hours.
WEBHOOK_MAX_BODY = 1024 * 1024


@endpoint(bp, "/webhooks/shopify", ["POST"], auth=False, signed=True, max_body=WEBHOOK_MAX_BODY)
def shopify_webhook(call: Call) -> WebhookReceipt:
    """Receive a Shopify webhook (X-Shopify-Hmac-Sha256 over the raw body) and queue it for the webhook worker."""
    outcome = webhooks.accept(
        call.ports,
        shop_domain=call.headers.get("x-shopify-shop-domain"),
        topic=call.headers.get("x-shopify-topic"),
        webhook_id=call.headers.get("x-shopify-webhook-id"),
        body=call.raw_body or b"",
    )
    return WebhookReceipt(outcome=outcome)


@endpoint(bp, "/privacy/exports/{export_id}", ["GET"], errors=(404,))
def get_privacy_export(call: Call, export_id: str) -> PrivacyExport:
    """A customers/data_request export (``dr_<data_request.id>``) for the merchant to hand to the customer."""
    return PrivacyExport.of(privacy.get_export(call.ports, call.shop_id, export_id))
