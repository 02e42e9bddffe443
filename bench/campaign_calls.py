"""AWS API calls per recipient of one Send Now campaign, made by the real campaign engine in-process on moto.

The engine runs unmodified: ``create_campaign``, then the campaign-jobs and campaign-sends workers'
``handle_sqs_event`` fed with SQS-shaped events, exactly as Lambda's event source mappings would (this script
plays that part: receive, invoke, delete what succeeded). Only the clock and the pacing sleep are virtual, so
the figures do not depend on the machine: time moves when the engine waits for room under the shop's MPS, and
when a quiet-hours wave is due (this script fires the due schedule, as EventBridge Scheduler would).

Every call through botocore is counted by service and operation, split into the engine's own calls and the
sandbox SMS provider's DynamoDB calls (End User Messaging would make one SendTextMessage per recipient instead).
Seeding and this script's own calls (receive, delete, firing schedules, reading the results) are not counted.

    .venv/bin/python -m bench.campaign_calls [--subscribers 300] [--mps 20] [--quiet-hours] [--duplicates]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.client import BaseClient
from moto import mock_aws

from bench.wcu import ShardFamily, Writes, scan_stored
from chalicelib.adapters.dynamo.keys import GATE_SHARDS, LEDGER_SHARDS, TOTALS_SHARDS, WAVE_SHARDS
from chalicelib.adapters.dynamo.tables import ALL_TABLES, create_tables
from chalicelib.adapters.resources import (
    CAMPAIGN_JOBS,
    CAMPAIGN_SENDS,
    DELIVERY_RECEIPTS,
    QueueSpec,
    create_messaging_resources,
    schedule_group_name,
)
from chalicelib.adapters.sms.sandbox import SandboxProvider
from chalicelib.composition import Container, use_container
from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.shops import MAX_MPS
from chalicelib.domain.subscribers import Source
from chalicelib.services import numbers
from chalicelib.services.campaigns import NewCampaign, create_campaign
from chalicelib.services.ports import Ports
from chalicelib.services.shops import create_shop
from chalicelib.services.subscribers import add_command, add_subscriber
from chalicelib.settings import Settings
from chalicelib.workers import campaign_jobs, campaign_sends
from devstack.pumps import LocalLambdaContext, due_time, failed_ids, sqs_event
from infra.template import SQS_FUNCTIONS
from tests.fakes import FrozenClock
from tests.virtual_threads import VirtualThreads

# The engine's partition keys that carry a shard (chalicelib/adapters/dynamo/keys.py), by table: the on-paper load
# of such a key is its family's over the shard count (bench.wcu.ShardFamily).
SHARD_FAMILIES = (
    ShardFamily("send-ledger", r"(?P<family>[^#]+#[^#]+)#\d{3}", LEDGER_SHARDS, f"#<000..{LEDGER_SHARDS - 1:03d}>"),
    ShardFamily("release-waves", r"(?P<family>[^#]+#[^#]+#[^#]+)#\d{2}", WAVE_SHARDS, f"#<00..{WAVE_SHARDS - 1:02d}>"),
    ShardFamily("campaign-gates", r"(?P<family>[^#]+#[^#]+)#g\d{2}", GATE_SHARDS, f"#g<00..{GATE_SHARDS - 1:02d}>"),
    ShardFamily("campaign-totals", r"(?P<family>[^#]+)#t\d{2}", TOTALS_SHARDS, f"#t<00..{TOTALS_SHARDS - 1:02d}>"),
)
REGION = "us-east-1"
PREFIX = "bench"
RECEIPTS_QUEUE = DELIVERY_RECEIPTS.name(PREFIX)
SHOP = "bench-outfitters.myshopify.com"
SENDER = "+15551230000"  # fictional (NANP 555): the sandbox provider sends nothing anyway
MESSAGE = "{shop_name}: hi {first_name|there}, 20% off everything today with code SPRING."
LINK = " https://shop.example/collections/spring-sale"  # --link: each recipient gets a tracked short link
NAMES = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov")
# Area codes with a single timezone and no state rule stricter than 8:00-21:00, so the quiet-hours run has
# exactly two release groups: New York (Eastern) and California (Pacific). Lines 555-0100..0199 are the
# NANP's fictional range in every area code.
EASTERN = (212, 315, 332, 347, 516, 518, 585, 607, 631, 646, 680, 716, 718, 838, 845, 914, 917, 929, 934)
PACIFIC = (209, 213, 279, 310, 323, 341, 408, 415, 424, 442, 510, 530, 559, 562, 619, 626, 650, 657, 661, 669)
MAX_SUBSCRIBERS = 2 * 100 * min(len(EASTERN), len(PACIFIC))
# A Wednesday, 13:00 in New York and 10:00 in Los Angeles: everyone is inside the default window (9:00-21:00).
SEND_AT = datetime(2025, 3, 5, 18, 0, tzinfo=timezone.utc)
# The same Wednesday at 21:30 in New York (quiet until 9:00) and 18:30 in Los Angeles (open): half deferred.
QUIET_SEND_AT = datetime(2025, 3, 6, 2, 30, tzinfo=timezone.utc)
DEFAULT_SUBSCRIBERS = 300
DEFAULT_MPS = 20
# Issue 10's targets: AWS calls per recipient including the send, and with half the audience deferred by quiet hours.
TARGET_CALLS_PER_RECIPIENT = 1.25
TARGET_CALLS_PER_RECIPIENT_QUIET = 1.5
TIME_LIMIT_SECONDS = 600  # a stuck run fails loudly instead of spinning
CHALICE_CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"

ENGINE = "engine"
SANDBOX = "sandbox provider"
HARNESS = "harness"  # this script's own calls: seeding, Lambda's event source mapping, Scheduler, reading results
SEEDING = "seeding"
SEND_NOW = "send now"  # the merchant creates the campaign and presses Send Now: once per campaign
STATUS_CHANGE = "campaign-gates+campaigns"  # the tables of a campaign's status change (adapters/dynamo/campaigns.py)


class BenchClock(FrozenClock):
    """Virtual time: moves only when the engine sleeps (pacing, on ``VirtualThreads``) or the bench jumps to a due
    schedule."""

    def sleep(self, seconds: float) -> None:
        """A virtual sleep for single-threaded callers (``bench.inbound``): moves the clock, costs no wall time."""
        self.at += timedelta(seconds=max(0.0, seconds))

    def jump_to(self, at: datetime) -> None:
        """Move forward to ``at`` (never backwards)."""
        self.at = max(self.at, at)


@dataclass
class VirtualLambdaContext(LocalLambdaContext):
    """Lambda's context, its remaining time on the bench's virtual clock: the send worker's deadline reads it,
    so how much of a batch one invocation sends at a low MPS does not depend on this machine's speed."""

    clock: BenchClock | None = None
    invoked_at: datetime | None = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the deployed function would time out, in virtual time."""
        assert self.clock is not None and self.invoked_at is not None
        elapsed = (self.clock.now() - self.invoked_at).total_seconds()
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def deployed_timeout(function_name: str, config_path: Path = CHALICE_CONFIG) -> int:
    """The function's Lambda timeout in seconds, as .chalice/config.json deploys it (Chalice's default: 60)."""
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        return 60
    own = config.get("lambda_functions", {}).get(function_name, {})
    return int(own.get("lambda_timeout", config.get("lambda_timeout", 60)))


def base_name(table: str) -> str:
    """A table by its name without the bench's prefix ("subscribers"), so figures read the same under any prefix."""
    return table.removeprefix(f"{PREFIX}-")


