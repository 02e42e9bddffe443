"""In-memory fakes of every port, behaving like the DynamoDB adapters (atomic changes, versions, dedupe)."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from chalicelib.domain.attribution import Attribution
from chalicelib.domain.campaigns import Campaign, CampaignStats, CampaignStatus, PagePlan
from chalicelib.domain.encoding import measure
from chalicelib.domain.errors import (
    ConcurrentUpdate,
    Conflict,
    ConsentRequired,
    InvalidInput,
    NotFound,
    ProviderError,
    ProviderRejected,
    ProviderThrottled,
)
from chalicelib.domain.inbox import Conversation, ConversationStatus, Reply, ReplyState
from chalicelib.domain.jobs import Job
from chalicelib.domain.links import Click, Link
from chalicelib.domain.list_jobs import JobKind, ListJob, RunListJob
from chalicelib.domain.media import StoredMedia, check_image, media_key, unreachable, validate_media_url
from chalicelib.domain.messages import ConversationMessage, MessageKind, OutboundSms, SendReceipt
from chalicelib.domain.orders import Order
from chalicelib.domain.pacing import PacerState, Slots, decide, epoch_ms, slots_of
from chalicelib.domain.privacy import (
    PrivacyExport,
    consent_json,
    conversation_json,
    message_json,
    reply_json,
    subscriber_json,
    suppression_hash,
)
from chalicelib.domain.receipts import DeliveryReceipt
from chalicelib.domain.segments import Segment
from chalicelib.domain.sending import (
    Claim,
    ClaimRefusal,
    ContactWindow,
    Deferral,
    DeliveryRecord,
    GroupClaim,
    LedgerEntry,
    Release,
    SendBatch,
    SendState,
    Settlement,
)
from chalicelib.domain.shopify import Webhook
from chalicelib.domain.shops import SenderNumber, Shop, ShopSettings
from chalicelib.domain.subscribers import ConsentEvent, Source, Subscriber, SubscriberSearch, SubscriberStatus
from chalicelib.services.idempotency import IdempotencyRecord, StoredResponse
from chalicelib.services.ports import AlreadyDone, OrderOutcome, Page, Ports, StoredOrder, SubscriberChange, UploadForm


class FrozenClock:
    """A clock that moves only when told."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> None:
        self.at += timedelta(**kwargs)


