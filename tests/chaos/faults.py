"""The harness's hands inside a worker: wrappers around the real ports that kill the worker at a chosen step,
race an action into the gap between a claim and its sends, and write down, in one order, what happened.

Every wrapper delegates to the real DynamoDB adapter (or the sandbox provider); nothing here decides anything
the product decides. The ``Timeline`` numbers events (sends, consent commits, claims, End returning) in the
order they happened, which the invariant checks use instead of timestamps: the virtual clock moves back too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.adapters.sms.sandbox import SandboxProvider
from chalicelib.domain.messages import MessageKind, OutboundSms, SendReceipt
from chalicelib.domain.receipts import DeliveryReceipt
from chalicelib.domain.sending import Claim, Deferral, DeliveryRecord, GroupClaim, LedgerEntry, Release, Settlement
from chalicelib.domain.shops import Shop
from chalicelib.domain.subscribers import ConsentEvent, Source, Subscriber, SubscriberSearch, SubscriberStatus
from chalicelib.services.ports import Clock, Page, SendLedger, ShopRepository, SubscriberChange, SubscriberStore
from tests.fakes import WorkerCrash

# Where a worker can die (issue 12: before claim, after claim, after the provider call, before the record).
CRASH_POINTS = (
    "before_claim",
    "after_claim",
    "before_provider",
    "after_provider",
    "before_settle",
    "before_commit",  # a subscriber change (an inbound SMS, an opt-out) about to be written
    "after_commit",
    "before_opt_out_list",
)


@dataclass(frozen=True)
class SendRecord:
    """One message the provider accepted, with the harness's view of the moment."""

    seq: int
    message_id: str
    shop_id: str
    phone: str
    kind: MessageKind
    campaign_id: str | None
    at: datetime
    body: str
    shop: Shop  # the shop as stored when the message went out (its quiet hours, its timezone)


@dataclass(frozen=True)
class ConsentRecord:
    """One consent event committed, in commit order."""

    seq: int
    event: ConsentEvent


@dataclass
class Timeline:
    """What happened, numbered in the order it happened."""

    seq: int = 0
    sends: list[SendRecord] = field(default_factory=list)
    consents: list[ConsentRecord] = field(default_factory=list)
    claims: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)  # (shop, campaign, phone) -> seqs
    ended: dict[tuple[str, str], int] = field(default_factory=dict)  # End Campaign returned, first time
    settings_changed: dict[str, list[int]] = field(default_factory=dict)  # shop -> when its settings were saved
    crashes: dict[str, int] = field(default_factory=dict)
    races: dict[str, int] = field(default_factory=dict)

    def next(self) -> int:
        self.seq += 1
        return self.seq


@dataclass
class Chaos:
    """The round's dice and switches, shared by every wrapper."""

    rng: random.Random
    timeline: Timeline
    crash_rate: float = 0.0
    race_rate: float = 0.0
    enabled: bool = False
    # An action to run between a group's claim and its sends: (shop, campaign, claimed phones) -> what it did.
    race: Callable[[str, str, Sequence[str]], str | None] | None = None

    def maybe_crash(self, point: str) -> None:
        """Kill the worker here, sometimes."""
        if self.enabled and self.crash_rate and self.rng.random() < self.crash_rate:
            self.timeline.crashes[point] = self.timeline.crashes.get(point, 0) + 1
            raise WorkerCrash(point)

    def maybe_race(self, shop_id: str, campaign_id: str, phones: Sequence[str]) -> None:
        if not (self.enabled and self.race and phones and self.rng.random() < self.race_rate):
            return
        self.enabled = False  # the raced action is a request of its own, not the worker's: it is not crashed
        try:
            what = self.race(shop_id, campaign_id, phones)
        finally:
            self.enabled = True
        if what:
            self.timeline.races[what] = self.timeline.races.get(what, 0) + 1


