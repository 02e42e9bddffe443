"""One round's world: moto with every table created empty, the real DynamoDB adapters and sandbox provider
wrapped by the harness (tests/chaos/faults.py), SQS and Scheduler played in memory (tests/fakes.py), and two
small shops with subscribers across timezones, a segment, and campaigns (now, scheduled, a draft)."""

from __future__ import annotations

import base64
import copy
import functools
import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from moto import mock_aws
from moto.dynamodb import models as dynamo_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoResult

from bench.campaign_calls import REGION, fake_aws_environment
from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.shops import DynamoShopRepository
from chalicelib.adapters.dynamo.tables import bind_tables, create_tables
from chalicelib.adapters.sms.sandbox import SandboxMessage, SandboxProvider
from chalicelib.composition import Container
from chalicelib.domain import shops as shop_domain
from chalicelib.domain.inbox import QuietHoursChoice
from chalicelib.services import audience, campaigns, planning, subscribers
from chalicelib.services.ports import Ports
from chalicelib.settings import Settings
from tests.chaos.faults import Chaos, ChaosLedger, ChaosProvider, ChaosSubscribers, Timeline
from tests.commands import add_subscriber, new_campaign
from tests.fakes import FakeJobs, FakeSchedules, FrozenClock, VirtualTime
from tests.numbers import create_shop

PREFIX = "chaos"
# Small pages and batches: a few dozen recipients still make many planning jobs and send batches to reorder.
PLAN_PAGE_SIZE = 7
RECIPIENTS_PER_BATCH = 3

# Area codes in several US timezones and states with stricter hours (FL, TX, WA), Hawaii, Australia (a number
# with many possible zones: quiet if quiet in any), and fictional numbers that fall back to the store's zone.
AREAS = ("+1212555", "+1213555", "+1305555", "+1808555", "+1512555", "+1312555", "+1206555", "+1555019")
AUSTRALIA = "+614915701"
LINK_TARGET = "https://shop.example.com/sale"
Plant = Callable[[Ports], Ports]  # a deliberately broken port, to show the harness finds it


class WatchedCampaigns(DynamoCampaignRepository):
    """The real campaign repository, telling the harness the moment a campaign completes on its own, so the
    check that everyone planned is settled runs then, not only after the drain."""

    def __init__(self, chaos: Chaos) -> None:
        super().__init__()
        self.chaos = chaos
        self.on_complete: Callable[[str, str], None] | None = None

    def complete_if_done(self, shop_id: str, campaign_id: str, at: datetime) -> bool:
        completed = super().complete_if_done(shop_id, campaign_id, at)
        if completed and self.on_complete is not None:
            self.on_complete(shop_id, campaign_id)
        return completed


@dataclass(frozen=True)
class ShopSpec:
    shop_id: str
    timezone: str
    numbers: dict[str, int]  # sender number -> MPS
    frequency_cap: dict[str, int] | None


SHOPS = (
    ShopSpec("alpha.myshopify.com", "America/New_York", {"+15550100001": 50}, None),
    ShopSpec("beta.myshopify.com", "America/Chicago", {"+15550100002": 2, "+15550100003": 3}, {"messages": 1, "days": 1}),
)


@dataclass
class World:
    """What the round built and did, for the actions and the checks."""

    ports: Ports
    clock: FrozenClock
    chaos: Chaos
    sandbox: SandboxProvider
    campaign_store: WatchedCampaigns
    phones: dict[str, list[str]] = field(default_factory=dict)  # shop -> everyone who ever joined
    campaigns: dict[str, list[str]] = field(default_factory=dict)  # shop -> campaign ids
    inbound_ids: list[tuple[str, str, str]] = field(default_factory=list)  # (shop, phone, message id) sent in
    clicks: dict[tuple[str, str], int] = field(default_factory=dict)  # (shop, campaign) -> counted clicks
    orders: list[tuple[str, str]] = field(default_factory=list)  # (shop, order id)
    reply_choices: dict[str, QuietHoursChoice] = field(default_factory=dict)  # a reply's tag -> its quiet-hours choice
    outbox: list[SandboxMessage] | None = None  # the provider's record, read once by the checks after the drain

    @property
    def timeline(self) -> Timeline:
        return self.chaos.timeline