def _cursor(value: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": value}).encode()).decode()


def _after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return str(json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"])
    except Exception as exc:
        raise InvalidInput("bad cursor", code="invalid_cursor") from exc


class FakeShops:
    def __init__(self) -> None:
        self.shops: dict[str, Shop] = {}
        self.keys: dict[str, str] = {}

    def get(self, shop_id: str) -> Shop:
        if shop_id not in self.shops:
            raise NotFound(f"no shop {shop_id}", code="shop_not_found")
        return self.shops[shop_id]

    def create(self, shop: Shop, api_key_hash: str | None) -> Shop:
        if shop.shop_id in self.shops:
            raise Conflict("shop exists", code="shop_exists")
        stored = replace(shop, version=1, numbers=())
        self.shops[shop.shop_id] = stored
        if api_key_hash:
            self.keys[f"apikey#{api_key_hash}"] = shop.shop_id
        return stored

    def save_settings(self, shop: Shop, settings: ShopSettings) -> Shop:
        current = self.get(shop.shop_id)
        if current.version != shop.version:
            raise ConcurrentUpdate("shop changed")
        stored = replace(current, settings=settings, version=current.version + 1)
        self.shops[shop.shop_id] = stored
        return stored

    def assign_number(self, shop_id: str, sender: SenderNumber) -> Shop:
        current = self.get(shop_id)
        if self.keys.get(f"sender#{sender.number}", shop_id) != shop_id:
            raise Conflict("sender number taken", code="sender_number_taken")
        stored = replace(current.with_number(sender), version=current.version + 1)
        self.shops[shop_id] = stored
        self.keys[f"sender#{sender.number}"] = shop_id
        return stored

    def unassign_number(self, number: str) -> Shop | None:
        shop_id = self.keys.pop(f"sender#{number}", None)
        if shop_id is None or shop_id not in self.shops:
            return None
        current = self.shops[shop_id]
        stored = replace(current.without_number(number), version=current.version + 1)
        self.shops[shop_id] = stored
        return stored

    def assigned_numbers(self) -> list[tuple[SenderNumber, str]]:
        found = [
            (next(n for n in self.shops[shop_id].numbers if n.number == key.removeprefix("sender#")), shop_id)
            for key, shop_id in self.keys.items()
            if key.startswith("sender#")
        ]
        return sorted(found, key=lambda item: item[0].number)

    def shop_for_sender(self, number: str) -> Shop | None:
        shop_id = self.keys.get(f"sender#{number}")
        shop = self.shops.get(shop_id) if shop_id else None
        return shop if shop is not None and shop.owns(number) else None

    def shop_for_api_key(self, api_key_hash: str) -> str | None:
        return self.keys.get(f"apikey#{api_key_hash}")

    def mark_uninstalled(self, shop_id: str, at: datetime) -> Shop:
        current = self.get(shop_id)
        if current.uninstalled_at is None:
            self.shops[shop_id] = replace(current, uninstalled_at=at)
        return self.shops[shop_id]


class FakeSubscriberStore:
    def __init__(self, conversations: FakeConversations) -> None:
        self.rows: dict[tuple[str, str], Subscriber] = {}
        self.events: list[ConsentEvent] = []
        self.receipts: dict[str, dict[str, str]] = {}
        self.conversations = conversations
        # Set by fake_ports: a change that leaves a number not active moves its contact window, as in DynamoDB.
        self.contacts: FakeContacts | None = None
        self.lock = threading.Lock()
        self.fail_next_apply: BaseException | None = None

    def get(self, shop_id: str, phone: str) -> Subscriber | None:
        return self.rows.get((shop_id, phone))

    def get_many(self, shop_id: str, phones: Sequence[str]) -> dict[str, Subscriber]:
        return {p: self.rows[(shop_id, p)] for p in phones if (shop_id, p) in self.rows}

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
        after = _after(cursor)
        rows = sorted((s for (shop, _), s in self.rows.items() if shop == shop_id), key=lambda s: s.phone)
        rows = [s for s in rows if (status is None or s.status is status) and (source is None or s.source is source)]
        rows = [s for s in rows if search is None or search.matches(s)]
        rows = [s for s in rows if after is None or s.phone > after]
        items = rows[:limit]
        return Page(items, _cursor(items[-1].phone) if len(rows) > limit else None)

    def consent_history(self, shop_id: str, phone: str) -> list[ConsentEvent]:
        return sorted((e for e in self.events if (e.shop_id, e.phone) == (shop_id, phone)), key=lambda e: e.at)

    def apply(self, change: SubscriberChange) -> Subscriber | None:
        with self.lock:
            if self.fail_next_apply is not None:
                exc, self.fail_next_apply = self.fail_next_apply, None
                raise exc
            if change.dedupe_key is not None and change.dedupe_key in self.receipts:
                raise AlreadyDone(change.dedupe_key)
            stored = None
            if change.subscriber is not None:
                key = (change.subscriber.shop_id, change.subscriber.phone)
                current = self.rows.get(key)
                if change.expected_version is None and current is not None:
                    raise ConcurrentUpdate("exists")
                if change.expected_version is not None and (current is None or current.version != change.expected_version):
                    raise ConcurrentUpdate("version")
                stored = replace(change.subscriber, version=(change.expected_version or 0) + 1)
                self.rows[key] = stored
                if not stored.can_receive_marketing and self.contacts is not None:
                    self.contacts.move(*key)
            if change.event is not None:
                self.events.append(change.event)
            if change.message is not None:
                self.conversations.append(change.message)
            if change.dedupe_key is not None:
                self.receipts[change.dedupe_key] = dict(change.receipt or {})
            return stored

    def receipt(self, dedupe_key: str) -> dict[str, str] | None:
        return self.receipts.get(dedupe_key)

    def by_customer_id(self, shop_id: str, customer_id: str) -> Subscriber | None:
        found = [s for (shop, _), s in self.rows.items() if shop == shop_id and s.customer_id == customer_id]
        return max(found, key=lambda s: s.updated_at, default=None)

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        subscriber = self.get(shop_id, phone)
        return {
            "subscriber": subscriber_json(subscriber) if subscriber else None,
            "consent_history": [consent_json(e) for e in self.consent_history(shop_id, phone)],
        }

    def erase(self, shop_id: str, phone: str) -> int:
        with self.lock:
            events = [e for e in self.events if (e.shop_id, e.phone) == (shop_id, phone)]
            self.events = [e for e in self.events if (e.shop_id, e.phone) != (shop_id, phone)]
            return len(events) + (1 if self.rows.pop((shop_id, phone), None) else 0)


class FakeConversations:
    def __init__(self) -> None:
        self.lines: dict[tuple[str, str], ConversationMessage] = {}

    def append(self, message: ConversationMessage) -> None:
        self.lines.setdefault((f"{message.shop_id}#{message.phone}", message.message_id), message)

    def thread(self, shop_id: str, phone: str, *, limit: int = 100, cursor: str | None = None) -> Page[ConversationMessage]:
        items = sorted((m for (k, _), m in self.lines.items() if k == f"{shop_id}#{phone}"), key=lambda m: (m.at, m.message_id))
        return Page(items[:limit], None)

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        return {"messages": [message_json(m) for m in self.thread(shop_id, phone, limit=10**6).items]}

    def erase(self, shop_id: str, phone: str) -> int:
        keys = [key for key in self.lines if key[0] == f"{shop_id}#{phone}"]
        for key in keys:
            del self.lines[key]
        return len(keys)


class FakeClaims:
    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.lock = threading.Lock()

    def claim(self, key: str, at: datetime) -> bool:
        with self.lock:
            if key in self.keys:
                return False
            self.keys.add(key)
            return True

    def release(self, key: str) -> None:
        self.keys.discard(key)

    def taken(self, key: str) -> bool:
        return key in self.keys


class FakeRateLimiter:
    """Like DynamoRateLimiter: a counter per key, counted only while under its limit (under a lock: atomic)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.expires: dict[str, datetime] = {}
        self.lock = threading.Lock()

    def take(self, key: str, limit: int, expires_at: datetime) -> bool:
        with self.lock:
            if self.counts.get(key, 0) >= limit:
                return False
            self.counts[key] = self.counts.get(key, 0) + 1
            self.expires[key] = expires_at
            return True


@dataclass
class Sent:
    sms: OutboundSms
    receipt: SendReceipt
    at: datetime | None = None


class FakeSms:
    """Records sends; mimics the provider's opt-out list (refuses every kind, as AWS does) and throttling."""

    def __init__(self, clock: FrozenClock | None = None) -> None:
        self.clock = clock
        self.sent: list[Sent] = []
        self.on_send: Callable[[OutboundSms], None] | None = None  # test hook: runs as the provider accepts
        self.opted_out: set[tuple[str, str]] = set()
        self.refuse_removal = False  # AWS lets a number off the opt-out list once per 30 days
        self.not_in_account: set[str] = set()  # numbers DescribePhoneNumbers does not know
        self.calls: list[str] = []
        # Fault switches, each for the next n sends. Nothing leaves for these:
        self.throttle_next = 0  # ProviderThrottled (ThrottlingException, ServiceQuotaExceeded)
        self.reject_next = 0  # ProviderRejected (ValidationException)
        self.fail_next = 0  # ProviderError, nothing sent (a 5xx before the service acted)
        # ... and the message does go out for these, but the caller never hears so:
        self.lose_answer_next = 0  # ProviderError after the provider accepted it (a read timeout)
        self.crash_after_send_next = 0  # WorkerCrash after the provider accepted it (Lambda died)

    def send(self, sms: OutboundSms) -> SendReceipt:
        self.calls.append(f"send:{sms.to_number}")
        if self.throttle_next:
            self.throttle_next -= 1
            raise ProviderThrottled("slow down")
        if (sms.from_number, sms.to_number) in self.opted_out:  # like AWS: no kind is exempt
            raise ConsentRequired("opted out at the provider", details={"reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT"})
        if self.reject_next:
            self.reject_next -= 1
            raise ProviderRejected("refused", details={"reason": "INVALID_PARAMETER"})
        if self.fail_next:
            self.fail_next -= 1
            raise ProviderError("InternalServerException", details={"aws_code": "InternalServerException"})
        # like End User Messaging: an MMS is one part whatever its text
        parts = 1 if sms.media_urls else measure(sms.body).parts
        receipt = SendReceipt(provider_message_id=f"fake-{len(self.sent) + 1}", parts=parts)
        self.sent.append(Sent(sms, receipt, self.clock.now() if self.clock else None))
        if self.on_send is not None:
            self.on_send(sms)
        if self.lose_answer_next:
            self.lose_answer_next -= 1
            raise ProviderError("no answer (ReadTimeoutError)", details={"reason": "ReadTimeoutError"})
        if self.crash_after_send_next:
            self.crash_after_send_next -= 1
            raise WorkerCrash(f"crashed after the provider accepted a message to {sms.to_number}")
        return receipt

    def accepted(self, phone: str, kind: MessageKind) -> int:
        """How many messages of ``kind`` the provider took for ``phone`` (sent over the air)."""
        return sum(1 for s in self.sent if s.sms.to_number == phone and s.sms.kind is kind)

    def add_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        # per-number lists, like the sandbox: a shop's opt-out must reach every number of its pool
        self.calls.append(f"add_opt_out:{phone}")
        self.opted_out.update((sender, phone) for sender in sender_numbers)

    def remove_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        self.calls.append(f"remove_opt_out:{phone}")
        if self.refuse_removal:
            raise ProviderRejected("opted-out number was removed within the last 30 days")
        self.opted_out.difference_update((sender, phone) for sender in sender_numbers)

    def number_kind(self, number: str) -> str | None:
        """The fake account holds every number but those in ``not_in_account``."""
        return None if number in self.not_in_account else "SIMULATOR"

    def bodies_to(self, phone: str) -> list[str]:
        return [s.sms.body for s in self.sent if s.sms.to_number == phone]


# --- Campaign engine fakes -------------------------------------------------------------------------------


class FakeCampaigns:
    """Like DynamoCampaignRepository: versioned definition writes, atomic counters and checkpoint."""

    def __init__(self, subscribers: FakeSubscriberStore) -> None:
        self.rows: dict[tuple[str, str], Campaign] = {}
        self.shop_totals: dict[str, CampaignStats] = {}
        self.plans: dict[tuple[str, str, int], PagePlan] = {}
        self.lock = subscribers.lock  # one lock: claims check campaign and subscriber atomically
        self.crash_before_checkpoint = 0  # test hook: the next n checkpoints 'crash' the planner (WorkerCrash)

    def create(self, campaign: Campaign) -> Campaign:
        with self.lock:
            key = (campaign.shop_id, campaign.campaign_id)
            if key in self.rows:
                raise Conflict("exists", code="campaign_exists")
            self.rows[key] = replace(campaign, version=1)
            return self.rows[key]

    def get(self, shop_id: str, campaign_id: str) -> Campaign:
        if (shop_id, campaign_id) not in self.rows:
            raise NotFound(f"no campaign {campaign_id}", code="campaign_not_found")
        return self.rows[(shop_id, campaign_id)]

    def page(self, shop_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[Campaign]:
        after = _after(cursor)
        rows = sorted((c for (s, _), c in self.rows.items() if s == shop_id), key=lambda c: c.campaign_id, reverse=True)
        rows = [c for c in rows if after is None or c.campaign_id < after]
        return Page(rows[:limit], _cursor(rows[limit - 1].campaign_id) if len(rows) > limit else None)

    def all(self, shop_id: str) -> Iterator[Campaign]:
        return iter([c for (s, _), c in sorted(self.rows.items()) if s == shop_id])

    def by_discount_code(self, shop_id: str, codes: Sequence[str]) -> dict[str, str]:
        wanted = {code.upper() for code in codes}
        found: dict[str, str] = {}
        for c in sorted(self.all(shop_id), key=lambda c: c.campaign_id, reverse=True):
            if c.discount_code and c.discount_code.upper() in wanted:
                found.setdefault(c.discount_code.upper(), c.campaign_id)
        return found

    def save(self, campaign: Campaign) -> Campaign:
        with self.lock:
            current = self.get(campaign.shop_id, campaign.campaign_id)
            if current.version != campaign.version:
                raise ConcurrentUpdate("campaign changed")
            stored = replace(
                campaign,
                stats=current.stats,
                plan_page=current.plan_page,
                plan_cursor=current.plan_cursor,
                planning_done=current.planning_done,
                version=current.version + 1,
            )
            self.rows[(campaign.shop_id, campaign.campaign_id)] = stored
            return stored

    def delete(self, campaign: Campaign) -> None:
        with self.lock:
            current = self.get(campaign.shop_id, campaign.campaign_id)
            if current.version != campaign.version:
                raise ConcurrentUpdate("campaign changed")
            del self.rows[(campaign.shop_id, campaign.campaign_id)]

    def checkpoint_plan(self, shop_id: str, campaign_id: str, *, page: int, next_cursor: str | None, planned: int) -> bool:
        if self.crash_before_checkpoint:
            self.crash_before_checkpoint -= 1
            raise WorkerCrash(f"planner crashed before checkpointing page {page}")
        with self.lock:
            c = self.get(shop_id, campaign_id)
            if c.plan_page != page or c.status is not CampaignStatus.IN_PROGRESS:
                return False
            self.rows[(shop_id, campaign_id)] = replace(
                c, plan_page=page + 1, plan_cursor=next_cursor, planning_done=next_cursor is None
            )
            self.add(shop_id, campaign_id, planned=planned)
            return True

    def complete_if_done(self, shop_id: str, campaign_id: str, at: datetime) -> bool:
        with self.lock:
            c = self.get(shop_id, campaign_id)
            if c.status is not CampaignStatus.IN_PROGRESS or not c.planning_done or c.stats.done < c.stats.planned:
                return False
            # The version moves too, so an End Campaign racing natural completion cannot relabel it.
            self.rows[(shop_id, campaign_id)] = replace(
                c, status=CampaignStatus.COMPLETED, completed_at=at, version=c.version + 1
            )
            return True

    def keep_page_plan(self, shop_id: str, campaign_id: str, plan: PagePlan, at: datetime) -> PagePlan:
        with self.lock:
            return self.plans.setdefault((shop_id, campaign_id, plan.page), plan)

    def add(self, shop_id: str, campaign_id: str, *, currency: str | None = None, **counters: int) -> None:
        """Move a campaign's counters and, with them, the shop's totals (as the adapters' transactions do)."""
        c = self.get(shop_id, campaign_id)
        stats = replace(c.stats, **{k: getattr(c.stats, k) + v for k, v in counters.items()})
        if currency is not None and stats.currency is None:
            stats = replace(stats, currency=currency)
        self.rows[(shop_id, campaign_id)] = replace(c, stats=stats)
        totals = self.shop_totals.get(shop_id, CampaignStats())
        totals = replace(totals, **{k: getattr(totals, k) + v for k, v in counters.items()})
        if currency is not None and totals.currency is None:
            totals = replace(totals, currency=currency)
        self.shop_totals[shop_id] = totals

    def totals(self, shop_id: str) -> CampaignStats:
        return self.shop_totals.get(shop_id, CampaignStats())


class FakeLedger:
    """Like DynamoSendLedger: a group claim checks the campaign, and the row and contact window per recipient, in
    one atomic step; settle moves rows and counters together."""

    def __init__(self, campaigns: FakeCampaigns, subscribers: FakeSubscriberStore, contacts: FakeContacts) -> None:
        self.rows: dict[tuple[str, str, str], LedgerEntry] = {}
        self.waves: dict[tuple[str, str, datetime], list[str]] = {}
        self.campaigns, self.subscribers, self.contacts = campaigns, subscribers, contacts
        self.conversations: FakeConversations | None = None  # settle writes thread lines here (set by fake_ports)
        self.lock = subscribers.lock
        self.crash_after_claim: set[str] = set()  # phones whose claim 'crashes' the worker (test hook)
        self.crash_before_record: set[str] = set()  # phones whose SENT record 'crashes' the worker
        self.claim_calls = 0
        self.settle_calls = 0

    def get_many(self, shop_id: str, campaign_id: str, phones: Sequence[str]) -> dict[str, LedgerEntry]:
        return {p: self.rows[(shop_id, campaign_id, p)] for p in phones if (shop_id, campaign_id, p) in self.rows}

    def claim(self, shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
        self.claim_calls += 1
        claimed: list[str] = []
        refused: dict[str, ClaimRefusal] = {}
        with self.lock:
            if self.campaigns.get(shop_id, campaign_id).status is not CampaignStatus.IN_PROGRESS:
                return GroupClaim((), {c.phone: ClaimRefusal.CAMPAIGN_NOT_RUNNING for c in claims})
            for claim in {c.phone: c for c in claims}.values():
                phone = claim.phone
                current = self.rows.get((shop_id, campaign_id, phone))
                if (current.state if current else None) is not claim.previous:
                    refused[phone] = ClaimRefusal.TAKEN
                    continue
                if self.contacts.window(shop_id, phone).version != claim.contacts.version:
                    refused[phone] = ClaimRefusal.CONTACTS_CHANGED
                    continue
                self.contacts.windows_by_phone[(shop_id, phone)] = claim.contacts.with_send(at)
                self.contacts.sent.append((shop_id, phone, at))
                self.rows[(shop_id, campaign_id, phone)] = LedgerEntry(
                    shop_id,
                    campaign_id,
                    phone,
                    SendState.CLAIMED,
                    at,
                    release_at=current.release_at if current else None,
                    attempts=(current.attempts if current else 0) + 1,
                )
                claimed.append(phone)
        crashed = [p for p in claimed if p in self.crash_after_claim]
        if crashed:
            self.crash_after_claim.difference_update(crashed)
            raise WorkerCrash(f"crashed after claiming {crashed}")
        return GroupClaim(tuple(claimed), refused)

    def settle(
        self, shop_id: str, campaign_id: str, settlements: Sequence[Settlement], *, released: Sequence[Release] = ()
    ) -> frozenset[str]:
        self.settle_calls += 1
        crashed = [
            s.entry.phone for s in settlements if s.entry.state is SendState.SENT and s.entry.phone in self.crash_before_record
        ]
        if crashed:
            self.crash_before_record.difference_update(crashed)
            raise WorkerCrash(f"crashed after sending to {crashed}, before recording it")
        recorded: set[str] = set()
        with self.lock:
            for settlement in settlements:
                entry = settlement.entry
                if not entry.state.final:
                    raise InvalidInput(f"settle records an outcome, not {entry.state.value}", code="not_final")
                key = (entry.shop_id, entry.campaign_id, entry.phone)
                current = self.rows.get(key)
                if (current.state if current else None) is not settlement.previous:
                    continue
                self.rows[key] = entry
                counter = {SendState.SENT: "sent", SendState.SKIPPED: "skipped", SendState.FAILED: "failed"}[entry.state]
                self.campaigns.add(entry.shop_id, entry.campaign_id, **{counter: 1, "parts": entry.parts})  # type: ignore[arg-type]
                if settlement.line is not None and self.conversations is not None:
                    self.conversations.append(settlement.line)
                recorded.add(entry.phone)
            for release in released:
                key = (shop_id, campaign_id, release.phone)
                if key in self.rows and self.rows[key].state is SendState.CLAIMED:
                    del self.rows[key]
                if self.contacts.window(shop_id, release.phone).version == release.claimed.version:
                    self.contacts.windows_by_phone[(shop_id, release.phone)] = release.restored
        return frozenset(recorded)

    def defer(self, shop_id: str, campaign_id: str, deferrals: Sequence[Deferral], at: datetime) -> int:
        first = 0
        with self.lock:
            for deferral in {d.phone: d for d in deferrals}.values():
                key = (shop_id, campaign_id, deferral.phone)
                current = self.rows.get(key)
                if (current.state if current else None) is not deferral.previous:
                    continue
                self.rows[key] = LedgerEntry(
                    shop_id, campaign_id, deferral.phone, SendState.DEFERRED, at, release_at=deferral.release_at
                )
                wave = self.waves.setdefault((shop_id, campaign_id, deferral.release_at), [])
                if deferral.phone not in wave:
                    wave.append(deferral.phone)
                if current is None:
                    first += 1
            if first:
                self.campaigns.add(shop_id, campaign_id, deferred=first)
        return first

    def record_deliveries(self, shop_id: str, campaign_id: str, receipts: Sequence[DeliveryReceipt]) -> DeliveryRecord:
        recorded: set[str] = set()
        not_settled: set[str] = set()
        unknown: set[str] = set()
        with self.lock:
            for receipt in receipts:
                outcome = receipt.outcome
                if outcome is None:
                    continue
                key = (shop_id, campaign_id, receipt.phone)
                current = self.rows.get(key)
                if current is not None and current.state is SendState.CLAIMED:
                    not_settled.add(receipt.provider_message_id)
                elif current is None or current.provider_message_id != receipt.provider_message_id:
                    unknown.add(receipt.provider_message_id)
                elif current.delivery is None:
                    self.rows[key] = replace(current, delivery=outcome, delivery_reason=receipt.reason, delivery_at=receipt.at)
                    self.campaigns.add(shop_id, campaign_id, **{outcome.value: 1})  # type: ignore[arg-type]
                    recorded.add(receipt.provider_message_id)
        return DeliveryRecord(frozenset(recorded), frozenset(not_settled), frozenset(unknown))

    def wave(self, shop_id: str, campaign_id: str, release_at: datetime, *, limit: int, cursor: str | None) -> Page[str]:
        phones = sorted(self.waves.get((shop_id, campaign_id, release_at), []))
        after = _after(cursor)
        phones = [p for p in phones if after is None or p > after]
        return Page(phones[:limit], _cursor(phones[limit - 1]) if len(phones) > limit else None)

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        rows = [e for (s, _, p), e in self.rows.items() if (s, p) == (shop_id, phone)]
        return {"campaign_sends": [{"campaign_id": e.campaign_id, "state": e.state.value} for e in rows]}

    def erase(self, shop_id: str, phone: str) -> int:
        with self.lock:
            keys = [key for key in self.rows if (key[0], key[2]) == (shop_id, phone)]
            for key in keys:
                del self.rows[key]
            for (s, _, _), phones in self.waves.items():
                if s == shop_id and phone in phones:
                    phones.remove(phone)
            return len(keys)

    def states(self, shop_id: str, campaign_id: str) -> dict[str, SendState]:
        return {p: e.state for (s, c, p), e in self.rows.items() if (s, c) == (shop_id, campaign_id)}


class FakeLinks:
    """Like DynamoLinkStore: conditional creates, slots taken once, click counters changed atomically."""

    def __init__(self, campaigns: FakeCampaigns, subscribers: FakeSubscriberStore) -> None:
        self.links: dict[str, Link] = {}
        self.slot_codes: dict[str, str] = {}
        self.clicks: list[Click] = []
        self.campaigns, self.subscribers = campaigns, subscribers
        self.lock = subscribers.lock

    def get(self, code: str) -> Link | None:
        return self.links.get(code)

    def slots(self, slots: Sequence[str]) -> dict[str, str]:
        return {slot: self.slot_codes[slot] for slot in slots if slot in self.slot_codes}

    def create(self, links: Sequence[tuple[str, Link]]) -> dict[str, str]:
        held: dict[str, str] = {}
        with self.lock:
            for slot, link in links:
                if slot in self.slot_codes:
                    held[slot] = self.slot_codes[slot]
                elif link.code not in self.links:
                    self.links[link.code] = link
                    self.slot_codes[slot] = held[slot] = link.code
        return held

    def record_click(self, link: Link, at: datetime) -> bool:
        with self.lock:
            current = self.links.get(link.code)
            if current is None or (link.campaign_id is not None and (link.shop_id, link.campaign_id) not in self.campaigns.rows):
                return False  # the link or its campaign is gone: nothing counted (as the adapter)
            first = current.first_clicked_at is None
            self.links[link.code] = replace(current, clicks=current.clicks + 1, first_clicked_at=current.first_clicked_at or at)
            if link.campaign_id is not None:
                self.campaigns.add(link.shop_id, link.campaign_id, clicks=1, unique_clicks=1 if first else 0)
            self.clicks.append(Click(link.shop_id, link.phone, link.code, at, link.campaign_id))
            sub = self.subscribers.rows.get((link.shop_id, link.phone))
            if sub is not None and (sub.last_clicked_at is None or sub.last_clicked_at < at):
                self.subscribers.rows[(link.shop_id, link.phone)] = replace(sub, last_clicked_at=at, version=sub.version + 1)
            return first

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        mine = [link for link in self.links.values() if (link.shop_id, link.phone) == (shop_id, phone)]
        clicks = [c for c in self.clicks if (c.shop_id, c.phone) == (shop_id, phone)]
        return {
            "links": [{"code": link.code, "target": link.target, "campaign_id": link.campaign_id} for link in mine],
            "clicks": [{"at": c.at.isoformat(), "code": c.code, "campaign_id": c.campaign_id} for c in clicks],
        }

    def erase(self, shop_id: str, phone: str) -> int:
        with self.lock:
            codes = [code for code, link in self.links.items() if (link.shop_id, link.phone) == (shop_id, phone)]
            slots = [slot for slot in self.slot_codes if slot.startswith(f"{shop_id}#") and slot.split("#")[2] == phone]
            clicks = [c for c in self.clicks if (c.shop_id, c.phone) == (shop_id, phone)]
            for code in codes:
                del self.links[code]
            for slot in slots:
                del self.slot_codes[slot]
            self.clicks = [c for c in self.clicks if (c.shop_id, c.phone) != (shop_id, phone)]
            return len(codes) + len(slots) + len(clicks)

    def latest_click(self, shop_id: str, phone: str, since: datetime, until: datetime) -> Click | None:
        found = [c for c in self.clicks if (c.shop_id, c.phone) == (shop_id, phone) and c.campaign_id and since <= c.at <= until]
        return max(found, key=lambda c: c.at, default=None)


class WorkerCrash(BaseException):
    """Stands for a Lambda dying mid-invocation: not an Exception, so no handler in the code catches it."""


class FakeContacts:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, datetime]] = []
        self.windows_by_phone: dict[tuple[str, str], ContactWindow] = {}

    def window(self, shop_id: str, phone: str) -> ContactWindow:
        return self.windows_by_phone.get((shop_id, phone), ContactWindow())

    def move(self, shop_id: str, phone: str) -> None:
        """A consent change: the window keeps its messages and takes a new version (DynamoSubscriberStore.apply)."""
        window = self.window(shop_id, phone)
        self.windows_by_phone[(shop_id, phone)] = replace(window, version=window.version + 1)

    def windows(self, shop_id: str, phones: Sequence[str]) -> dict[str, ContactWindow]:
        return {phone: self.window(shop_id, phone) for phone in phones}


class VirtualTime:
    """A clock plus a sleep that only moves the clock: pacing tests run instantly and exactly."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.slept = 0.0

    def __call__(self, seconds: float) -> None:
        self.slept += seconds
        self.clock.advance(seconds=seconds)


class FakePacer:
    """The real ``decide`` over the clock, one state per sender number in memory.

    ``granted`` records every granted slot as (number, ms, parts), so tests can check windows with
    ``window_peak``; ``lead_ms`` plays DynamoPacer's head start (0: the first slot is now).
    """

    def __init__(self, clock: FrozenClock, *, lead_ms: int = 0) -> None:
        self.clock = clock
        self.lead_ms = lead_ms
        self.states: dict[str, PacerState] = {}
        self.granted: list[tuple[str, int, int]] = []
        self.calls = 0

    def grant(self, number: str, limit: int, parts: Sequence[int]) -> Slots:
        self.calls += 1
        if limit < 1:
            raise InvalidInput("the sending limit must be at least one message part per second", code="invalid_mps")
        now_ms = epoch_ms(self.clock.now()) + self.lead_ms
        decision = decide(self.states.get(number, PacerState(last_ms=None)), now_ms, parts, limit)
        if decision.state is not None:
            self.states[number] = decision.state
            self.granted.extend((number, at, min(p, limit)) for at, p in zip(decision.slots_ms, parts, strict=False))
        return slots_of(decision)

    def sends(self, number: str) -> list[tuple[int, int]]:
        """(ms, parts) of every slot granted at ``number``, for ``window_peak``."""
        return [(at, p) for n, at, p in self.granted if n == number]


class FakeSegments:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Segment] = {}

    def create(self, segment: Segment) -> Segment:
        self.rows[(segment.shop_id, segment.segment_id)] = segment
        return segment

    def get(self, shop_id: str, segment_id: str) -> Segment:
        if (shop_id, segment_id) not in self.rows:
            raise NotFound(f"no segment {segment_id}", code="segment_not_found")
        return self.rows[(shop_id, segment_id)]

    def list(self, shop_id: str) -> list[Segment]:
        return [s for (shop, _), s in self.rows.items() if shop == shop_id]


@dataclass
class FakeSchedule:
    when: datetime
    timezone: str
    job: Job


class FakeSchedules:
    def __init__(self) -> None:
        self.schedules: dict[str, FakeSchedule] = {}
        self.cancelled: list[str] = []
        self.created: list[str] = []

    def at(self, name: str, when: datetime, timezone: str, job: Job, *, move: bool = True) -> None:
        self.created.append(name)
        if move or name not in self.schedules:
            self.schedules[name] = FakeSchedule(when, timezone, job)

    def cancel(self, name: str) -> None:
        self.cancelled.append(name)
        self.schedules.pop(name, None)

    def due(self, now: datetime) -> list[tuple[str, Job]]:
        """Schedules whose time has come, removed as EventBridge's ActionAfterCompletion DELETE does."""
        fired = []
        for name, s in list(self.schedules.items()):
            if s.when.replace(tzinfo=ZoneInfo(s.timezone)) <= now:
                fired.append((name, s.job))
                del self.schedules[name]
        return fired


class FakeJobs:
    def __init__(self) -> None:
        self.jobs: list[tuple[Job, int]] = []
        self.sends: list[tuple[SendBatch, int]] = []

    def enqueue(self, job: Job, *, delay_seconds: int = 0) -> None:
        self.jobs.append((job, delay_seconds))

    def enqueue_sends(self, batches: Sequence[SendBatch], *, delay_seconds: int = 0) -> None:
        self.sends.extend((b, delay_seconds) for b in batches)


class FakeInbox:
    """Like DynamoInboxRepository: version-checked saves that move the unresolved count in the same step."""

    def __init__(self, lock: threading.Lock) -> None:
        self.rows: dict[tuple[str, str], Conversation] = {}
        self.counters: dict[str, int] = {}
        self.lock = lock

    def get(self, shop_id: str, phone: str) -> Conversation | None:
        return self.rows.get((shop_id, phone))

    def save(self, conversation: Conversation, *, previous: Conversation | None) -> Conversation:
        with self.lock:
            key = (conversation.shop_id, conversation.phone)
            current = self.rows.get(key)
            if (current is None) != (previous is None) or (current and previous and current.version != previous.version):
                raise ConcurrentUpdate("conversation changed")
            stored = replace(conversation, version=(previous.version if previous else 0) + 1)
            delta = int(stored.counts_as_unresolved) - int(previous.counts_as_unresolved if previous else 0)
            self.rows[key] = stored
            self.counters[conversation.shop_id] = self.counters.get(conversation.shop_id, 0) + delta
            return stored

    def page(self, shop_id: str, status: ConversationStatus, *, limit: int = 50, cursor: str | None = None) -> Page[Conversation]:
        rows = sorted(
            (c for (s, _), c in self.rows.items() if s == shop_id and c.status is status),
            key=lambda c: (c.last_activity_at, c.phone),
            reverse=True,
        )
        start = int(_after(cursor) or 0)
        items = rows[start : start + limit]
        return Page(items, _cursor(str(start + limit)) if len(rows) > start + limit else None)

    def unresolved_count(self, shop_id: str) -> int:
        return self.counters.get(shop_id, 0)

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        conversation = self.get(shop_id, phone)
        return {"conversation": conversation_json(conversation) if conversation else None}

    def erase(self, shop_id: str, phone: str) -> int:
        with self.lock:
            conversation = self.rows.pop((shop_id, phone), None)
            if conversation is None:
                return 0
            self.counters[shop_id] = self.counters.get(shop_id, 0) - int(conversation.counts_as_unresolved)
            return 1


class FakeReplies:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], Reply] = {}

    def create(self, reply: Reply) -> Reply:
        key = (reply.shop_id, reply.phone, reply.reply_id)
        if key in self.rows:
            raise Conflict("reply exists", code="reply_exists")
        self.rows[key] = reply
        return reply

    def get(self, shop_id: str, phone: str, reply_id: str) -> Reply | None:
        return self.rows.get((shop_id, phone, reply_id))

    def pending(self, shop_id: str, phone: str) -> list[Reply]:
        return sorted(
            (r for (s, p, _), r in self.rows.items() if (s, p) == (shop_id, phone) and r.state is ReplyState.SCHEDULED),
            key=lambda r: r.created_at,
        )

    def settle(self, reply: Reply) -> bool:
        key = (reply.shop_id, reply.phone, reply.reply_id)
        if key not in self.rows or self.rows[key].state is not ReplyState.SCHEDULED:
            return False
        self.rows[key] = reply
        return True

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        return {"replies": [reply_json(r) for (s, p, _), r in self.rows.items() if (s, p) == (shop_id, phone)]}

    def erase(self, shop_id: str, phone: str) -> int:
        keys = [key for key in self.rows if key[:2] == (shop_id, phone)]
        for key in keys:
            del self.rows[key]
        return len(keys)