class ChaosLedger:
    """The real send ledger; a worker may die before or after a claim or before a settle, and another action
    may land between a claim and its sends."""

    def __init__(self, inner: SendLedger, chaos: Chaos) -> None:
        self.inner, self.chaos = inner, chaos

    def get_many(self, shop_id: str, campaign_id: str, phones: Sequence[str]) -> dict[str, LedgerEntry]:
        return self.inner.get_many(shop_id, campaign_id, phones)

    def claim(self, shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
        self.chaos.maybe_crash("before_claim")
        result = self.inner.claim(shop_id, campaign_id, claims, at)
        timeline = self.chaos.timeline
        seq = timeline.next()
        for phone in result.claimed:
            timeline.claims.setdefault((shop_id, campaign_id, phone), []).append(seq)
        self.chaos.maybe_race(shop_id, campaign_id, result.claimed)
        self.chaos.maybe_crash("after_claim")
        return result

    def settle(
        self, shop_id: str, campaign_id: str, settlements: Sequence[Settlement], *, released: Sequence[Release] = ()
    ) -> frozenset[str]:
        self.chaos.maybe_crash("before_settle")
        return self.inner.settle(shop_id, campaign_id, settlements, released=released)

    def defer(self, shop_id: str, campaign_id: str, deferrals: Sequence[Deferral], at: datetime) -> int:
        return self.inner.defer(shop_id, campaign_id, deferrals, at)

    def wave(self, shop_id: str, campaign_id: str, release_at: datetime, *, limit: int, cursor: str | None) -> Page[str]:
        return self.inner.wave(shop_id, campaign_id, release_at, limit=limit, cursor=cursor)

    def record_deliveries(self, shop_id: str, campaign_id: str, receipts: Sequence[DeliveryReceipt]) -> DeliveryRecord:
        return self.inner.record_deliveries(shop_id, campaign_id, receipts)


class ChaosProvider:
    """The sandbox provider (its outbox is the ground truth of sends); every accepted message is written down
    with the shop as stored at that moment, and a worker may die just before or just after the call."""

    def __init__(self, inner: SandboxProvider, shops: ShopRepository, clock: Clock, chaos: Chaos) -> None:
        self.inner, self.shops, self.clock, self.chaos = inner, shops, clock, chaos

    def send(self, sms: OutboundSms) -> SendReceipt:
        self.chaos.maybe_crash("before_provider")
        receipt = self.inner.send(sms)
        timeline = self.chaos.timeline
        timeline.sends.append(
            SendRecord(
                seq=timeline.next(),
                message_id=receipt.provider_message_id,
                shop_id=sms.shop_id,
                phone=sms.to_number,
                kind=sms.kind,
                campaign_id=sms.campaign_id,
                at=self.clock.now(),  # the sandbox stamps its outbox with this same clock
                body=sms.body,
                shop=self.shops.get(sms.shop_id),
            )
        )
        self.chaos.maybe_crash("after_provider")
        return receipt

    def add_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        self.chaos.maybe_crash("before_opt_out_list")
        self.inner.add_opt_out(sender_numbers, phone)

    def remove_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        self.inner.remove_opt_out(sender_numbers, phone)

    def number_kind(self, number: str) -> str | None:
        return self.inner.number_kind(number)


class ChaosSubscribers:
    """The real subscriber store; consent changes are written down in commit order, and a worker may die just
    before or after one."""

    def __init__(self, inner: SubscriberStore, chaos: Chaos) -> None:
        self.inner, self.chaos = inner, chaos

    def get(self, shop_id: str, phone: str) -> Subscriber | None:
        return self.inner.get(shop_id, phone)

    def page(
        self,
        shop_id: str,
        *,
        status: SubscriberStatus | None = None,
        source: Source | None = None,
        search: SubscriberSearch | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Subscriber]:
        return self.inner.page(shop_id, status=status, source=source, search=search, limit=limit, cursor=cursor)

    def get_many(self, shop_id: str, phones: Sequence[str]) -> dict[str, Subscriber]:
        return self.inner.get_many(shop_id, phones)

    def consent_history(self, shop_id: str, phone: str) -> list[ConsentEvent]:
        return self.inner.consent_history(shop_id, phone)

    def apply(self, change: SubscriberChange) -> Subscriber | None:
        self.chaos.maybe_crash("before_commit")
        stored = self.inner.apply(change)
        if change.event is not None:
            self.chaos.timeline.consents.append(ConsentRecord(self.chaos.timeline.next(), change.event))
        self.chaos.maybe_crash("after_commit")
        return stored

    def receipt(self, dedupe_key: str) -> dict[str, str] | None:
        return self.inner.receipt(dedupe_key)

    def by_customer_id(self, shop_id: str, customer_id: str) -> Subscriber | None:
        return self.inner.by_customer_id(shop_id, customer_id)
