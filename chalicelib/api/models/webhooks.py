"""What POST /webhooks/shopify answers, and the privacy exports its data requests produce."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from chalicelib.api.models.common import Out
from chalicelib.domain import privacy
from chalicelib.services.webhooks import Acceptance


class WebhookReceipt(BaseModel):
    """Every verified webhook is acknowledged with 200 (Shopify retries anything else for 48 hours)."""

    model_config = ConfigDict(frozen=True)

    outcome: Acceptance


class PrivacyExport(Out):
    """The answer to a Shopify customers/data_request: what smscast holds about one person."""

    export_id: str
    phone: str
    created_at: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, export: privacy.PrivacyExport) -> PrivacyExport:
        """Converter from the domain."""
        return cls(export_id=export.export_id, phone=export.phone, created_at=export.created_at, data=export.data)