class FakeWebhookQueue:
    """``WebhookQueue`` as a list; ``fail_next`` makes the next put raise (a queue outage)."""

    def __init__(self) -> None:
        self.webhooks: list[Webhook] = []
        self.fail_next: BaseException | None = None

    def put(self, webhook: Webhook) -> None:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        self.webhooks.append(webhook)


class FakeSuppressions:
    """Only hashes are kept, as in DynamoDB."""

    def __init__(self) -> None:
        self.hashes: set[str] = set()

    def add(self, shop_id: str, phone: str, at: datetime) -> None:
        self.hashes.add(suppression_hash(shop_id, phone))

    def contains(self, shop_id: str, phone: str) -> bool:
        return suppression_hash(shop_id, phone) in self.hashes

    def suppressed(self, shop_id: str, phones: Sequence[str]) -> set[str]:
        return {phone for phone in phones if self.contains(shop_id, phone)}


class FakeExports:
    """``PrivacyExports`` and the ``PersonalData`` of the exports themselves."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], PrivacyExport] = {}

    def save(self, export: PrivacyExport) -> None:
        self.rows[(export.shop_id, export.export_id)] = export

    def get(self, shop_id: str, export_id: str) -> PrivacyExport | None:
        return self.rows.get((shop_id, export_id))

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        return {"earlier_exports": [e.export_id for (s, _), e in self.rows.items() if s == shop_id and e.phone == phone]}

    def erase(self, shop_id: str, phone: str) -> int:
        keys = [k for k, e in self.rows.items() if k[0] == shop_id and e.phone == phone]
        for key in keys:
            del self.rows[key]
        return len(keys)


class FakeShopData:
    """shop/redact over the fakes: every fake that keeps a shop's data forgets it."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def erase_shop(self, shop_id: str) -> int:
        p = self.ports
        deleted = 0
        inbox = p.inbox
        assert isinstance(inbox, FakeInbox)
        phones = {s.phone for s in p.subscribers.page(shop_id, limit=10**6).items} | {
            phone for shop, phone in inbox.rows if shop == shop_id
        }
        for store in p.personal_data:
            for phone in phones:
                deleted += store.erase(shop_id, phone)
        shops = p.shops
        assert isinstance(shops, FakeShops)
        deleted += 1 if shops.shops.pop(shop_id, None) else 0
        deleted += p.list_jobs.erase_shop(shop_id)
        for key in [k for k, v in shops.keys.items() if v == shop_id]:
            del shops.keys[key]
        return deleted


