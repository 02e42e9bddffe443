"""Deliberately broken ports, to show the harness catches what it claims to: each one turns off a guard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from chalicelib.domain.sending import Claim, GroupClaim, LedgerEntry
from chalicelib.domain.subscribers import Subscriber, SubscriberStatus
from chalicelib.services.ports import Ports, SendLedger, SmsProvider, SubscriberStore
from tests.chaos.world import Plant


class ClaimIgnoresLedger:
    """A send ledger that forgets its rows when a worker reads them and claims everyone it is asked for."""

    def __init__(self, inner: SendLedger) -> None:
        self.inner = inner

    def get_many(self, shop_id: str, campaign_id: str, phones: Sequence[str]) -> dict[str, LedgerEntry]:
        return {}

    def claim(self, shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
        return GroupClaim(tuple(c.phone for c in claims), {})

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class EveryoneActive:
    """A subscriber store whose reads say everyone is subscribed: the send path's STOP check sees nothing."""

    def __init__(self, inner: SubscriberStore) -> None:
        self.inner = inner

    def get_many(self, shop_id: str, phones: Sequence[str]) -> dict[str, Subscriber]:
        return {p: replace(s, status=SubscriberStatus.ACTIVE) for p, s in self.inner.get_many(shop_id, phones).items()}

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class NoOptOutList:
    """A provider whose opt-out list stays empty (the carrier's last line of defence is off too)."""

    def __init__(self, inner: SmsProvider) -> None:
        self.inner = inner

    def add_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        return None

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def claim_ignores_ledger(ports: Ports) -> Ports:
    """At most once without its guard: every delivery of a batch sends again."""
    return replace(ports, ledger=ClaimIgnoresLedger(ports.ledger))  # type: ignore[arg-type]


def skip_stop_check(ports: Ports) -> Ports:
    """Consent without its guard: the send path believes everyone is subscribed, and the carrier is not told."""
    return replace(ports, subscribers=EveryoneActive(ports.subscribers), sms=NoOptOutList(ports.sms))  # type: ignore[arg-type]


PLANTS: dict[str, Plant] = {"claim-ignores-ledger": claim_ignores_ledger, "skip-stop-check": skip_stop_check}
