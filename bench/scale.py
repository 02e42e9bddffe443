"""The campaign engine at scale on a virtual clock: 1,000,000 recipients, CPU and memory, first send, fairness.

The real services run unmodified (``campaigns.create_campaign`` for Send Now, ``jobs.run_job`` for the
campaign-jobs queue, ``sending.send_batch`` for the campaign-sends queue, exactly what the workers call) over
``tests.fakes.fake_ports()``, with four things of this script's own:

- a virtual clock: the fakes' ``FrozenClock``; the pacing sleep only moves it (``VirtualTime``), so every figure
  except CPU and memory is the same on every machine;
- ``SimQueue``, an in-memory JobQueue (two queues, as the deployment has, messages kept as JSON text) that
  honours ``delay_seconds`` on the virtual clock, plus the loop that plays Lambda's part: every visible job runs
  (a job takes no virtual time: the jobs consumer never waits for sending), then one send batch with a 55 s
  budget (the send worker's 60 s timeout less its 5 s margin); when nothing is visible the clock jumps to the
  next delay, schedule or wave;
- ``RecordingProvider``, an SmsProvider that keeps only the instant and parts of each send;
- two speed-ups of the fakes that keep their semantics: the subscriber store pages over a sorted index of
  phones instead of sorting every subscriber per page, and the send ledger and conversation thread keep
  copies of what they are given (see "memory" below).

Service calls take no virtual time (one send worker, zero latency), so the duration measures planning and
pacing, not AWS; pacing under many workers and real latencies is the pacing benchmark's job. Seeding writes
subscribers straight into the fake store (about 2 s per million; through the service it would be minutes).

Memory. The in-memory database necessarily grows with the audience (a ledger row, a thread line and a contact
record per recipient), so the engine's own memory is measured with tracemalloc, counting only blocks whose
allocating frame is in ``chalicelib/``. For that to leave the database out, the fake ledger and thread store
copies made here of the rows the engine hands them (the only chalicelib-made objects the fakes keep) and the
queues keep JSON text. Tracing is on only in three windows of send batches (see ``MemoryWindows``). The
process's peak RSS is reported too, database included. Each size runs in a fresh process so these are its own;
the sizes run side by side, and the million takes about 7.5 minutes of CPU with today's send path.

    .venv/bin/python -m bench.scale [--markdown] [--sizes 10000,100000,1000000] [--mps 100]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import heapq
import json
import logging
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.encoding import measure
from chalicelib.domain.jobs import Job, job_from_json, job_to_json
from chalicelib.domain.messages import OutboundSms, SendReceipt
from chalicelib.domain.sending import SendBatch
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberSearch, SubscriberStatus
from chalicelib.services import campaigns, jobs, numbers, sending
from chalicelib.services.campaigns import NewCampaign
from chalicelib.services.planning import PLAN_PAGE_SIZE
from chalicelib.services.ports import Page, Ports
from chalicelib.services.shops import create_shop
from tests.fakes import FakeSchedules, FrozenClock, fake_ports

# Friday 2026-11-20 15:00 UTC: 10:00 in New York, so a 1M campaign at 100 MPS (2.8 h) ends before quiet hours.
START = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
BIG_SHOP, BIG_SENDER = "big-outfitters.myshopify.com", "+15551230000"
SMALL_SHOP, SMALL_SENDER = "small-bakery.myshopify.com", "+15551230001"
MESSAGE = "{shop_name}: 20% off everything this weekend. Show this text in store."
SEND_BUDGET = timedelta(seconds=55)  # campaign_sends' 60 s Lambda timeout less the worker's 5 s margin
CHALICELIB = str(Path(__file__).resolve().parent.parent / "chalicelib")
RERUN = ".venv/bin/python -m bench.scale --markdown"


# --- the simulated deployment ---------------------------------------------------------------------------------


class SimQueue:
    """JobQueue: the campaign-jobs and campaign-sends queues as heaps ordered by when a message becomes visible.
    Messages are kept in their wire form (JSON text), as SQS keeps them."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.jobs: list[tuple[datetime, int, str]] = []
        self.sends: list[tuple[datetime, int, str, int]] = []
        self.seq = 0
        self.recipients_waiting = 0  # phones in send batches on the sends queue
        self.most_recipients_waiting = 0

    def enqueue(self, job: Job, *, delay_seconds: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.jobs, (self.clock.now() + timedelta(seconds=delay_seconds), self.seq, json.dumps(job_to_json(job))))

    def enqueue_sends(self, batches: Sequence[SendBatch], *, delay_seconds: int = 0) -> None:
        at = self.clock.now() + timedelta(seconds=delay_seconds)
        for batch in batches:
            self.seq += 1
            heapq.heappush(self.sends, (at, self.seq, json.dumps(batch.to_json()), len(batch.phones)))
            self.recipients_waiting += len(batch.phones)
        self.most_recipients_waiting = max(self.most_recipients_waiting, self.recipients_waiting)

    def due(self, *, jobs_first: bool) -> Job | SendBatch | None:
        """The next message to run among those visible now: any job first (``jobs_first``), or else the one
        that became visible first."""
        now = self.clock.now()
        job = self.jobs[0][:2] if self.jobs and self.jobs[0][0] <= now else None
        send = self.sends[0][:2] if self.sends and self.sends[0][0] <= now else None
        if job is not None and (send is None or jobs_first or job < send):
            return job_from_json(json.loads(heapq.heappop(self.jobs)[2]))
        if send is not None:
            _, _, body, recipients = heapq.heappop(self.sends)
            self.recipients_waiting -= recipients
            return SendBatch.from_json(json.loads(body))
        return None

    def next_visible(self) -> datetime | None:
        heads = [q[0][0] for q in (self.jobs, self.sends) if q]
        return min(heads) if heads else None