@contextmanager
def moto_tables() -> Iterator[None]:
    """Fresh moto for one round: fake credentials, every table created empty (a round's data stays small)."""
    with fake_aws_environment(), mock_aws():
        bind_tables(PREFIX, REGION)
        create_tables()
        yield


def _wire(value: object) -> object:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _dynamo_json(self: DynamoResult, context: Any) -> tuple[int, dict[str, str], str]:
    return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result, default=_wire)


class _CopyTablesOnce:
    """moto's ``copy`` inside one TransactWriteItems: a table is backed up once, not once per item (as
    devstack/moto_main.py does for devstack's moto; here only while a round runs)."""

    def __init__(self) -> None:
        self.made: dict[int, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, obj: Any, memo: dict[int, Any] | None = None) -> Any:
        if not isinstance(obj, Table):
            return copy.deepcopy(obj, memo)
        if id(obj) not in self.made:
            self.made[id(obj)] = copy.deepcopy(obj, memo)
        return self.made[id(obj)]


class _Clientele(Container):
    """The composition root, with the boto3 clients of earlier rounds: building one loads botocore's service
    models again (seconds per round); moto intercepts them all the same."""

    clients: ClassVar[dict[str, Any]] = {}

    def client(self, service: str, config: Any = None) -> Any:
        if service not in self.clients:
            self.clients[service] = super().client(service, config)
        return self.clients[service]


@contextmanager
def affordable_moto() -> Iterator[None]:
    """Speed-ups for this harness only, each undone after the round: moto's DynamoDB results are already in
    DynamoDB's JSON shape, yet moto 5.2 walks botocore's model for every attribute of every item to serialise
    them (half of a round's time), so they are dumped as they are; a transaction backs each table up once; and
    the settings check's list of IANA timezones (a walk of the tz database on every shop read) is read once."""
    original_result, original_transact = DynamoResult.execute_result, DynamoDBBackend.transact_write_items
    original_zones = shop_domain.available_timezones

    def transact(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        dynamo_models.copy = _CopyTablesOnce()  # type: ignore[assignment]
        try:
            original_transact(self, transact_items)
        finally:
            dynamo_models.copy = copy

    DynamoResult.execute_result = _dynamo_json  # type: ignore[method-assign,assignment]
    DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]
    shop_domain.available_timezones = functools.cache(original_zones)
    try:
        yield
    finally:
        DynamoResult.execute_result = original_result  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items = original_transact  # type: ignore[method-assign]
        shop_domain.available_timezones = original_zones


@contextmanager
def repeatable(rng: random.Random) -> Iterator[None]:
    """Take the product's own randomness that changes what happens out of the dice's way: campaign ids pick
    the pool number a batch goes out from, and the pacer jitters its slots with the global ``random``."""
    saved_state, saved_id = random.getstate(), campaigns.new_campaign_id
    random.seed(rng.random())
    counter = iter(range(1, 1_000_000))

    def campaign_id(now: datetime) -> str:
        return f"cmp_{int(now.timestamp() * 1000):012x}{next(counter):08x}"

    campaigns.new_campaign_id = campaign_id
    try:
        yield
    finally:
        random.setstate(saved_state)
        campaigns.new_campaign_id = saved_id


@contextmanager
def small_pages() -> Iterator[None]:
    saved = planning.PLAN_PAGE_SIZE, planning.RECIPIENTS_PER_BATCH
    planning.PLAN_PAGE_SIZE, planning.RECIPIENTS_PER_BATCH = PLAN_PAGE_SIZE, RECIPIENTS_PER_BATCH
    try:
        yield
    finally:
        planning.PLAN_PAGE_SIZE, planning.RECIPIENTS_PER_BATCH = saved


