"""Subscribers and their consent: a strict status machine and the append-only consent record."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from chalicelib.domain.errors import Conflict, ConsentRequired


class SubscriberStatus(str, Enum):
    """Where a number stands on consent."""

    PENDING = "pending"  # texted the keyword, has not confirmed with Y yet
    ACTIVE = "active"  # may receive marketing
    OPTED_OUT = "opted_out"  # said STOP (or was opted out): nothing is sent


class Source(str, Enum):
    """How a subscriber joined."""

    CHECKOUT = "checkout"
    KEYWORD = "keyword"
    IMPORT = "import"
    API = "api"
    SIGNUP = "signup"  # the shop's sign-up form on its storefront (POST /signup/{shop}), confirmed by Y


class ConsentAction(str, Enum):
    """What a consent event did."""

    REQUESTED = "requested"  # keyword received, confirmation asked
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"
    # Not consent but kept beside it, so a subscriber's history says why campaigns stopped reaching them: the
    # carrier reported the number cannot receive texts (domain/receipts.py).
    UNREACHABLE = "unreachable"


class ConsentSource(str, Enum):
    """Who or what caused a consent event."""

    SMS = "sms"  # the subscriber texted
    CHECKOUT = "checkout"
    IMPORT = "import"
    API = "api"
    MERCHANT = "merchant"  # someone in the shop's dashboard / inbox
    SHOPIFY = "shopify"  # the customer's SMS marketing consent in Shopify (customers webhooks)
    CARRIER = "carrier"  # a delivery receipt from the recipient's carrier
    WEB = "web"  # the shop's sign-up form on its storefront: the wording shown and the page it was on


# The consent channel behind a subscriber added by the shop (not by SMS): a keyword subscriber added
# through the API is vouched for by the API caller.
CONSENT_SOURCE_OF = {
    Source.CHECKOUT: ConsentSource.CHECKOUT,
    Source.IMPORT: ConsentSource.IMPORT,
    Source.API: ConsentSource.API,
    Source.KEYWORD: ConsentSource.API,
    Source.SIGNUP: ConsentSource.API,
}


@dataclass(frozen=True)
class ConsentEvent:
    """One append-only consent change: what, when, by which channel, and the text shown or received."""

    shop_id: str
    phone: str
    at: datetime
    event_id: str
    action: ConsentAction
    source: ConsentSource
    text: str
    # The page a sign-up form was on when the person asked to join (ConsentSource.WEB); None for other channels.
    page_url: str | None = None


@dataclass(frozen=True)
class Subscriber:
    """A phone number a shop may text, with how it joined and where its consent stands."""

    shop_id: str
    phone: str
    status: SubscriberStatus
    source: Source
    joined_at: datetime
    updated_at: datetime
    name: str | None = None
    profile_url: str | None = None
    customer_id: str | None = None  # Shopify's customer id (checkout subscribers), for matching orders
    opted_out_at: datetime | None = None
    # Facts segments select on; written by order attribution and click tracking.
    orders_count: int = 0
    last_order_at: datetime | None = None
    last_clicked_at: datetime | None = None
    # Set when a carrier reported the number cannot receive texts; campaigns skip it from then on. Consent is
    # untouched: the number stays subscribed, and the mark is the merchant's to see, not a STOP.
    unreachable_reason: str | None = None
    unreachable_at: datetime | None = None
    tags: tuple[str, ...] = ()  # the merchant's labels (CSV imports), kept in the file's order
    version: int = 0

    @property
    def can_receive_marketing(self) -> bool:
        """Only active subscribers get campaigns and replies."""
        return self.status is SubscriberStatus.ACTIVE

    def require_active(self) -> None:
        """Raise ConsentRequired unless marketing may be sent to this number."""
        if not self.can_receive_marketing:
            raise ConsentRequired(
                f"{self.phone} is {self.status.value}; nothing may be sent", details={"status": self.status.value}
            )

    def confirm(self, at: datetime) -> Subscriber:
        """Y after the keyword: pending becomes active."""
        if self.status is not SubscriberStatus.PENDING:
            raise Conflict(f"{self.phone} has nothing to confirm", code="illegal_transition")
        return replace(self, status=SubscriberStatus.ACTIVE, updated_at=at)

    def opt_out(self, at: datetime) -> Subscriber:
        """STOP or a merchant's opt-out; legal from any status, a no-op status-wise when already out."""
        return replace(self, status=SubscriberStatus.OPTED_OUT, opted_out_at=at, updated_at=at)

    def opt_back_in(self, at: datetime) -> Subscriber:
        """START/UNSTOP from the subscriber's own phone: the only way back from an opt-out."""
        return replace(self, status=SubscriberStatus.ACTIVE, opted_out_at=None, updated_at=at)

    @property
    def unreachable(self) -> bool:
        """True when a carrier reported this number cannot receive texts."""
        return self.unreachable_at is not None

    def mark_unreachable(self, reason: str, at: datetime) -> Subscriber:
        """A carrier's permanent failure: later campaigns skip the number (the first report's reason is kept)."""
        if self.unreachable:
            return self
        return replace(self, unreachable_reason=reason, unreachable_at=at, updated_at=at)

    def request_again(self, at: datetime) -> Subscriber:
        """The keyword from an opted-out number: ask to confirm again (double opt-in)."""
        if self.status is not SubscriberStatus.OPTED_OUT:
            raise Conflict(f"{self.phone} is already {self.status.value}", code="illegal_transition")
        return replace(self, status=SubscriberStatus.PENDING, opted_out_at=None, updated_at=at)


# What a phone search may be typed with besides digits: "+1 (555) 123-4567" finds "+15551234567".
_PHONE_PUNCTUATION = re.compile(r"[\s+().\-]")


@dataclass(frozen=True)
class SubscriberSearch:
    """What the merchant typed in the subscriber search: digits of a phone, or a piece of a name."""

    digits: str | None = None  # found anywhere in the E.164 number
    name: str | None = None  # case-folded, found anywhere in the case-folded name

    @classmethod
    def of(cls, text: str) -> SubscriberSearch:
        """Digits (with phone punctuation) search phones; anything else searches names, whatever the case."""
        compact = _PHONE_PUNCTUATION.sub("", text)
        if compact and compact.isascii() and compact.isdigit():
            return cls(digits=compact)
        return cls(name=fold(text.strip()))

    def matches(self, subscriber: Subscriber) -> bool:
        """The same rule the store applies, for stores that filter in memory."""
        if self.digits is not None:
            return self.digits in subscriber.phone
        return self.name is not None and self.name in fold(subscriber.name or "")


def fold(text: str) -> str:
    """The form names are compared in: case-folded, so "ÉMILE" finds "Émile" and "STRASSE" finds "Straße"."""
    return text.casefold()