class RecordingProvider:
    """SmsProvider that sends nothing and keeps, per send, only the millisecond and the parts."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.at_ms = array("q")
        self.parts = array("b")
        self.by_campaign: dict[str, list[int]] = {}  # campaign -> [first ms, last ms, sends]
        self.first_send: Callable[[], None] | None = None

    def send(self, sms: OutboundSms) -> SendReceipt:
        now_ms = int(self.clock.now().timestamp() * 1000)
        parts = 1 if sms.media_urls else measure(sms.body).parts
        self.at_ms.append(now_ms)
        self.parts.append(parts)
        seen = self.by_campaign.setdefault(sms.campaign_id or "-", [now_ms, now_ms, 0])
        seen[1], seen[2] = now_ms, seen[2] + 1
        if self.first_send is not None:
            self.first_send()
        return SendReceipt(provider_message_id=f"sim-{len(self.at_ms)}", parts=parts)

    def add_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        """Nothing to keep."""

    def remove_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        """Nothing to keep."""

    def number_kind(self, number: str) -> str | None:
        """Every number is the simulation's own."""
        return "SIMULATOR"

    def fullest_second(self) -> int:
        """The most parts in any sliding one-second window (sends are recorded in time order)."""
        peak = total = start = 0
        for i, at in enumerate(self.at_ms):
            total += self.parts[i]
            while self.at_ms[start] <= at - 1000:
                total -= self.parts[start]
                start += 1
            peak = max(peak, total)
        return peak


@dataclass
class Run:
    """What one simulated run processed."""

    jobs: int = 0
    batches: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