# The smallest things that pass for images by their magic numbers (the media rules look at nothing else).
TINY_PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
TINY_GIF = b"GIF89a" + bytes(24)
TINY_JPEG = b"\xff\xd8\xff\xe0" + bytes(24)


class FakeMedia:
    """Like S3MediaLibrary over a pretend web: the same URL rules and image checks (the domain's pure
    functions), a content-addressed store; ``serve`` decides what a link returns (unknown links: 404)."""

    def __init__(self, bucket: str = "fake-media") -> None:
        self.bucket = bucket
        self.web: dict[str, bytes] = {}
        self.objects: dict[str, bytes] = {}
        self.downloads: list[str] = []

    def serve(self, url: str, data: bytes) -> None:
        self.web[validate_media_url(url).url] = data

    def import_image(self, shop_id: str, url: str) -> StoredMedia:
        link = validate_media_url(url)
        self.downloads.append(link.url)
        if link.url not in self.web:
            raise unreachable(link.url, "HTTP 404")
        data = self.web[link.url]
        kind = check_image(data, link.url)
        key = media_key(shop_id, data, kind)
        self.objects.setdefault(key, data)
        uri = f"s3://{self.bucket}/{key}"
        return StoredMedia(source_url=link.url, s3_uri=uri, content_type=kind.content_type, size=len(data))


