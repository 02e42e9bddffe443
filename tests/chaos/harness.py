"""One chaos round: build a world from a seed, interleave deliveries, crashes, faults and merchant and
subscriber actions at random (but repeatably), drain to quiescence, then check every invariant.

Everything runs on one thread; the only randomness is the round's ``random.Random``, so a seed replays.
"Concurrency" is interleaving: messages are delivered out of order and more than once, a worker dies at any
step and its message comes back after the visibility timeout, and an action can be raced into the gap
between a group's claim and its sends (``Chaos.race``).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain.errors import SmscastError
from chalicelib.domain.inbox import QuietHoursChoice
from chalicelib.domain.jobs import Job
from chalicelib.domain.links import Visit
from chalicelib.domain.messages import InboundSms, MessageKind
from chalicelib.domain.sending import SendBatch
from chalicelib.domain.shopify import Topic, Webhook
from chalicelib.services import campaigns, inbound, inbox, jobs, links, sending, shops, subscribers, webhooks
from chalicelib.services.inbox import ReplyRequest
from chalicelib.services.ports import Ports
from chalicelib.services.subscribers import ConsentSource
from tests.chaos import invariants
from tests.chaos.faults import Chaos, Timeline
from tests.chaos.world import (
    SHOPS,
    Plant,
    World,
    affordable_moto,
    build,
    compose,
    local_wall,
    moto_tables,
    repeatable,
    small_pages,
    start_time,
)
from tests.commands import campaign_edit
from tests.engine import VISIBILITY_TIMEOUT
from tests.fakes import FakeJobs, FakeSchedules, WorkerCrash

MAX_RECEIVES = 12  # failures (not crashes) before a message goes to the dead-letter queue
STOP_WORDS = ("STOP", "stop", " Unsubscribe ", "CANCEL", "end", "QUIT", "opt-out", "ARRET", "Stop!")
OTHER_WORDS = ("START", "UNSTOP", "HELP", "hi, is the sale still on?", "thanks", "what time do you close", "JOIN")
CODE = r"/r/([0-9A-Za-z]{9})"

Body = Job | SendBatch | InboundSms | Webhook


@dataclass
class Message:
    body: Body
    available_at: datetime
    seq: int
    failures: int = 0


@dataclass
class Config:
    """How hard one round pushes."""

    steps: int = 70  # random actions before the drain
    crash_rate: float = 0.06  # per crash point reached
    race_rate: float = 0.25  # per group claim
    duplicate_rate: float = 0.15  # per message: delivered twice (and a third of that: again after success)
    double_fire_rate: float = 0.3  # per schedule firing
    subscribers_per_shop: tuple[int, int] = (20, 30)
    storm: int = 150  # drain steps that still crash workers and race claims
    max_drain_steps: int = 4000


@dataclass
class RoundResult:
    seed: int
    index: int
    violations: list[str]
    seconds: float
    counts: Counter[str] = field(default_factory=Counter)


def round_seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


def _deliver_send(ports: Ports, batch: SendBatch) -> None:
    """The send worker's entry (one place, so pipelining several batches per invocation is a one-line change)."""
    sending.send_batch(ports, batch, deadline=ports.clock.now() + timedelta(seconds=60))