class Simulation:
    """The fakes plus the queue, provider and loop above: Send Now, then Lambda's part on the virtual clock."""

    def __init__(self, mps: int = 100, *, jobs_first: bool = True) -> None:
        self.clock = FrozenClock(START)
        # The deployment runs jobs and send batches on separate consumers, so planning never waits for sending.
        # A job takes no virtual time, so running every visible job before the next batch is that; the other
        # order (strictly first visible, first run) follows one causal chain, for counting what a first send takes.
        self.jobs_first = jobs_first
        self.ports = fake_ports(self.clock)
        self.queue = SimQueue(self.clock)
        self.provider = RecordingProvider(self.clock)
        self.ports.jobs = self.queue
        self.ports.sms = self.provider
        _index_subscriber_pages(self.ports)
        _copy_what_is_kept(self.ports)
        assert isinstance(self.ports.schedules, FakeSchedules)
        self.schedules = self.ports.schedules
        self.mps = mps
        self.run = Run()
        self.on_batch: Callable[[], None] | None = None

    def shop(self, shop_id: str, sender: str) -> None:
        create_shop(self.ports, shop_id=shop_id, settings={"shop_name": "Demo"})
        numbers.assign(self.ports, sender, shop_id, mps=self.mps)  # the operator's step: the number and its rate

    def seed(self, shop_id: str, count: int, *, source: Source = Source.CHECKOUT, keyword_every: int = 0) -> None:
        """``count`` active subscribers straight into the fake store (New York numbers); every
        ``keyword_every``-th joined by keyword instead (a small segment spread through a big audience)."""
        rows = self.ports.subscribers.rows  # type: ignore[attr-defined]
        joined = START - timedelta(days=30)
        for n in range(count):
            phone = f"+1212{2000000 + n:07d}"
            kind = Source.KEYWORD if keyword_every and n % keyword_every == keyword_every // 2 else source
            rows[(shop_id, phone)] = Subscriber(shop_id, phone, SubscriberStatus.ACTIVE, kind, joined, joined, version=1)

    def send_now(self, shop_id: str, segment: str = "all") -> str:
        """What POST /campaigns with send_at "now" does."""
        command = NewCampaign(name="Weekend sale", message=MESSAGE, segment_id=segment, send_at="now")
        campaign = campaigns.create_campaign(self.ports, shop_id, command)
        assert campaign.status is CampaignStatus.IN_PROGRESS, campaign.status
        return campaign.campaign_id

    def completed(self, shop_id: str, campaign_id: str) -> bool:
        return self.ports.campaigns.get(shop_id, campaign_id).status is CampaignStatus.COMPLETED

    def run_until(self, done: Callable[[], bool], *, at_most: datetime) -> None:
        """Play Lambda and Scheduler until ``done()`` or the virtual clock reaches ``at_most``."""
        while not done() and self.clock.now() < at_most:
            for _name, fired in self.schedules.due(self.clock.now()):
                self.queue.enqueue(fired)
            message = self.queue.due(jobs_first=self.jobs_first)
            if isinstance(message, SendBatch):
                sending.send_batch(self.ports, message, deadline=self.clock.now() + SEND_BUDGET)
                self.run.batches += 1
                if self.on_batch is not None:
                    self.on_batch()
                continue
            if message is not None:
                jobs.run_job(self.ports, message)
                self.run.jobs += 1
                self.run.kinds[message.kind] += 1
                continue
            upcoming = [t for t in (self.queue.next_visible(), self._next_schedule()) if t is not None]
            if not upcoming or min(upcoming) > at_most:
                return
            self.clock.at = max(min(upcoming), self.clock.now())

    def _next_schedule(self) -> datetime | None:
        times = [s.when.replace(tzinfo=ZoneInfo(s.timezone)) for s in self.schedules.schedules.values()]
        return min(times) if times else None