class FakeIdempotencyStore:
    """``IdempotencyStore`` in memory, with the DynamoDB adapter's conditions (expiry, lease, fingerprint)."""

    def __init__(self) -> None:
        self.records: dict[str, IdempotencyRecord] = {}
        self.lock = threading.Lock()

    def start(
        self, key: str, fingerprint: str, *, now: datetime, lease_until: datetime, expires_at: datetime
    ) -> IdempotencyRecord | None:
        with self.lock:
            held = self.records.get(key)
            if held is not None and held.expires_at >= now and (held.response is not None or held.lease_until >= now):
                return held
            self.records[key] = IdempotencyRecord(fingerprint, None, lease_until, expires_at)
            return None

    def finish(self, key: str, fingerprint: str, response: StoredResponse, *, expires_at: datetime) -> None:
        with self.lock:
            held = self.records.get(key)
            if held is None or held.fingerprint != fingerprint or held.response is not None:
                raise Conflict("idempotency key taken over", code="temporarily_unavailable")
            self.records[key] = replace(held, response=response, expires_at=expires_at)

    def release(self, key: str, fingerprint: str) -> None:
        with self.lock:
            held = self.records.get(key)
            if held is not None and held.fingerprint == fingerprint and held.response is None:
                del self.records[key]


def fake_ports(clock: FrozenClock | None = None) -> Ports:
    """A full set of fakes, fictional numbers allowed (tests use +1 555)."""
    clock = clock or FrozenClock()
    conversations = FakeConversations()
    subscribers = FakeSubscriberStore(conversations)
    campaigns = FakeCampaigns(subscribers)
    contacts = FakeContacts()
    subscribers.contacts = contacts
    exports = FakeExports()
    links, orders = FakeLinks(campaigns, subscribers), FakeOrders(campaigns, subscribers)
    ledger = FakeLedger(campaigns, subscribers, contacts)
    ledger.conversations = conversations
    ports = Ports(
        clock=clock,
        shops=FakeShops(),
        subscribers=subscribers,
        conversations=conversations,
        claims=FakeClaims(),
        sms=FakeSms(clock),
        campaigns=campaigns,
        ledger=ledger,
        contacts=contacts,
        pacer=FakePacer(clock),
        segments=FakeSegments(),
        schedules=FakeSchedules(),
        jobs=FakeJobs(),
        sleep=VirtualTime(clock),
        media=FakeMedia(),
        inbox=FakeInbox(subscribers.lock),
        replies=FakeReplies(),
        links=links,
        orders=orders,
        webhooks=FakeWebhookQueue(),
        suppressions=FakeSuppressions(),
        exports=exports,
        shop_data=None,  # type: ignore[arg-type]  # set below: it walks these very ports
        export_files=FakeExportFiles(),
        rate_limits=FakeRateLimiter(),
        import_files=FakeImportFiles(),
        list_jobs=FakeListJobs(),
        list_job_queue=FakeListJobQueue(),
        allow_fictional_numbers=True,
    )
    ports.personal_data = [subscribers, conversations, ports.inbox, ports.replies, ports.ledger, exports, links, orders]  # type: ignore[list-item]
    ports.shop_data = FakeShopData(ports)
    return ports


