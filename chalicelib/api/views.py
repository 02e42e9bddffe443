"""JSON shapes of domain objects, shared by the routes (one place decides what the API shows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chalicelib.domain.subscribers import ConsentEvent, Subscriber


def iso(at: datetime | None) -> str | None:
    """RFC 3339 UTC, or None."""
    return at.isoformat().replace("+00:00", "Z") if at else None


def subscriber_json(subscriber: Subscriber) -> dict[str, Any]:
    """A subscriber as the API shows it."""
    return {
        "phone": subscriber.phone,
        "status": subscriber.status.value,
        "source": subscriber.source.value,
        "name": subscriber.name,
        "profile_url": subscriber.profile_url,
        "joined_at": iso(subscriber.joined_at),
        "updated_at": iso(subscriber.updated_at),
        "opted_out_at": iso(subscriber.opted_out_at),
    }


def consent_json(events: Sequence[ConsentEvent]) -> list[dict[str, Any]]:
    """Consent history, oldest first."""
    return [{"at": iso(e.at), "action": e.action.value, "source": e.source.value, "text": e.text} for e in events]