def _index_subscriber_pages(ports: Ports) -> None:
    """The fake store sorts every subscriber for each page; this pages over a sorted index of phones instead
    (rebuilt only when a subscriber comes or goes), same filters, same order, same cursors' meaning."""
    store: Any = ports.subscribers
    index: dict[str, list[str]] = {}
    known = {"keys": -1}

    def phones(shop_id: str) -> list[str]:
        if known["keys"] != len(store.rows):
            index.clear()
            known["keys"] = len(store.rows)
        if shop_id not in index:
            index[shop_id] = sorted(phone for (shop, phone) in store.rows if shop == shop_id)
        return index[shop_id]

    def page(
        shop_id: str,
        *,
        status: SubscriberStatus | None = None,
        source: Source | None = None,
        search: SubscriberSearch | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Subscriber]:
        ordered = phones(shop_id)
        i = bisect_right(ordered, _after(cursor)) if cursor else 0
        items: list[Subscriber] = []
        while i < len(ordered) and len(items) <= limit:
            s = store.rows.get((shop_id, ordered[i]))
            i += 1
            if s is None or (status is not None and s.status is not status) or (source is not None and s.source is not source):
                continue
            if search is None or search.matches(s):
                items.append(s)
        more = len(items) > limit
        return Page(items[:limit], _cursor(items[limit - 1].phone) if more else None)

    store.page = page


def _cursor(phone: str) -> str:
    return json.dumps({"after": phone})


def _after(cursor: str) -> str:
    return str(json.loads(cursor)["after"])