class FakeOrders:
    """Like DynamoOrderStore: stored once, counters and subscriber facts moved with the order, cancelled once."""

    def __init__(self, campaigns: FakeCampaigns, subscribers: FakeSubscriberStore) -> None:
        self.orders: dict[tuple[str, str], StoredOrder] = {}
        self.counted_for_subscriber: set[tuple[str, str]] = set()
        self.campaigns, self.subscribers = campaigns, subscribers
        self.lock = subscribers.lock

    def get(self, shop_id: str, order_id: str) -> StoredOrder | None:
        return self.orders.get((shop_id, order_id))

    def record(self, order: Order, attribution: Attribution | None) -> OrderOutcome:
        with self.lock:
            key = (order.shop_id, order.order_id)
            if key in self.orders:
                return OrderOutcome.DUPLICATE
            if attribution is not None and (order.shop_id, attribution.campaign_id) not in self.campaigns.rows:
                attribution = None
            self.orders[key] = StoredOrder(order, attribution)
            if attribution is not None:
                self.campaigns.add(order.shop_id, attribution.campaign_id, currency=order.currency, orders=1, revenue=order.total)
            sub = self.subscribers.rows.get((order.shop_id, order.phone)) if order.phone else None
            if sub is not None and order.phone is not None:
                last = max(order.at, sub.last_order_at) if sub.last_order_at else order.at
                self.subscribers.rows[(order.shop_id, order.phone)] = replace(
                    sub, orders_count=sub.orders_count + 1, last_order_at=last, version=sub.version + 1
                )
                self.counted_for_subscriber.add(key)
            return OrderOutcome.COUNTED

    def cancel(self, shop_id: str, order_id: str, at: datetime) -> OrderOutcome:
        with self.lock:
            key = (shop_id, order_id)
            stored = self.orders.get(key)
            if stored is None:
                placeholder = Order(shop_id, order_id, at, 0, "", None, None, ())
                self.orders[key] = StoredOrder(placeholder, None, cancelled=True)
                return OrderOutcome.CANCELLED
            if stored.cancelled:
                return OrderOutcome.ALREADY_CANCELLED
            self.orders[key] = replace(stored, cancelled=True)
            order = stored.order
            if stored.attribution is not None and (shop_id, stored.attribution.campaign_id) in self.campaigns.rows:
                self.campaigns.add(shop_id, stored.attribution.campaign_id, orders=-1, revenue=-order.total)
            sub = self.subscribers.rows.get((shop_id, order.phone)) if order.phone else None
            if sub is not None and order.phone is not None and key in self.counted_for_subscriber and sub.orders_count > 0:
                self.subscribers.rows[(shop_id, order.phone)] = replace(
                    sub, orders_count=sub.orders_count - 1, version=sub.version + 1
                )
            return OrderOutcome.CANCELLED

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        mine = [s for (shop, _), s in self.orders.items() if shop == shop_id and s.order.phone == phone]
        return {"orders": [{"order_id": s.order.order_id, "total": s.order.total, "cancelled": s.cancelled} for s in mine]}

    def erase(self, shop_id: str, phone: str) -> int:
        with self.lock:
            mine = [key for key, s in self.orders.items() if key[0] == shop_id and s.order.phone == phone]
            for key in mine:
                stored = self.orders[key]
                self.orders[key] = replace(stored, order=replace(stored.order, phone=None, customer_id=None))
            return len(mine)