class Round:
    """The broker (SQS + Scheduler, in memory), the actions, and the drain."""

    def __init__(self, world: World, rng: random.Random, config: Config) -> None:
        self.world, self.rng, self.config = world, rng, config
        self.ports, self.clock = world.ports, world.clock
        self.queue: list[Message] = []
        self.dead: list[Message] = []
        self.seq = 0
        self.counts: Counter[str] = Counter()
        self.violations: list[str] = []
        self.next_id = 0

    # --- the broker ------------------------------------------------------------------------------------

    def put(self, body: Body, delay: float = 0) -> None:
        copies = 2 if self.rng.random() < self.config.duplicate_rate else 1
        for _ in range(copies):
            self.seq += 1
            jitter = timedelta(seconds=self.rng.uniform(0, 3)) if copies > 1 else timedelta(0)
            self.queue.append(Message(body, self.clock.now() + timedelta(seconds=delay) + jitter, self.seq))

    def collect(self) -> None:
        fake_jobs, fake_schedules = self.ports.jobs, self.ports.schedules
        assert isinstance(fake_jobs, FakeJobs) and isinstance(fake_schedules, FakeSchedules)
        pending: list[tuple[Body, int]] = [*fake_jobs.jobs, *fake_jobs.sends]
        fake_jobs.jobs.clear()
        fake_jobs.sends.clear()
        for _name, job in fake_schedules.due(self.clock.now()):
            pending.append((job, 0))
            if self.rng.random() < self.config.double_fire_rate:
                pending.append((job, 0))  # EventBridge Scheduler fires at least once
                self.counts["schedule fired twice"] += 1
        for body, delay in pending:
            self.put(body, delay)

    def available(self) -> list[Message]:
        self.collect()
        now = self.clock.now()
        return sorted((m for m in self.queue if m.available_at <= now), key=lambda m: m.seq)

    def deliver(self, message: Message) -> None:
        """One worker invocation for one message: acknowledged on success, back after the visibility timeout
        when the worker dies or fails, sometimes delivered again even after success."""
        ports = self.ports
        kind = type(message.body).__name__
        self.counts[f"delivered {kind}"] += 1
        try:
            if isinstance(message.body, SendBatch):
                _deliver_send(ports, message.body)
            elif isinstance(message.body, InboundSms):
                inbound.receive_sms(ports, message.body)
            elif isinstance(message.body, Webhook):
                webhooks.handle(ports, message.body)
            else:
                jobs.run_job(ports, message.body)
        except WorkerCrash:
            self.counts["worker crashes"] += 1
            message.available_at = self.clock.now() + VISIBILITY_TIMEOUT
            return
        except Exception as exc:  # a failed invocation: SQS delivers it again, then dead-letters it
            self.counts[f"worker error {type(exc).__name__}"] += 1
            message.failures += 1
            if message.failures >= MAX_RECEIVES:
                self.queue.remove(message)
                self.dead.append(message)
            else:
                message.available_at = self.clock.now() + VISIBILITY_TIMEOUT
            return
        self.queue.remove(message)
        if self.rng.random() < self.config.duplicate_rate / 3:
            self.counts["redelivered after success"] += 1
            self.put(message.body, self.rng.uniform(0, 400))

    def deliver_some(self) -> bool:
        ready = self.available()
        if not ready:
            return False
        self.deliver(self.rng.choice(ready))  # any order, not the order they were sent in
        return True

    # --- watching ------------------------------------------------------------------------------------

    def completed(self, shop_id: str, cid: str) -> None:
        """A campaign just completed on its own: every planned recipient must be settled at this moment."""
        self.counts["campaigns completed"] += 1
        self.violations.extend(f"at completion: {v}" for v in invariants.unsettled_at_completion(self.world, shop_id, cid))

    # --- actions -------------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        self.next_id += 1
        return f"{prefix}-{self.next_id:05d}"

    def any_shop(self) -> str:
        return self.rng.choice(SHOPS).shop_id

    def any_phone(self, shop_id: str) -> str:
        return self.rng.choice(self.world.phones[shop_id])

    def any_campaign(self, shop_id: str) -> str:
        return self.rng.choice(self.world.campaigns[shop_id])

    def sender(self, shop_id: str) -> str:
        shop = self.ports.shops.get(shop_id)
        return self.rng.choice([n.number for n in shop.numbers])

    def text_in(self, shop_id: str, phone: str, body: str, *, now: bool = False) -> None:
        """An SMS from a subscriber: queued for the inbound worker, or (``now``) handled at once."""
        sms = InboundSms(self.new_id("in"), phone, self.sender(shop_id), body, self.clock.now())
        self.world.inbound_ids.append((shop_id, phone, sms.message_id))
        if now:
            try:
                inbound.receive_sms(self.ports, sms)
                return
            except Exception as exc:  # its own invocation failed (a throttled answer): SNS/SQS delivers it again
                self.counts[f"inbound error {type(exc).__name__}"] += 1
        self.put(sms)

    def api(self, name: str, action: Callable[[], object]) -> None:
        """A merchant's request: refusals (4xx) are part of the game."""
        self.counts[f"api {name}"] += 1
        chaos, was = self.world.chaos, self.world.chaos.enabled
        chaos.enabled = False  # requests are not the workers under test
        try:
            action()
        except SmscastError as exc:
            self.counts[f"api {name} refused {exc.code}"] += 1
        finally:
            chaos.enabled = was

    def end(self, shop_id: str, cid: str) -> None:
        campaigns.end_campaign(self.ports, shop_id, cid)
        self.world.timeline.ended.setdefault((shop_id, cid), self.world.timeline.next())

    def change_settings(self, shop_id: str) -> None:
        choice = self.rng.random()
        if choice < 0.5:
            start = self.rng.choice(["19:00", "20:00", "21:00", "22:00", "23:30"])
            patch: dict[str, object] = {"quiet_hours": {"enabled": self.rng.random() < 0.8, "start": start, "end": "09:00"}}
        elif choice < 0.8:
            cap = self.rng.choice([None, {"messages": 1, "days": 1}, {"messages": 2, "days": 7}])
            patch = {"frequency_cap": cap}
        else:
            patch = {"timezone": self.rng.choice(["America/New_York", "America/Los_Angeles", "Europe/London"])}
        shops.update_settings(self.ports, shop_id, patch)
        self.world.timeline.settings_changed.setdefault(shop_id, []).append(self.world.timeline.next())

    def jump_clock(self) -> None:
        r = self.rng.random()
        if r < 0.5:
            delta = timedelta(seconds=self.rng.uniform(5, 300))
        elif r < 0.8:
            delta = timedelta(hours=self.rng.uniform(0.5, 9))
        else:
            delta = -timedelta(seconds=self.rng.uniform(5, 1800))  # a clock that moves back
            self.counts["clock moved back"] += 1
        self.clock.at = self.clock.now() + delta

    def sent_campaign_messages(self, shop_id: str) -> list[tuple[str, str, str]]:
        """(phone, campaign, body) of campaign messages the provider took for the shop."""
        return [
            (s.phone, s.campaign_id, s.body)
            for s in self.world.timeline.sends
            if s.shop_id == shop_id and s.kind is MessageKind.CAMPAIGN and s.campaign_id
        ]

    def click(self, shop_id: str) -> None:
        sent = self.sent_campaign_messages(shop_id)
        if not sent:
            return
        _phone, cid, body = self.rng.choice(sent)
        found = re.search(CODE, body)
        if found is None:
            return
        redirect = links.follow(self.ports, found.group(1), Visit.CLICK if self.rng.random() < 0.9 else Visit.PREVIEW)
        if redirect is not None and redirect.counted:
            self.world.clicks[shop_id, cid] = self.world.clicks.get((shop_id, cid), 0) + 1

    def order(self, shop_id: str) -> None:
        """An orders/create webhook (sometimes a cancellation after it), queued for the webhook worker: Shopify
        retries with the same webhook id and may send the same order again under a new one."""
        sent = self.sent_campaign_messages(shop_id)
        phone = self.rng.choice(sent)[0] if sent and self.rng.random() < 0.8 else self.any_phone(shop_id)
        codes: list[dict[str, str]] = []
        if self.rng.random() < 0.3:
            campaign = self.world.campaign_store.get(shop_id, self.any_campaign(shop_id))
            codes = [{"code": campaign.discount_code.lower()}] if campaign.discount_code else []
        same = [o for o in self.world.orders if o[0] == shop_id]
        if same and self.rng.random() < 0.2:
            order_id = self.rng.choice(same)[1]  # the same order, a new webhook
        else:
            order_id = str(4_000_000 + self.next_id)
            self.next_id += 1
            self.world.orders.append((shop_id, order_id))
        cents = self.rng.randrange(500, 20_000)
        payload = {
            "id": int(order_id),
            "created_at": self.clock.now().isoformat(),
            "total_price_set": {"shop_money": {"amount": f"{cents // 100}.{cents % 100:02d}", "currency_code": "USD"}},
            "phone": phone,
            "discount_codes": codes,
        }
        self.webhook(shop_id, Topic.ORDERS_CREATE, payload)
        if self.rng.random() < 0.1:
            self.webhook(shop_id, Topic.ORDERS_CANCELLED, {**payload, "cancelled_at": self.clock.now().isoformat()})

    def webhook(self, shop_id: str, topic: Topic, payload: dict[str, object]) -> None:
        self.put(Webhook(shop_id, topic, self.new_id("wh"), json.dumps(payload), self.clock.now()))
        self.counts[f"webhook {topic.value}"] += 1

    def reply(self, shop_id: str) -> None:
        phone = self.any_phone(shop_id)
        choice = self.rng.choice(list(QuietHoursChoice))
        tag = self.new_id("r")
        self.world.reply_choices[tag] = choice
        request = ReplyRequest(f"Thanks for your message! {tag}", quiet_hours=choice)
        inbox.reply(self.ports, shop_id, phone, request, request_key=self.new_id("key"))

    def edit(self, shop_id: str, cid: str) -> None:
        r = self.rng.random()
        if r < 0.4:
            zone = self.ports.shops.get(shop_id).settings.timezone
            when = local_wall(self.clock.now(), zone, self.rng.randint(1, 90))
            campaigns.edit_campaign(self.ports, shop_id, cid, campaign_edit({"send_at": when}))
        elif r < 0.6:
            campaigns.edit_campaign(
                self.ports, shop_id, cid, campaign_edit({"message": "Edited! {first_name|friend}: https://shop.example.com/x"})
            )
        elif r < 0.8:
            campaigns.set_active(self.ports, shop_id, cid, self.rng.random() < 0.6)
        else:
            campaigns.send_now(self.ports, shop_id, cid)

    def race(self, shop_id: str, cid: str, phones: Sequence[str]) -> str | None:
        """Something that lands between a group's claim and its sends."""
        r = self.rng.random()
        if r < 0.4:
            self.text_in(shop_id, self.rng.choice(list(phones)), self.rng.choice(STOP_WORDS), now=True)
            return "STOP between claim and send"
        if r < 0.55:
            try:
                self.end(shop_id, cid)
            except SmscastError:
                return None
            return "End Campaign between claim and send"
        if r < 0.7:
            try:
                self.change_settings(shop_id)
            except SmscastError:
                return None
            return "settings changed between claim and send"
        if r < 0.85:
            self.clock.at = self.clock.now() + timedelta(seconds=self.rng.uniform(1, 10))
            return "clock forward between claim and send"
        self.clock.at = self.clock.now() - timedelta(seconds=self.rng.uniform(1, 60))
        return "clock back between claim and send"

    def act(self) -> None:
        """One random step of the round."""
        rng = self.rng
        r = rng.random()
        shop_id = self.any_shop()
        if r < 0.5:
            if not self.deliver_some():
                self.clock.at = self.clock.now() + timedelta(seconds=rng.uniform(1, 60))
        elif r < 0.58:
            self.jump_clock()
        elif r < 0.68:
            word = rng.choice(STOP_WORDS) if rng.random() < 0.5 else rng.choice(OTHER_WORDS)
            phone = self.any_phone(shop_id) if rng.random() < 0.9 else self.new_phone(shop_id)
            self.text_in(shop_id, phone, word)
            self.counts["inbound texts"] += 1
        elif r < 0.72:
            self.api("reply", lambda: self.reply(shop_id))
        elif r < 0.74:
            self.api("resolve", lambda: inbox.resolve(self.ports, shop_id, self.any_phone(shop_id)))
        elif r < 0.76:
            self.api("inbox opt-out", lambda: inbox.opt_out(self.ports, shop_id, self.any_phone(shop_id)))
        elif r < 0.78:
            phone = self.any_phone(shop_id)
            self.api(
                "merchant opt-out",
                lambda: subscribers.opt_out(self.ports, shop_id, phone, source=ConsentSource.MERCHANT, text="Opted out"),
            )
        elif r < 0.81:
            self.api("end campaign", lambda: self.end(shop_id, self.any_campaign(shop_id)))
        elif r < 0.85:
            self.api("edit campaign", lambda: self.edit(shop_id, self.any_campaign(shop_id)))
        elif r < 0.89:
            self.api("settings", lambda: self.change_settings(shop_id))
        elif r < 0.92:
            sandbox = self.world.sandbox
            if rng.random() < 0.6:
                sandbox.throttle_next(rng.randint(1, 4))
                self.counts["provider throttles"] += 1
            else:
                sandbox.fail_next(rng.randint(1, 2))
                self.counts["provider failures"] += 1
        elif r < 0.96:
            self.api("click", lambda: self.click(shop_id))
        else:
            self.order(shop_id)

    def new_phone(self, shop_id: str) -> str:
        phone = f"+1312555{self.rng.randrange(1000, 10000):04d}"
        if phone not in self.world.phones[shop_id]:
            self.world.phones[shop_id].append(phone)
        return phone

    # --- the drain -----------------------------------------------------------------------------------

    def drain(self) -> None:
        """Deliver everything (still out of order, still twice), moving the clock to whatever is due next
        (quiet-hours waves, retries, redeliveries), until nothing is queued or scheduled. Workers keep dying and
        actions keep racing claims for the first ``storm`` deliveries (most of a round's work happens here);
        then faults are off, so the round must come to rest."""
        fake_schedules = self.ports.schedules
        assert isinstance(fake_schedules, FakeSchedules)
        storm = self.config.storm
        for _ in range(self.config.max_drain_steps):
            if storm == 0:
                self.world.chaos.enabled = False
                self.world.sandbox.clear_faults()
            storm -= 1
            if self.deliver_some():
                continue
            upcoming = [m.available_at for m in self.queue]
            upcoming += [s.when.replace(tzinfo=ZoneInfo(s.timezone)) for s in fake_schedules.schedules.values()]
            if not upcoming:
                return
            self.clock.at = max(self.clock.now() + timedelta(seconds=1), min(upcoming))
        self.violations.append(
            f"no quiescence: {len(self.queue)} messages still queued and {len(fake_schedules.schedules)} schedules "
            f"after {self.config.max_drain_steps} drain steps (livelock?)"
        )