class _Copies(dict[Any, Any]):
    """A fake's table that stores a shallow copy, made here, of each row the engine hands it: the same facts,
    but the memory they take is the database's (allocated outside chalicelib), not the engine's."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(_key(key), _copy(value))

    def setdefault(self, key: Any, value: Any = None) -> Any:
        if key not in self:
            super().__setitem__(_key(key), _copy(value))
        return self[key]


def _copy(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _fresh(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return type(value)(**changes)
    return copy.copy(value)


def _key(key: Any) -> Any:
    return tuple(_fresh(part) for part in key) if isinstance(key, tuple) else _fresh(key)


def _fresh(value: Any) -> Any:
    # Text the engine made (a message body, an id) is re-made here; dates and numbers come from the clock or are small.
    return value.encode().decode() if type(value) is str else value  # not str enums: they are shared constants


def _copy_what_is_kept(ports: Ports) -> None:
    for store, table in ((ports.ledger, "rows"), (ports.conversations, "lines")):
        rows = getattr(store, table, None)
        if isinstance(rows, dict):
            setattr(store, table, _Copies(rows))


# --- measurements ---------------------------------------------------------------------------------------------


def engine_bytes() -> int:
    """Traced bytes alive now that were allocated from a frame in chalicelib/."""
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, f"{CHALICELIB}/*")])
    return sum(stat.size for stat in snapshot.statistics("filename"))


class MemoryWindows:
    """Traces memory only in a few windows of WINDOW_BATCHES send batches (near the start, the middle and the end
    of the campaign): tracing everything would make a million-recipient run five times slower. In a window,
    after each batch, the bytes alive that chalicelib allocated since the window opened: the engine's working
    set (``peak``), and at the window's close what of it is still alive (``kept``: state carried from one
    invocation to the next, which the design says must be nothing; a cache or leak that grows shows here)."""

    def __init__(self, batches_expected: int, sent: Callable[[], int]) -> None:
        self.opens = sorted({max(int(batches_expected * f), 1) for f in WINDOWS_AT})
        self.sent = sent
        self.open_at: int | None = None
        self.cpu = 0.0  # CPU spent in windows (tracing is slow): left out of the CPU per recipient
        self.recipients = 0  # recipients sent in windows
        self.peak = 0
        self.kept = 0
        self._cpu_from = 0.0
        self._sent_from = 0

    def after_batch(self, batch_number: int) -> None:
        if self.open_at is None and self.opens and batch_number >= self.opens[0]:
            self.opens.pop(0)
            self.open_at = batch_number
            self._cpu_from, self._sent_from = time.process_time(), self.sent()
            tracemalloc.start(1)
            return
        if self.open_at is None:
            return
        alive = engine_bytes()
        self.peak = max(self.peak, alive)
        if batch_number - self.open_at >= WINDOW_BATCHES:
            self.kept = max(self.kept, alive)
            tracemalloc.stop()
            self.open_at = None
            self.cpu += time.process_time() - self._cpu_from
            self.recipients += self.sent() - self._sent_from

    def close(self) -> None:
        if self.open_at is not None:
            tracemalloc.stop()
            self.open_at = None
            self.cpu += time.process_time() - self._cpu_from
            self.recipients += self.sent() - self._sent_from


WINDOWS_AT = (0.05, 0.5, 0.95)
WINDOW_BATCHES = 20


@dataclass
class SizeResult:
    """One audience size, measured in a process of its own."""

    recipients: int
    sent: int
    virtual_seconds: float
    wall_seconds: float
    cpu_seconds: float  # the whole run, memory windows left out
    cpu_recipients: int  # recipients sent outside the memory windows
    fullest_second: int
    most_queued: int
    jobs: int
    batches: int
    engine_peak: int
    engine_kept: int
    rss_peak: int

    @property
    def cpu_us_per_recipient(self) -> float:
        return self.cpu_seconds / max(self.cpu_recipients, 1) * 1e6


MPS_DEFAULT = 100


def measure_size(recipients: int, *, mps: int = MPS_DEFAULT) -> SizeResult:
    """Send Now to ``recipients`` and run to Completed: duration, CPU, and the engine's memory in windows."""
    sim = Simulation(mps)
    sim.shop(BIG_SHOP, BIG_SENDER)
    sim.seed(BIG_SHOP, recipients)
    gc.collect()
    windows = MemoryWindows(recipients // 50, lambda: len(sim.provider.at_ms))
    sim.on_batch = lambda: windows.after_batch(sim.run.batches)
    wall, cpu = time.perf_counter(), time.process_time()
    campaign_id = sim.send_now(BIG_SHOP)
    sim.run_until(lambda: sim.completed(BIG_SHOP, campaign_id), at_most=START + timedelta(days=2))
    windows.close()
    cpu, wall = time.process_time() - cpu - windows.cpu, time.perf_counter() - wall
    c = sim.ports.campaigns.get(BIG_SHOP, campaign_id)
    assert c.status is CampaignStatus.COMPLETED and c.completed_at is not None, "the campaign did not complete"
    return SizeResult(
        recipients=recipients,
        sent=c.stats.sent,
        virtual_seconds=(c.completed_at - START).total_seconds(),
        wall_seconds=wall,
        cpu_seconds=cpu,
        cpu_recipients=c.stats.sent - windows.recipients,
        fullest_second=sim.provider.fullest_second(),
        most_queued=sim.queue.most_recipients_waiting,
        jobs=sim.run.jobs,
        batches=sim.run.batches,
        engine_peak=windows.peak,
        engine_kept=windows.kept,
        rss_peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )


class CountingPort:
    """A port whose method calls are counted (calls the services make through Ports: AWS calls, roughly)."""

    def __init__(self, name: str, target: Any, calls: Counter[str]) -> None:
        self._name, self._target, self._calls = name, target, calls

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._target, attr)
        if not callable(value):
            return value
        key = f"{self._name}.{attr}"

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[key] += 1
            return value(*args, **kwargs)

        return counted


NOT_CALLS = {"clock", "sleep", "personal_data", "allow_fictional_numbers", "link_base", "concurrent_sends", "send_pool"}


@dataclass
class FirstSend:
    """Send Now to the first message at the provider."""

    audience: int
    virtual_seconds: float
    jobs: int
    batches: int
    calls: int
    by_port: Counter[str]