class FakeExportFiles:
    """``ExportFiles`` in memory: the files, and the largest chunk each write was given (what a stream holds)."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], bytes] = {}
        self.largest_chunk: dict[tuple[str, str], int] = {}

    def store(self, shop_id: str, name: str, chunks: Iterable[bytes], *, content_type: str) -> None:
        data, largest = bytearray(), 0
        for chunk in chunks:
            data += chunk
            largest = max(largest, len(chunk))
        self.files[(shop_id, name)] = bytes(data)
        self.largest_chunk[(shop_id, name)] = largest

    def link(self, shop_id: str, name: str, *, expires_in: int) -> str:
        return f"https://exports.example/{shop_id}/{name}?expires_in={expires_in}"


class FakeImportFiles:
    """``ImportFiles`` in memory: uploads and report parts by (shop, name), read back in small chunks from any
    byte, as S3's ranged GET streams them."""

    CHUNK = 64 * 1024

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], bytes] = {}
        self.reads = 0  # GETs (one per segment, one for the first pass, one per report part)

    def upload_form(self, shop_id: str, name: str, *, max_bytes: int, content_type: str, expires_in: int) -> UploadForm:
        return UploadForm(
            url=f"https://uploads.example/{shop_id}",
            fields={"key": f"{shop_id}/{name}", "Content-Type": content_type},
            max_bytes=max_bytes,
            content_type=content_type,
        )

    def upload(self, shop_id: str, name: str, data: bytes) -> None:
        """What the merchant's browser does with the form."""
        self.files[(shop_id, name)] = data

    def size(self, shop_id: str, name: str) -> int | None:
        data = self.files.get((shop_id, name))
        return None if data is None else len(data)

    def read(self, shop_id: str, name: str, *, start: int = 0) -> Generator[bytes, None, None]:
        self.reads += 1
        data = self.files[(shop_id, name)]
        for at in range(start, len(data), self.CHUNK):
            yield data[at : at + self.CHUNK]

    def put(self, shop_id: str, name: str, data: bytes, *, content_type: str) -> None:
        self.files[(shop_id, name)] = data

    def erase_shop(self, shop_id: str) -> int:
        names = [key for key in self.files if key[0] == shop_id]
        for key in names:
            del self.files[key]
        return len(names)


