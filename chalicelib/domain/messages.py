"""Messages in and out: what a subscriber texted, and what smscast sends on the shop's behalf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class Direction(str, Enum):
    """Which way a message travelled."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageKind(str, Enum):
    """Why an outbound message exists; decides which consent check applies."""

    CAMPAIGN = "campaign"
    REPLY = "reply"  # one-to-one answer from the inbox
    COMPLIANCE = "compliance"  # STOP confirmation, HELP answer, opt-in confirmation request, welcome


@dataclass(frozen=True)
class InboundSms:
    """An SMS a subscriber sent to a shop's number, as End User Messaging publishes it."""

    message_id: str  # End User Messaging's inboundMessageId: the dedupe key
    from_number: str
    to_number: str
    body: str
    received_at: datetime
    keyword: str | None = None
    previous_message_id: str | None = None


@dataclass(frozen=True)
class OutboundSms:
    """One message to send. ``media_urls`` turns it into MMS."""

    shop_id: str
    from_number: str
    to_number: str
    body: str
    kind: MessageKind
    media_urls: tuple[str, ...] = ()
    campaign_id: str | None = None
    dedupe_key: str | None = None  # the ledger key that was claimed before sending
    # True only for a campaign message whose subscriber was read active (strongly consistent) just before its
    # group's claim, at most SEND_LEASE ago: the consent guard need not read them again.
    consent_claimed: bool = False


@dataclass(frozen=True)
class SendReceipt:
    """What the provider said when it accepted a message."""

    provider_message_id: str
    parts: int = 1


@dataclass(frozen=True)
class ConversationMessage:
    """One line of a subscriber's thread with a shop."""

    shop_id: str
    phone: str
    at: datetime
    message_id: str
    direction: Direction
    body: str
    kind: MessageKind | None = None  # outbound only
    intent: str | None = None  # inbound only: what keywords.classify made of it
    media_urls: tuple[str, ...] = ()
    campaign_id: str | None = None
    provider_message_id: str | None = None
