"""In-memory fakes of every port, behaving like the DynamoDB adapters (atomic changes, versions, dedupe)."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from chalicelib.domain.errors import (
    ConcurrentUpdate,
    Conflict,
    ConsentRequired,
    InvalidInput,
    NotFound,
    ProviderRejected,
    ProviderThrottled,
)
from chalicelib.domain.messages import ConversationMessage, OutboundSms, SendReceipt
from chalicelib.domain.shops import Shop, ShopSettings
from chalicelib.domain.subscribers import ConsentEvent, Source, Subscriber, SubscriberStatus
from chalicelib.services.ports import AlreadyDone, Page, Ports, SubscriberChange


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
        number = shop.settings.sender_number
        if number and f"sender#{number}" in self.keys:
            raise Conflict("sender number taken", code="sender_number_taken")
        stored = replace(shop, version=1)
        self.shops[shop.shop_id] = stored
        if number:
            self.keys[f"sender#{number}"] = shop.shop_id
        if api_key_hash:
            self.keys[f"apikey#{api_key_hash}"] = shop.shop_id
        return stored

    def save_settings(self, shop: Shop, settings: ShopSettings) -> Shop:
        current = self.get(shop.shop_id)
        if current.version != shop.version:
            raise ConcurrentUpdate("shop changed")
        old, new = current.settings.sender_number, settings.sender_number
        if new and new != old and self.keys.get(f"sender#{new}", shop.shop_id) != shop.shop_id:
            raise Conflict("sender number taken", code="sender_number_taken")
        if old and old != new:
            self.keys.pop(f"sender#{old}", None)
        if new:
            self.keys[f"sender#{new}"] = shop.shop_id
        stored = replace(current, settings=settings, version=current.version + 1)
        self.shops[shop.shop_id] = stored
        return stored

    def shop_for_sender(self, number: str) -> Shop | None:
        shop_id = self.keys.get(f"sender#{number}")
        return self.shops.get(shop_id) if shop_id else None

    def shop_for_api_key(self, api_key_hash: str) -> str | None:
        return self.keys.get(f"apikey#{api_key_hash}")

    def add_api_key(self, shop_id: str, api_key_hash: str) -> None:
        self.keys[f"apikey#{api_key_hash}"] = shop_id


class FakeSubscriberStore:
    def __init__(self, conversations: FakeConversations) -> None:
        self.rows: dict[tuple[str, str], Subscriber] = {}
        self.events: list[ConsentEvent] = []
        self.receipts: dict[str, dict[str, str]] = {}
        self.conversations = conversations
        self.lock = threading.Lock()
        self.fail_next_apply: Exception | None = None

    def get(self, shop_id: str, phone: str) -> Subscriber | None:
        return self.rows.get((shop_id, phone))

    def page(
        self,
        shop_id: str,
        *,
        status: SubscriberStatus | None = None,
        source: Source | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Subscriber]:
        after = _after(cursor)
        rows = sorted((s for (shop, _), s in self.rows.items() if shop == shop_id), key=lambda s: s.phone)
        rows = [s for s in rows if (status is None or s.status is status) and (source is None or s.source is source)]
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
            if change.event is not None:
                self.events.append(change.event)
            if change.message is not None:
                self.conversations.append(change.message)
            if change.dedupe_key is not None:
                self.receipts[change.dedupe_key] = dict(change.receipt or {})
            return stored

    def receipt(self, dedupe_key: str) -> dict[str, str] | None:
        return self.receipts.get(dedupe_key)


class FakeConversations:
    def __init__(self) -> None:
        self.lines: dict[tuple[str, str], ConversationMessage] = {}

    def append(self, message: ConversationMessage) -> None:
        self.lines.setdefault((f"{message.shop_id}#{message.phone}", message.message_id), message)

    def thread(self, shop_id: str, phone: str, *, limit: int = 100, cursor: str | None = None) -> Page[ConversationMessage]:
        items = sorted((m for (k, _), m in self.lines.items() if k == f"{shop_id}#{phone}"), key=lambda m: (m.at, m.message_id))
        return Page(items[:limit], None)


class FakeClaims:
    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.lock = threading.Lock()

    def claim(self, key: str, at: datetime) -> bool:
        with self.lock:
            if key in self.taken:
                return False
            self.taken.add(key)
            return True

    def release(self, key: str) -> None:
        self.taken.discard(key)


@dataclass
class Sent:
    sms: OutboundSms
    receipt: SendReceipt


class FakeSms:
    """Records sends; mimics the provider's opt-out list (refuses every kind, as AWS does) and throttling."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.opted_out: set[tuple[str, str]] = set()
        self.throttle_next = 0
        self.refuse_removal = False  # AWS lets a number off the opt-out list once per 30 days
        self.calls: list[str] = []

    def send(self, sms: OutboundSms) -> SendReceipt:
        self.calls.append(f"send:{sms.to_number}")
        if self.throttle_next:
            self.throttle_next -= 1
            raise ProviderThrottled("slow down")
        if (sms.from_number, sms.to_number) in self.opted_out:  # like AWS: no kind is exempt
            raise ConsentRequired("opted out at the provider")
        receipt = SendReceipt(provider_message_id=f"fake-{len(self.sent) + 1}")
        self.sent.append(Sent(sms, receipt))
        return receipt

    def add_opt_out(self, sender_number: str, phone: str) -> None:
        self.calls.append(f"add_opt_out:{phone}")
        self.opted_out.add((sender_number, phone))

    def remove_opt_out(self, sender_number: str, phone: str) -> None:
        self.calls.append(f"remove_opt_out:{phone}")
        if self.refuse_removal:
            raise ProviderRejected("opted-out number was removed within the last 30 days")
        self.opted_out.discard((sender_number, phone))

    def bodies_to(self, phone: str) -> list[str]:
        return [s.sms.body for s in self.sent if s.sms.to_number == phone]


def fake_ports(clock: FrozenClock | None = None) -> Ports:
    """A full set of fakes, fictional numbers allowed (tests use +1 555)."""
    conversations = FakeConversations()
    return Ports(
        clock=clock or FrozenClock(),
        shops=FakeShops(),
        subscribers=FakeSubscriberStore(conversations),
        conversations=conversations,
        claims=FakeClaims(),
        sms=FakeSms(),
        allow_fictional_numbers=True,
    )