def compose(start: datetime, chaos: Chaos, plant: Plant | None) -> World:
    """The real adapters on moto, wrapped; SQS and Scheduler in memory; time virtual."""
    clock = FrozenClock(start)
    settings = Settings.from_env(
        {
            "AWS_REGION": REGION,
            "SMSCAST_RESOURCE_PREFIX": PREFIX,
            "SMSCAST_SMS_PROVIDER": "sandbox",
            "SMSCAST_ALLOW_FICTIONAL_NUMBERS": "true",
            "SMSCAST_LOG_LEVEL": "CRITICAL",  # thousands of worker runs; the checks say what matters
        }
    )
    sandbox = SandboxProvider(clock)  # no delivery receipts: they are not what this harness checks
    provider = ChaosProvider(sandbox, DynamoShopRepository(clock), clock, chaos)
    real = _Clientele(settings, clock=clock, sms=provider).ports
    store = WatchedCampaigns(chaos)
    ports = replace(
        real,
        campaigns=store,
        subscribers=ChaosSubscribers(real.subscribers, chaos),
        ledger=ChaosLedger(real.ledger, chaos),
        jobs=FakeJobs(),
        schedules=FakeSchedules(),
        sleep=VirtualTime(clock),
        concurrent_sends=1,
    )
    if plant is not None:
        ports = plant(ports)
    world = World(ports, clock, chaos, sandbox, store)
    return world


def start_time(rng: random.Random) -> datetime:
    """Some day of a week in November (a Sunday included: Texas's Sunday hours), at any minute: some
    recipients are in quiet hours at the start, others get there during the round."""
    day = datetime(2026, 11, 15, tzinfo=timezone.utc) + timedelta(days=rng.randrange(7))
    return day + timedelta(minutes=rng.randrange(24 * 60))


def phone_pool(rng: random.Random, n: int) -> list[str]:
    pool = [f"{rng.choice(AREAS)}{rng.randrange(1000, 10000):04d}" for _ in range(n)]
    pool += [f"{AUSTRALIA}{rng.randrange(10, 100)}" for _ in range(max(1, n // 10))]
    return sorted(set(pool))


def local_wall(at: datetime, zone: str, minutes: int) -> str:
    return (at.astimezone(ZoneInfo(zone)) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def campaign_body(rng: random.Random, name: str, **extra: object) -> dict[str, object]:
    return {"name": name, "message": f"Hi {{first_name|there}}! {name}: {LINK_TARGET}", **extra}


def build(world: World, rng: random.Random, *, subscribers_per_shop: tuple[int, int]) -> None:
    """Two shops (one with a frequency cap and a pool of slow numbers), subscribers, a segment, campaigns."""
    ports = world.ports
    shared = phone_pool(rng, 12)  # people subscribed to both shops
    for spec in SHOPS:
        quiet = {"enabled": rng.random() < 0.8, "start": rng.choice(["20:00", "21:00", "22:00"]), "end": "09:00"}
        settings: dict[str, object] = {
            "shop_name": spec.shop_id.split(".")[0].title(),
            "timezone": spec.timezone,
            "quiet_hours": quiet,
            "frequency_cap": spec.frequency_cap,
        }
        primary = next(iter(spec.numbers))
        create_shop(ports, shop_id=spec.shop_id, settings={**settings, "sender_number": primary}, numbers=spec.numbers)
        phones = sorted(set(phone_pool(rng, rng.randint(*subscribers_per_shop)) + rng.sample(shared, 4)))
        for i, phone in enumerate(phones):
            source = "import" if i % 5 == 0 else "checkout"
            body = {"phone": phone, "source": source, "name": rng.choice(["Ana", "Bo", "Chen", "Dee", None])}
            subscribers.add_subscriber(ports, spec.shop_id, add_subscriber(body))
        world.phones[spec.shop_id] = phones
        segment = audience.create_segment(
            ports,
            spec.shop_id,
            audience.NewSegment("Checkout joiners", {"all": [{"field": "source", "op": "eq", "value": "checkout"}]}),
        )
        now = world.clock.now()
        bodies = [
            campaign_body(rng, "Flash sale", segment_id="all", send_at="now"),
            campaign_body(
                rng,
                "Weekend",
                segment_id=segment.segment_id,
                send_at=local_wall(now, spec.timezone, rng.randint(2, 40)),
                discount_code=f"SAVE{rng.randrange(10, 99)}",
            ),
            campaign_body(rng, "Later", segment_id="all", send_at="now", draft=True),
        ]
        world.campaigns[spec.shop_id] = [
            campaigns.create_campaign(ports, spec.shop_id, new_campaign(b)).campaign_id for b in bodies
        ]