def tables_of(params: Mapping[str, Any]) -> set[str]:
    """The DynamoDB tables one request touches (single-item, batch and transaction requests)."""
    names: set[str] = set()
    if isinstance(params.get("TableName"), str):
        names.add(params["TableName"])
    names.update(params.get("RequestItems") or {})
    for item in params.get("TransactItems") or []:
        names.update(str(op["TableName"]) for op in item.values() if isinstance(op, Mapping) and "TableName" in op)
    return names


@dataclass
class CallMeter:
    """Counts API calls by (who, service, operation, tables) and by the phase (worker, delivery) that made them."""

    sandbox_tables: frozenset[str]
    calls: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)  # (who, service, operation, tables)
    by_phase: Counter[str] = field(default_factory=Counter)
    harness: Counter[tuple[str, str]] = field(default_factory=Counter)
    writes: Writes = field(default_factory=Writes)  # every counted item write, priced in WCU once the run ends
    current: str = SEEDING

    def record(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        """Count one call under the current phase."""
        if self.current == SEEDING:
            return
        if self.current == HARNESS:
            self.harness[(service, operation)] += 1
            return
        tables = tables_of(params) if service == "dynamodb" else set()
        # The sandbox's delivery receipts stand in for End User Messaging's configuration set, not for an engine call.
        receipt = service == "sqs" and str(params.get("QueueUrl") or params.get("QueueName") or "").endswith(RECEIPTS_QUEUE)
        who = SANDBOX if (tables and tables <= self.sandbox_tables) or receipt else ENGINE
        # Tables by their base name ("subscribers", "send-ledger+campaigns"), so the figures read the same under any prefix.
        target = "+".join(sorted({base_name(name) for name in tables}))
        self.calls[(who, service, operation, target)] += 1
        self.by_phase[self.current] += 1
        if service == "dynamodb":
            # Once whatever the audience (see Writes.once): creating and starting the campaign, and any status change
            # (the campaign row and all its gates in one transaction, as completion writes them).
            once = self.current == SEND_NOW or (operation == "TransactWriteItems" and target == STATUS_CHANGE)
            self.writes.record(who, operation, params, base_name, once=once)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Attribute the calls made inside the block to ``name``."""
        previous, self.current = self.current, name
        try:
            yield
        finally:
            self.current = previous


@contextmanager
def metered(meter: CallMeter) -> Iterator[None]:
    """Route every botocore API call of this process (boto3 and PynamoDB clients alike) through ``meter``.

    Wraps ``BaseClient._make_api_call``, the one method every client call goes through, above botocore's
    retries: a retried request counts once, as it is one call in the code.
    """
    original: Callable[..., Any] = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped in the stubs

    def counted(client: BaseClient, operation_name: str, api_params: Mapping[str, Any]) -> Any:
        meter.record(client.meta.service_model.service_name, operation_name, api_params)
        return original(client, operation_name, api_params)

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010
    try:
        yield
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010


@contextmanager
def fake_aws_environment() -> Iterator[None]:
    """Fake credentials and region; no profile or endpoint (devstack's) may send a call anywhere but moto."""
    wanted = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    cleared = [name for name in os.environ if name == "AWS_PROFILE" or name.startswith("AWS_ENDPOINT_URL")]
    saved = {name: os.environ.get(name) for name in [*wanted, *cleared]}
    for name in cleared:
        del os.environ[name]
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def quiet_worker_logs() -> Iterator[None]:
    """The workers log one JSON line per batch at INFO: keep the bench's output to its figures."""
    loggers = (campaign_jobs.logger, campaign_sends.logger)
    levels = [logger.log_level for logger in loggers]
    for logger in loggers:
        logger.setLevel("WARNING")
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def audience(n: int) -> list[str]:
    """``n`` distinct fictional numbers, alternating New York and California."""
    if not 1 <= n <= MAX_SUBSCRIBERS:
        raise ValueError(f"--subscribers must be 1..{MAX_SUBSCRIBERS}")
    phones: list[str] = []
    for i in range(n):
        areas = EASTERN if i % 2 == 0 else PACIFIC
        k = i // 2
        phones.append(f"+1{areas[k // 100]}5550{100 + k % 100}")
    return phones


@dataclass(frozen=True)
class Options:
    """What to run."""

    subscribers: int = DEFAULT_SUBSCRIBERS
    mps: int = DEFAULT_MPS
    quiet_hours: bool = False
    link: bool = False
    duplicates: bool = False


@dataclass
class Result:
    """What one run measured."""

    options: Options
    status: str
    recipients: int  # planned by the campaign (its audience, fixed at start)
    sent: int  # the campaign's Sent stat
    outbox: int  # messages of the campaign in the sandbox outbox: what phones received
    skipped: int
    failed: int
    deferred: int
    calls: Counter[tuple[str, str, str, str]]  # (who, service, operation, tables) -> calls
    by_phase: Counter[str]  # send now / worker / 2nd delivery -> calls
    deliveries: Counter[str]  # phase -> SQS messages handed to the worker
    harness: Counter[tuple[str, str]]
    waves_fired: int
    failed_records: int  # records a worker reported as failed (they were delivered again)
    wall_seconds: float
    writes: Writes = field(default_factory=Writes)  # item writes priced in WCU (see bench.wcu)

    def count(self, who: str | None = None) -> int:
        """Calls made by ``who`` (None: engine and sandbox provider together)."""
        return sum(n for (w, *_), n in self.calls.items() if who is None or w == who)

    def operations(self, who: str) -> Counter[tuple[str, str]]:
        """Calls made by ``who`` per (service, operation), whatever the table."""
        totals: Counter[tuple[str, str]] = Counter()
        for (w, service, operation, _), n in self.calls.items():
            if w == who:
                totals[(service, operation)] += n
        return totals

    @property
    def total_calls(self) -> int:
        """Every counted call, the sandbox provider's included."""
        return self.count()

    def per_recipient(self, calls: float) -> float:
        """``calls`` divided by the audience."""
        return calls / self.recipients if self.recipients else 0.0

    @property
    def with_send_per_recipient(self) -> float:
        """Calls per recipient in AWS: the engine's, plus one SendTextMessage per message sent (the sandbox
        provider's own DynamoDB calls stand in for that send, so they are left out)."""
        return self.per_recipient(self.count(ENGINE) + self.sent)


@dataclass(frozen=True)
class Worker:
    """One SQS-fed function and its queue."""

    name: str
    handler: Callable[[dict[str, Any], Any], Any]
    url: str
    arn: str
    batch_size: int
    timeout_seconds: int


def _batch_size(queue: QueueSpec) -> int:
    # The deployed event source mapping's batch size, so invocations are shaped as in AWS.
    return next(spec.batch_size for spec in SQS_FUNCTIONS if spec.queue == queue)


class Harness:
    """Plays Lambda's event source mappings and EventBridge Scheduler around the engine."""

    def __init__(self, ports: Ports, clock: BenchClock, meter: CallMeter, *, duplicates: bool) -> None:
        session = boto3.session.Session(region_name=REGION)
        self.sqs: Any = session.client("sqs")
        self.scheduler: Any = session.client("scheduler")
        self.ports = ports
        self.clock = clock
        self.meter = meter
        self.duplicates = duplicates
        self.group = schedule_group_name(PREFIX)
        self.deliveries: Counter[str] = Counter()
        self.waves_fired = 0
        self.failed_records = 0
        self.workers = [
            self._worker("campaign_jobs", campaign_jobs.handle_sqs_event, CAMPAIGN_JOBS),
            self._worker("campaign_sends", campaign_sends.handle_sqs_event, CAMPAIGN_SENDS),
        ]

    def _worker(self, name: str, handler: Callable[[dict[str, Any], Any], Any], queue: QueueSpec) -> Worker:
        url = self.sqs.get_queue_url(QueueName=queue.name(PREFIX))["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Worker(name, handler, url, arn, _batch_size(queue), deployed_timeout(name))

    def drain(self, campaign_id: str, deadline: float) -> None:
        """Deliver queued messages (and due schedules) until the campaign is completed and nothing is left."""
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"campaign {campaign_id} not completed within {TIME_LIMIT_SECONDS}s")
            delivered = False
            for worker in self.workers:
                with self.meter.phase(HARNESS):
                    messages = self._receive(worker)
                if messages:
                    self._deliver(worker, messages)
                    delivered = True
            if delivered:
                continue
            with self.meter.phase(HARNESS):
                if any(self._waiting(worker) for worker in self.workers):
                    time.sleep(0.2)  # a delayed message (pacing hand-back) or one in flight: SQS delays are real time
                    continue
                status = self.ports.campaigns.get(SHOP, campaign_id).status
                if status is CampaignStatus.COMPLETED:
                    return
                if not self._fire_next_schedule():
                    raise RuntimeError(f"campaign {campaign_id} is {status.value} with nothing queued or scheduled")

    def _receive(self, worker: Worker) -> list[Mapping[str, Any]]:
        """Up to the mapping's batch size, ten per ReceiveMessage (the API's most), as Lambda's poller gathers one."""
        messages: list[Mapping[str, Any]] = []
        while len(messages) < worker.batch_size:
            got = self.sqs.receive_message(
                QueueUrl=worker.url,
                MaxNumberOfMessages=min(10, worker.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages += got
            if len(got) < 10:
                break
        return messages

    def _deliver(self, worker: Worker, messages: list[Mapping[str, Any]]) -> None:
        event = sqs_event(messages, worker.arn, REGION)
        ids = {m["MessageId"] for m in messages}
        failed: set[str] = set()
        for delivery in range(2 if self.duplicates else 1):
            phase = worker.name if delivery == 0 else f"{worker.name} (2nd delivery)"
            with self.meter.phase(phase):
                try:
                    context = VirtualLambdaContext(
                        function_name=worker.name,
                        region=REGION,
                        timeout_seconds=worker.timeout_seconds,
                        clock=self.clock,
                        invoked_at=self.clock.now(),
                    )
                    response = worker.handler(event, context)
                except Exception as exc:  # Powertools raises when every record failed: Lambda retries the batch
                    print(f"warning: {worker.name} failed a whole batch: {exc!r}", file=sys.stderr)
                    response = {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}
            self.deliveries[phase] += len(messages)
            failed |= failed_ids(response, ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        with self.meter.phase(HARNESS):
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=worker.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            for m in messages:
                if m["MessageId"] in failed:
                    # Redeliver now rather than after the 6-minute visibility timeout; the redrive policy still counts it.
                    self.sqs.change_message_visibility(QueueUrl=worker.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        self.failed_records += len(failed)

    def _waiting(self, worker: Worker) -> bool:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=worker.url, AttributeNames=names)["Attributes"]
        return any(int(attributes.get(name, 0)) for name in names)

    def _fire_next_schedule(self) -> bool:
        """Fire the earliest schedule as EventBridge Scheduler would: at its time (the clock jumps there), its
        input onto its target queue, then delete it (ActionAfterCompletion DELETE). False if none is left."""
        due: list[tuple[datetime, str, str, str]] = []
        for summary in self.scheduler.list_schedules(GroupName=self.group).get("Schedules", []):
            schedule = self.scheduler.get_schedule(Name=summary["Name"], GroupName=self.group)
            at = due_time(schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone"))
            if at is not None:
                target = schedule["Target"]
                due.append((at, schedule["Name"], target["Arn"], target["Input"]))
        if not due:
            return False
        at, name, arn, body = min(due)
        queue = next(worker for worker in self.workers if worker.arn == arn)
        self.clock.jump_to(at)
        self.sqs.send_message(QueueUrl=queue.url, MessageBody=body)
        self.scheduler.delete_schedule(Name=name, GroupName=self.group)
        self.waves_fired += 1
        return True


def seed(ports: Ports, options: Options) -> None:
    """The shop (fictional sender, the chosen MPS, default quiet hours 21:00-9:00) and its subscribers."""
    settings = {"shop_name": "Bench Outfitters", "timezone": "America/New_York"}
    create_shop(ports, shop_id=SHOP, settings=settings)
    numbers.assign(ports, SENDER, SHOP, mps=options.mps)  # the operator's step: the number and its rate
    for i, phone in enumerate(audience(options.subscribers)):
        command = add_command(phone=phone, source=Source.CHECKOUT, name=NAMES[i % len(NAMES)], allow_fictional=True)
        add_subscriber(ports, SHOP, command)


def bench_settings() -> Settings:
    """The deployment the benches run: the bench prefix, the sandbox provider, fictional numbers allowed."""
    return Settings.from_env(
        {
            "AWS_REGION": REGION,
            "SMSCAST_STAGE": PREFIX,
            "SMSCAST_RESOURCE_PREFIX": PREFIX,
            "SMSCAST_SMS_PROVIDER": "sandbox",
            "SMSCAST_ALLOW_FICTIONAL_NUMBERS": "true",
        }
    )


def sandbox_tables() -> frozenset[str]:
    """The sandbox provider's own tables under the bench prefix (its calls are counted on its side)."""
    return frozenset(f"{PREFIX}-{model.base_name}" for model in ALL_TABLES if model.sandbox_only)


def run(options: Options) -> Result:
    """Seed, create a Send Now campaign, drain the queues until it is completed; count the engine's calls."""
    started = time.monotonic()
    send_at = QUIET_SEND_AT if options.quiet_hours else SEND_AT
    clock = BenchClock(send_at - timedelta(days=1))  # subscribers joined the day before
    settings, meter = bench_settings(), CallMeter(sandbox_tables())
    with fake_aws_environment(), mock_aws(), quiet_worker_logs(), metered(meter):
        container = Container(settings, clock=clock)  # binds every table to the bench prefix
        # Pacing waits and the send pool run on virtual threads (tests/virtual_threads.py): one thread at a time, the
        # clock moving to the earliest wake-up when all wait. Sends overlap as they would in a worker, and the counts
        # do not depend on how this machine schedules threads (with a shared clock each thread moved by its own
        # sleeps, overlapping waits added up and made messages late at random).
        threads = VirtualThreads(clock)
        container.ports = replace(container.ports, sleep=threads.sleep, send_pool=threads.pool)
        use_container(container)
        try:
            session = boto3.session.Session(region_name=REGION)
            create_tables()
            create_messaging_resources(session.client("sqs"), session.client("sns"), session.client("scheduler"), PREFIX)
            ports = container.ports
            seed(ports, options)
            harness = Harness(ports, clock, meter, duplicates=options.duplicates)
            clock.jump_to(send_at)
            with meter.phase(SEND_NOW):
                message = MESSAGE + LINK if options.link else MESSAGE
                command = NewCampaign(name="Spring sale", message=message, segment_id="all", send_at="now")
                campaign = create_campaign(ports, SHOP, command)
            harness.drain(campaign.campaign_id, started + TIME_LIMIT_SECONDS)
            with meter.phase(HARNESS):
                final = ports.campaigns.get(SHOP, campaign.campaign_id)
                outbox = SandboxProvider(clock).count_sent(campaign_id=campaign.campaign_id)
                written = {write.table for write in meter.writes.writes}
                schemas, sizes = scan_stored(session.client("dynamodb"), {name: f"{PREFIX}-{name}" for name in written})
                meter.writes.settle(schemas, sizes)
        finally:
            use_container(None)
    stats = final.stats
    return Result(
        options=options,
        status=final.status.value,
        recipients=stats.planned,
        sent=stats.sent,
        outbox=outbox,
        skipped=stats.skipped,
        failed=stats.failed,
        deferred=stats.deferred,
        calls=meter.calls,
        by_phase=meter.by_phase,
        deliveries=harness.deliveries,
        harness=meter.harness,
        waves_fired=harness.waves_fired,
        failed_records=harness.failed_records,
        wall_seconds=time.monotonic() - started,
        writes=meter.writes,
    )


def calls_with_send_per_recipient(subscribers: int, mps: int, *, quiet_hours: bool = False) -> tuple[float, Result]:
    """Calls per recipient including the send (engine calls + one SendTextMessage per message sent), and the run:
    the figure the call-count guard test and ``make bench`` hold against the target."""
    result = run(Options(subscribers=subscribers, mps=mps, quiet_hours=quiet_hours))
    return result.with_send_per_recipient, result


def render(result: Result) -> str:
    """The figures as a plain-text report."""
    o = result.options
    per = result.per_recipient
    engine, sandbox = result.count(ENGINE), result.count(SANDBOX)
    lines = [
        f"campaign_calls: {o.subscribers} subscribers, mps {o.mps}, "
        f"quiet hours {'on (start at 21:30 New York time)' if o.quiet_hours else 'off'}, "
        f"every SQS message delivered {'twice' if o.duplicates else 'once'}",
        f"campaign {result.status}: recipients {result.recipients}, sent {result.sent}, sandbox outbox {result.outbox}, "
        f"skipped {result.skipped}, failed {result.failed}, deferred {result.deferred}, release waves fired {result.waves_fired}",
        "",
        "                                   calls   per recipient",
        f"total (engine + sandbox provider) {result.total_calls:6d}   {per(result.total_calls):6.2f}",
        f"  engine                          {engine:6d}   {per(engine):6.2f}",
        f"  sandbox provider                {sandbox:6d}   {per(sandbox):6.2f}",
        f"engine + End User Messaging (1 SendTextMessage per message sent)   {per(engine + result.sent):6.2f}",
        f"write units (WCU, bench.wcu's model): engine {per(result.writes.total(ENGINE)):.2f} per recipient, "
        f"sandbox provider {per(result.writes.total(SANDBOX)):.2f}",
    ]
    for who in (ENGINE, SANDBOX):
        lines += ["", f"{who}: per recipient, calls, operation [tables]"]
        for (service, operation), total in sorted(result.operations(who).items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {per(total):6.2f} {total:6d}  {service} {operation}")
            targets = sorted(
                ((t, n) for (w, svc, op, t), n in result.calls.items() if (w, svc, op) == (who, service, operation) and t),
                key=lambda tn: (-tn[1], tn[0]),
            )
            if len(targets) > 1 or (targets and service == "dynamodb"):
                lines += [f"  {per(n):6.2f} {n:6d}      [{t}]" for t, n in targets]
    lines += ["", "by phase: calls, per recipient (SQS messages delivered)"]
    for phase, n in sorted(result.by_phase.items()):
        delivered = result.deliveries.get(phase)
        lines.append(f"  {n:6d}  {per(n):6.2f}  {phase}" + (f" ({delivered} delivered)" if delivered else ""))
    harness = ", ".join(f"{n} {op}" for (_, op), n in sorted(result.harness.items(), key=lambda kv: (-kv[1], kv[0])))
    lines += [
        "",
        f"not counted (event source mapping, Scheduler, reading results): {harness}",
        f"records a worker reported failed (redelivered): {result.failed_records}",
        f"wall time {result.wall_seconds:.1f}s (informational only: moto in-process, virtual clock)",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> tuple[Options, bool]:
    """Command-line options, and whether to print the counts as JSON too."""
    parser = argparse.ArgumentParser(prog="python -m bench.campaign_calls", description="AWS calls per recipient of a campaign.")
    parser.add_argument("--subscribers", type=int, default=DEFAULT_SUBSCRIBERS, help=f"audience size (1..{MAX_SUBSCRIBERS})")
    parser.add_argument("--mps", type=int, default=DEFAULT_MPS, help=f"the bench number's operator-assigned MPS (1..{MAX_MPS})")
    parser.add_argument("--quiet-hours", action="store_true", help="start at 21:30 New York time: New York waits for 9:00")
    parser.add_argument("--duplicates", action="store_true", help="deliver every SQS message twice")
    parser.add_argument("--link", action="store_true", help="the message carries a link (a tracked short link each)")
    parser.add_argument("--json", action="store_true", help="also print the counts as one JSON object")
    args = parser.parse_args(argv)
    if not 1 <= args.subscribers <= MAX_SUBSCRIBERS:
        parser.error(f"--subscribers must be 1..{MAX_SUBSCRIBERS}")
    if not 1 <= args.mps <= MAX_MPS:
        parser.error(f"--mps must be 1..{MAX_MPS}")
    options = Options(
        subscribers=args.subscribers, mps=args.mps, quiet_hours=args.quiet_hours, duplicates=args.duplicates, link=args.link
    )
    return options, bool(args.json)


def as_json(result: Result) -> str:
    """The counts, machine-readable."""
    return json.dumps(
        {
            "recipients": result.recipients,
            "sent": result.sent,
            "outbox": result.outbox,
            "deferred": result.deferred,
            "total_calls": result.total_calls,
            "calls": {f"{who}:{svc}:{op}:{tables}": n for (who, svc, op, tables), n in sorted(result.calls.items())},
            "by_phase": dict(sorted(result.by_phase.items())),
            "wcu": result.writes.as_dict(families=SHARD_FAMILIES),
        },
        sort_keys=True,
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> Result:
    """Run the bench and print its figures; returns them (the smoke test reads them)."""
    out = out or sys.stdout
    options, with_json = parse_args(argv)
    result = run(options)
    print(render(result), file=out)
    if with_json:
        print(as_json(result), file=out)
    return result


if __name__ == "__main__":
    main()
