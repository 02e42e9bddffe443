"""What POST /webhooks/shopify answers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from chalicelib.services.webhooks import Acceptance


class WebhookReceipt(BaseModel):
    """Every verified webhook is acknowledged with 200 (Shopify retries anything else for 48 hours)."""

    model_config = ConfigDict(frozen=True)

    outcome: Acceptance