def measure_first_send(audience: int, *, mps: int = MPS_DEFAULT) -> FirstSend:
    """Seed ``audience``, press Send Now, stop at the first send: what it took."""
    sim = Simulation(mps, jobs_first=False)
    sim.shop(BIG_SHOP, BIG_SENDER)
    sim.seed(BIG_SHOP, audience)
    calls: Counter[str] = Counter()
    for f in dataclasses.fields(sim.ports):
        if f.name not in NOT_CALLS:
            setattr(sim.ports, f.name, CountingPort(f.name, getattr(sim.ports, f.name), calls))
    first: dict[str, datetime] = {}
    upto: Counter[str] = Counter()

    def on_first_send() -> None:
        if "at" not in first:
            first["at"] = sim.clock.now()
            upto.update(calls)  # the sms.send call itself included

    sim.provider.first_send = on_first_send
    sim.send_now(BIG_SHOP)
    sim.run_until(lambda: "at" in first, at_most=START + timedelta(hours=1))
    assert "at" in first, "nothing was sent"
    return FirstSend(audience, (first["at"] - START).total_seconds(), sim.run.jobs, sim.run.batches, sum(upto.values()), upto)


@dataclass
class Fairness:
    """A 100-recipient Send Now while a big campaign sends."""

    case: str
    started_after: float  # seconds into the big campaign
    queued_ahead: int  # recipients already on the sends queue when it was pressed
    first_send: float
    completed: float
    big_rate: float  # the big campaign's sends per second over the same interval
    jobs: int


def measure_fairness(big: int, *, warm: timedelta = timedelta(minutes=5), mps: int = MPS_DEFAULT) -> list[Fairness]:
    """A ``big`` campaign runs for ``warm``; then a 100-recipient Send Now by another shop, and later one by the
    big campaign's own shop (its own number: shops cannot share one) to 100 subscribers among its ``big``."""
    sim = Simulation(mps)
    sim.shop(BIG_SHOP, BIG_SENDER)
    sim.shop(SMALL_SHOP, SMALL_SENDER)
    sim.seed(BIG_SHOP, big, keyword_every=big // 100)
    sim.seed(SMALL_SHOP, 100)
    big_id = sim.send_now(BIG_SHOP)
    results = []
    cases = (("another shop, its own number", SMALL_SHOP, "all"), ("same shop and number", BIG_SHOP, "keyword"))
    for case, shop, segment in cases:
        sim.run_until(lambda: False, at_most=sim.clock.now() + warm)
        pressed, ahead, jobs_before = sim.clock.now(), sim.queue.recipients_waiting, sim.run.jobs
        big_before = sim.provider.by_campaign[big_id][2]
        small_id = sim.send_now(shop, segment)
        sim.run_until(partial(sim.completed, shop, small_id), at_most=pressed + timedelta(hours=3))
        c = sim.ports.campaigns.get(shop, small_id)
        assert c.completed_at is not None and c.stats.sent == 100, (case, c.stats)
        first_ms = sim.provider.by_campaign[small_id][0]
        took = (c.completed_at - pressed).total_seconds()
        results.append(
            Fairness(
                case=case,
                started_after=(pressed - START).total_seconds(),
                queued_ahead=ahead,
                first_send=first_ms / 1000 - pressed.timestamp(),
                completed=took,
                big_rate=(sim.provider.by_campaign[big_id][2] - big_before) / took if took else float("nan"),
                jobs=sim.run.jobs - jobs_before,
            )
        )
    return results


# --- the report -------------------------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f} MB"


def start_size_in_child(recipients: int, mps: int) -> subprocess.Popen[str]:
    """One size in a fresh process, so its CPU, peak RSS and traced memory are its own (sizes run side by side)."""
    args = [sys.executable, "-m", "bench.scale", "--one", str(recipients), "--mps", str(mps)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})


def result_of(child: subprocess.Popen[str]) -> SizeResult:
    out, _ = child.communicate()
    if child.returncode:
        raise RuntimeError(f"bench.scale --one failed with {child.returncode}")
    return SizeResult(**json.loads(out.strip().splitlines()[-1]))