def replay_command(seed: int, index: int, config: Config, plant: str | None = None) -> str:
    """The one line that runs this round again, with whatever differs from the CLI's defaults."""
    default = Config()
    flags = [f"--seed {seed} --round {index} --rounds 1"]
    if config.steps != default.steps:
        flags.append(f"--steps {config.steps}")
    if config.subscribers_per_shop != default.subscribers_per_shop:
        flags.append("--subscribers {}-{}".format(*config.subscribers_per_shop))
    if config.storm != default.storm:
        flags.append(f"--storm {config.storm}")
    if config.crash_rate != default.crash_rate:
        flags.append(f"--crash-rate {config.crash_rate}")
    if config.race_rate != default.race_rate:
        flags.append(f"--race-rate {config.race_rate}")
    if plant:
        flags.append(f"--plant {plant}")
    return ".venv/bin/python -m tests.chaos " + " ".join(flags)


def run_round(
    seed: int, index: int, *, config: Config | None = None, plant: Plant | None = None, plant_name: str | None = None
) -> RoundResult:
    """Build, shake, drain and check one round; the violations carry the seed and the replay command."""
    config = config or Config()
    rng = random.Random(round_seed(seed, index))
    started = time.perf_counter()
    with moto_tables(), affordable_moto(), small_pages(), repeatable(rng):
        chaos = Chaos(random.Random(rng.random()), Timeline(), crash_rate=config.crash_rate, race_rate=config.race_rate)
        world = compose(start_time(rng), chaos, plant)
        build(world, rng, subscribers_per_shop=config.subscribers_per_shop)
        game = Round(world, rng, config)
        chaos.race = game.race
        world.campaign_store.on_complete = game.completed
        chaos.enabled = True
        for _ in range(config.steps):
            game.act()
        game.drain()
        found = game.violations + invariants.check_all(world, dead=[m.body for m in game.dead])
        game.counts.update(invariants.observations(world))
    counts = game.counts
    counts["sends"] = len(world.timeline.sends)
    counts.update({f"crash {k}": v for k, v in world.timeline.crashes.items()})
    counts.update({f"race {k}": v for k, v in world.timeline.races.items()})
    where = f"seed {seed} round {index}: replay with `{replay_command(seed, index, config, plant_name)}`"
    violations = [f"{v} [{where}]" for v in found]
    return RoundResult(seed, index, violations, time.perf_counter() - started, counts)
