"""The last consent check, wrapped around whichever SMS provider the deployment uses.

Use cases check consent when they plan and again when they send, but a STOP can land between that
check and the provider call (or a caller can forget it). Reloading the subscriber here, immediately
before the provider, makes invariant 1 hold for every path that sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chalicelib.domain.errors import ConsentRequired
from chalicelib.domain.messages import MessageKind, OutboundSms, SendReceipt
from chalicelib.domain.subscribers import Subscriber
from chalicelib.services.ports import SmsProvider


class SubscriberLookup(Protocol):
    """The one thing the guard needs from the subscriber store."""

    def get(self, shop_id: str, phone: str) -> Subscriber | None:
        """One subscriber or None."""
        ...


class ConsentGuard:
    """An SmsProvider that refuses campaign and reply messages to anyone who is not an active subscriber."""

    def __init__(self, provider: SmsProvider, subscribers: SubscriberLookup) -> None:
        self._provider = provider
        self._subscribers = subscribers

    def send(self, sms: OutboundSms) -> SendReceipt:
        """Check consent for the shop and number, then hand the message to the provider."""
        # Fail closed: only compliance texts (STOP confirmation, HELP answer, the opt-in confirmation
        # request) may reach a number that is not an active subscriber; any other kind, including one
        # added later, needs consent.
        # A campaign group's subscribers were read strongly consistently just before its claim, at most the
        # claim's lease ago; reading each one again here would be the campaign's most expensive step. A STOP
        # that lands in between is refused by the provider's opt-out list, which every opt-out also updates.
        if sms.kind is MessageKind.CAMPAIGN and sms.consent_claimed:
            return self._provider.send(sms)
        if sms.kind is not MessageKind.COMPLIANCE:
            subscriber = self._subscribers.get(sms.shop_id, sms.to_number)
            if subscriber is None:
                raise ConsentRequired(f"{sms.to_number} is not a subscriber of this shop", details={"status": "missing"})
            subscriber.require_active()
        return self._provider.send(sms)

    def add_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        """Delegate to the provider."""
        self._provider.add_opt_out(sender_numbers, phone)

    def remove_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        """Delegate to the provider."""
        self._provider.remove_opt_out(sender_numbers, phone)

    def number_kind(self, number: str) -> str | None:
        """Delegate to the provider."""
        return self._provider.number_kind(number)