def report(sizes: Sequence[int], mps: int, out: TextIO, *, markdown: bool) -> None:
    started = time.perf_counter()
    children = {n: start_size_in_child(n, mps) for n in sizes}
    firsts = [measure_first_send(n, mps=mps) for n in (1_000, 100_000)]
    fair = measure_fairness(max(sizes), mps=mps)
    runs = {n: result_of(child) for n, child in children.items()}
    wall = time.perf_counter() - started
    for line in _lines(runs, firsts, fair, mps, wall, markdown=markdown):
        print(line, file=out)


def _lines(
    runs: dict[int, SizeResult], firsts: list[FirstSend], fair: list[Fairness], mps: int, wall: float, *, markdown: bool
) -> Iterator[str]:
    biggest = max(runs)
    cpu_run = runs[biggest]
    floor = biggest / mps
    title = f"Scale on a virtual clock: {biggest:,} recipients, CPU and memory, first send, fairness"
    yield f"## {title}" if markdown else f"bench.scale: {title}"
    yield ""
    yield (
        "The real services (`create_campaign`, `jobs.run_job`, `sending.send_batch`) over the in-memory fakes "
        "(`tests/fakes.py`), on a virtual clock: one send worker, service calls take no virtual time, jobs run as "
        "soon as they are due, delays and schedules are honoured, the pacing sleep only moves the clock. So durations "
        "and counts measure planning and pacing, and are the same on every machine; CPU and memory are this machine's."
    )
    yield ""
    yield f"### {biggest:,} recipients at {mps} MPS"
    yield ""
    yield (
        "| recipients | sent | Send Now to Completed | floor (recipients / MPS) | ratio | fullest second at the provider "
        "| most recipients queued |"
    )
    yield "|---:|---:|---:|---:|---:|---:|---:|"
    for n, r in sorted(runs.items()):
        yield (
            f"| {n:,} | {r.sent:,} | {r.virtual_seconds:,.1f} s | {n / mps:,.0f} s | {r.virtual_seconds / (n / mps):.4f} | "
            f"{r.fullest_second} parts | {r.most_queued:,} |"
        )
    yield ""
    yield (
        f"At {biggest:,}: {cpu_run.virtual_seconds:,.1f} s against the {floor:,.0f} s floor, "
        f"{(cpu_run.virtual_seconds / floor - 1) * 100:+.2f}% (target within 1%); {cpu_run.jobs:,} planning jobs and "
        f"{cpu_run.batches:,} send batches. Sending exactly at the limit ends one second under the floor (the first "
        "second's messages all go at 0 s). 'Most recipients queued' is the planner's bound at work: about PLAN_AHEAD "
        "(45 s) of sending plus a page, whatever the audience. One send worker and zero latency: the pacer is never "
        "contended here; its rate under many workers and real latencies is the pacing section's."
    )
    yield ""
    yield "### CPU and memory per audience size"
    yield ""
    yield (
        "| recipients | CPU | CPU per recipient | wall | engine peak (chalicelib allocations) | engine kept between batches "
        "| process peak RSS (database included) |"
    )
    yield "|---:|---:|---:|---:|---:|---:|---:|"
    for n, r in sorted(runs.items()):
        yield (
            f"| {n:,} | {r.cpu_seconds:,.1f} s | {r.cpu_us_per_recipient:,.0f} µs | {r.wall_seconds:,.1f} s | "
            f"{_mb(r.engine_peak)} | {_mb(r.engine_kept)} | {_mb(r.rss_peak)} |"
        )
    smallest = min(runs)
    growth = runs[biggest].engine_peak - runs[smallest].engine_peak
    yield ""
    yield (
        f"Engine memory growth from {smallest:,} to {biggest:,}: {growth / 1e6:+.2f} MB (target < 20 MB). Each size "
        "runs in its own process. CPU is the engine plus the in-memory ports (process time from Send Now to "
        "Completed, seeding left out, and the memory windows left out with the recipients sent in them). Engine "
        "memory is traced only in three windows of "
        f"{WINDOW_BATCHES} send batches (at 5%, 50% and 95% of the campaign; tracing it all would make the million "
        "five times slower): the bytes alive that were allocated from a frame in `chalicelib/` during the window, "
        "after each batch (peak) and when the window closes (kept: what one invocation leaves to the next, CPython's "
        "free lists and the pacer's one-second log included). The fake ledger and thread keep copies made outside "
        "chalicelib of the rows they are given and the queues hold JSON text, so the database that grows with the "
        "audience (ledger row, thread line, contact record per recipient) is not counted as the engine's; it is in "
        "the RSS."
    )
    yield ""
    yield "### Time to first send after Send Now"
    yield ""
    yield "| audience | virtual time | jobs | send batches | port calls (Send Now included) |"
    yield "|---:|---:|---:|---:|---:|"
    for first in firsts:
        yield f"| {first.audience:,} | {first.virtual_seconds:.1f} s | {first.jobs} | {first.batches} | {first.calls} |"
    yield ""
    same = len({(first.jobs, first.batches, first.calls) for first in firsts}) == 1
    yield (
        ("The same jobs and calls for every audience size: " if same else "NOT the same for every audience size: ")
        + ", ".join(f"{k} {v}" for k, v in sorted(firsts[-1].by_port.items()))
        + ". Counted along the chain Send Now, planning page 0, the first send batch up to its first send (messages "
        "run strictly in the order they became visible). With zero-latency services the virtual time is the "
        "planner's own waiting: none."
    )
    yield ""
    yield f"### Fairness: a 100-recipient Send Now while the {biggest:,}-recipient campaign sends"
    yield ""
    yield (
        "| the small campaign | pressed at | recipients queued ahead | to first send | to Completed | big campaign meanwhile "
        "| planning jobs |"
    )
    yield "|---|---:|---:|---:|---:|---:|---:|"
    for f in fair:
        yield (
            f"| {f.case} | {f.started_after:,.0f} s | {f.queued_ahead:,} | {f.first_send:,.1f} s | {f.completed:,.1f} s | "
            f"{f.big_rate:,.1f} sends/s | {f.jobs:,} |".replace("nan sends/s", "-")
        )
    yield ""
    big_fair = fair[0]
    yield (
        "Both wait behind what the big campaign already has on the shared sends queue (one send worker takes them in "
        "order): about PLAN_AHEAD of its sending, instead of the rest of its audience. Without the planner's pacing "
        "the whole audience is queued within seconds of Send Now, so at "
        f"{big_fair.started_after:,.0f} s about {biggest - big_fair.started_after * mps:,.0f} recipients would be "
        f"ahead: {(biggest - big_fair.started_after * mps) / mps:,.0f} s to the first send (computed, not run). Shops "
        "cannot share a sender number, so 'same number' is a second campaign of the big campaign's shop, to a "
        "100-subscriber segment spread through its audience: its planner reads every page of the shop's subscribers "
        f"to find them (zero virtual time here; {biggest // PLAN_PAGE_SIZE:,} queries in the deployment). 'Big campaign "
        "meanwhile' is its "
        "sends from pressing to Completed over that span, both ends included."
    )
    yield ""
    yield f"Rerun: `{RERUN}` (this run: {wall / 60:,.1f} min wall; the sizes run side by side, the million is the long pole)."


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description="The campaign engine at scale on a virtual clock.")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="audience sizes, comma-separated")
    parser.add_argument("--mps", type=int, default=MPS_DEFAULT)
    parser.add_argument("--markdown", action="store_true", help="print the section for docs/benchmarks.md")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one size in this process, as JSON
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the engine's per-batch logs would drown the report
    out = out or sys.stdout
    if args.one:
        result = measure_size(args.one, mps=args.mps)
        print(json.dumps(dataclasses.asdict(result)), file=out)
        return
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    report(sizes, args.mps, out, markdown=args.markdown)


if __name__ == "__main__":
    main()
