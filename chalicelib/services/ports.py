"""The ports use cases talk to. Adapters implement them; tests use in-memory fakes (tests/fakes.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from chalicelib.domain.messages import ConversationMessage, OutboundSms, SendReceipt
from chalicelib.domain.shops import Shop, ShopSettings
from chalicelib.domain.subscribers import ConsentEvent, Source, Subscriber, SubscriberStatus

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``cursor`` is opaque and None on the last page."""

    items: Sequence[T]
    cursor: str | None = None


class Clock(Protocol):
    """The only way code learns the time, so tests and devstack can move it."""

    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


class ShopRepository(Protocol):
    """Shops, their settings, their API keys and the sender numbers that route inbound SMS to them."""

    def get(self, shop_id: str) -> Shop:
        """The shop, or NotFound."""
        ...

    def create(self, shop: Shop, api_key_hash: str | None) -> Shop:
        """Store a new shop (Conflict if it exists or its sender number is taken)."""
        ...

    def save_settings(self, shop: Shop, settings: ShopSettings) -> Shop:
        """Replace settings if ``shop.version`` is still current (else ConcurrentUpdate); a sender number
        already routed to another shop is a Conflict with code ``sender_number_taken``."""
        ...

    def shop_for_sender(self, number: str) -> Shop | None:
        """The shop whose sender number this is, for routing inbound SMS."""
        ...

    def shop_for_api_key(self, api_key_hash: str) -> str | None:
        """The shop id an API key hash belongs to."""
        ...

    def add_api_key(self, shop_id: str, api_key_hash: str) -> None:
        """Let another API key act for the shop."""
        ...


@dataclass(frozen=True)
class SubscriberChange:
    """Everything one consent-relevant action writes, committed all-or-nothing.

    ``expected_version`` None means the subscriber must not exist yet; otherwise the stored version must
    equal it (optimistic locking), and the new version is one more. ``dedupe_key`` makes the whole change
    happen at most once (an inbound SMS id); a second commit with the same key raises AlreadyDone.
    """

    subscriber: Subscriber | None = None
    expected_version: int | None = None
    event: ConsentEvent | None = None
    message: ConversationMessage | None = None
    dedupe_key: str | None = None
    receipt: dict[str, str] | None = None  # stored with the dedupe key: what is still to do afterwards


class AlreadyDone(Exception):
    """The change carries a dedupe key that was committed before."""


class SubscriberStore(Protocol):
    """Subscribers, their consent history, and the conversation lines that change them."""

    def get(self, shop_id: str, phone: str) -> Subscriber | None:
        """One subscriber or None."""
        ...

    def page(
        self,
        shop_id: str,
        *,
        status: SubscriberStatus | None = None,
        source: Source | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Subscriber]:
        """Subscribers ordered by phone; a bad cursor is InvalidInput."""
        ...

    def consent_history(self, shop_id: str, phone: str) -> list[ConsentEvent]:
        """Every consent event for the number, oldest first."""
        ...

    def apply(self, change: SubscriberChange) -> Subscriber | None:
        """Commit ``change`` atomically and return the stored subscriber (with its new version)."""
        ...

    def receipt(self, dedupe_key: str) -> dict[str, str] | None:
        """The receipt stored with a committed dedupe key ({} if it had none); None if never committed."""
        ...


class Conversations(Protocol):
    """The per-subscriber thread of messages."""

    def append(self, message: ConversationMessage) -> None:
        """Add a line to the thread (idempotent on message_id)."""
        ...

    def thread(self, shop_id: str, phone: str, *, limit: int = 100, cursor: str | None = None) -> Page[ConversationMessage]:
        """The thread, oldest first."""
        ...


class Claims(Protocol):
    """A ledger of one-time actions: claiming a key succeeds once, ever."""

    def claim(self, key: str, at: datetime) -> bool:
        """True if this call took the key, False if someone took it before."""
        ...

    def release(self, key: str) -> None:
        """Give a key back after the action it guarded definitely did not happen (e.g. throttled)."""
        ...


class SmsProvider(Protocol):
    """Sends SMS/MMS and keeps the carrier-side opt-out list in step with ours."""

    def send(self, sms: OutboundSms) -> SendReceipt:
        """Send one message; ProviderThrottled (retry later), ProviderRejected, or ConsentRequired."""
        ...

    def add_opt_out(self, sender_number: str, phone: str) -> None:
        """Put the number on the sender's opt-out list so the provider refuses it too."""
        ...

    def remove_opt_out(self, sender_number: str, phone: str) -> None:
        """Take the number off the opt-out list after START."""
        ...


@dataclass
class Ports:
    """What the use cases need, bundled; built by the composition root or by tests with fakes."""

    clock: Clock
    shops: ShopRepository
    subscribers: SubscriberStore
    conversations: Conversations
    claims: Claims
    sms: SmsProvider
    allow_fictional_numbers: bool = False