class FakeListJobs:
    """``ListJobStore`` in memory, version-checked like the DynamoDB one."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], ListJob] = {}
        self.lock = threading.Lock()

    def create(self, job: ListJob) -> ListJob:
        with self.lock:
            stored = dataclasses.replace(job, version=1)
            self.jobs[(job.shop_id, job.job_id)] = stored
            return stored

    def get(self, shop_id: str, job_id: str) -> ListJob | None:
        return self.jobs.get((shop_id, job_id))

    def save(self, job: ListJob) -> ListJob:
        with self.lock:
            current = self.jobs.get((job.shop_id, job.job_id))
            if current is None or current.version != job.version:
                raise ConcurrentUpdate(f"list job {job.job_id} was changed by someone else")
            stored = dataclasses.replace(job, version=job.version + 1)
            self.jobs[(job.shop_id, job.job_id)] = stored
            return stored

    def recent(self, shop_id: str, kind: JobKind, *, limit: int = 20) -> list[ListJob]:
        jobs = [job for (shop, _), job in self.jobs.items() if shop == shop_id and job.kind is kind]
        return sorted(jobs, key=lambda job: job.job_id, reverse=True)[:limit]

    def erase_shop(self, shop_id: str) -> int:
        keys = [key for key in self.jobs if key[0] == shop_id]
        for key in keys:
            del self.jobs[key]
        return len(keys)


class FakeListJobQueue:
    """The list-jobs queue as a list of messages."""

    def __init__(self) -> None:
        self.messages: list[RunListJob] = []

    def enqueue(self, shop_id: str, job_id: str, *, delay_seconds: int = 0) -> None:
        self.messages.append(RunListJob(shop_id, job_id))

    def take(self) -> list[RunListJob]:
        """Every message queued so far, removed from the queue."""
        taken, self.messages = self.messages, []
        return taken
