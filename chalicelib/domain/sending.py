"""The send ledger's vocabulary: one row per campaign recipient, claimed before the provider is called.

absent -> claimed -> sent | failed        (the normal path; the claim precedes the send)
absent -> deferred -> claimed -> ...       (quiet hours: waits durably for its release wave)
absent | deferred -> skipped               (not eligible at send time: opted out, capped, ...)
claimed -> absent | deferred               (only when the provider definitely did not send: throttled)
A claimed row found by a later delivery means a worker died mid-send: it becomes failed
("interrupted"), never sent again, so a recipient gets at most one message per campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class SendState(str, Enum):
    """Where one recipient of one campaign stands."""

    DEFERRED = "deferred"
    CLAIMED = "claimed"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (SendState.SENT, SendState.SKIPPED, SendState.FAILED)


class SkipReason(str, Enum):
    """Why an eligible-at-plan recipient was not sent to."""

    NOT_SUBSCRIBED = "not_subscribed"  # opted out (or gone) between planning and sending
    FREQUENCY_CAP = "frequency_cap"
    CARRIER_OPT_OUT = "carrier_opt_out"  # the provider's opt-out list refused the number
    NO_SENDER = "no_sender_number"


class FailReason(str, Enum):
    """Why a send failed for good."""

    REJECTED = "rejected"  # the provider refused this message or number
    THROTTLED = "throttled"  # still throttled after every retry
    INTERRUPTED = "interrupted"  # a worker died between claim and record: outcome unknown, not resent
    ERROR = "error"


@dataclass(frozen=True)
class LedgerEntry:
    """One recipient's row in a campaign's send ledger."""

    shop_id: str
    campaign_id: str
    phone: str
    state: SendState
    at: datetime
    reason: str | None = None
    provider_message_id: str | None = None
    parts: int = 0
    release_at: datetime | None = None
    attempts: int = 0


@dataclass(frozen=True)
class SendBatch:
    """Recipients of one campaign that travel together in one queue message."""

    shop_id: str
    campaign_id: str
    phones: tuple[str, ...]
    attempt: int = 0  # provider-throttling retries so far for these phones

    def to_json(self) -> dict[str, object]:
        return {"shop_id": self.shop_id, "campaign_id": self.campaign_id, "phones": list(self.phones), "attempt": self.attempt}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SendBatch:
        """Parse a queued batch; ValueError for anything that is not one."""
        # str(None) would make a batch for shop "None": refuse instead of guessing.
        if not isinstance(data, dict) or not isinstance(data.get("shop_id"), str) or not isinstance(data.get("campaign_id"), str):
            raise ValueError("a send batch needs shop_id and campaign_id")
        phones = data.get("phones")
        if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
            raise ValueError("phones must be a list of strings")
        attempt = data.get("attempt", 0)
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
            raise ValueError("attempt must be a whole number from 0")
        return cls(shop_id=str(data["shop_id"]), campaign_id=str(data["campaign_id"]), phones=tuple(phones), attempt=attempt)
