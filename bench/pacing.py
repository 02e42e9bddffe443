"""Pacing at the provider: N workers share one sender number through the real ``domain.pacing.decide``.

A discrete-event simulation on virtual time (microseconds), seeded, so every run prints the same figures on
every machine. The pacer's item lives in an in-memory store that behaves like the DynamoDB item: a strongly
consistent read sees the last write applied, a conditional write applies only if the version is unchanged,
and both take a while (so workers lose races exactly where they would on DynamoDB). Each worker does what
``services.sending`` does with the batches of an invocation (RECORDS_PER_INVOCATION records of RECIPIENTS_PER_BATCH
recipients, in one pipeline), invocation after invocation:

1. reads the batch (three batched reads), then asks the pacer for a group (up to GROUP_SIZE messages): reads
   the item, decides with its own clock (+ ``GRANT_LEAD_MS``), writes it back on the version it read; a lost
   race reads again (``ATTEMPTS`` times, then backs off ``CONTENDED_WAIT``); a refusal waits what the adapter
   would answer (``wait_ms`` plus up to ``RETRY_JITTER_MS``) plus ``retry_ms``'s backoff for a worker granted
   before;
2. claims the granted group (one write: its condition on the contact windows is the consent check), then
   sleeps until each slot (on its own clock), and gives the slot up when ``on_time`` says it woke too late
   (the message goes back to the batch for a later group);
3. sends: the call holds the worker's one interpreter for SEND_CPU_MS before the request leaves (a send
   whose slot comes while another call holds it waits, and is checked with ``on_time`` once it runs); the
   provider counts the message when it arrives; the answer comes 20-150 ms later;
4. pipelines: it asks for the next group at ``rebook_at_ms`` of the sending group's last slot, with at most
   ``groups_in_flight(limit)`` groups claimed and unsettled (the earliest is settled first: its last answer back,
   then one write); once a batch has nothing left to claim it reads the invocation's next record (three
   reads, and the write completing the batch before) while the last groups still send; after the
   invocation's last group is settled, the next invocation starts POLL_GAP_MS later.

    .venv/bin/python -m bench.pacing [--markdown] [--seed 7]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from chalicelib.domain.pacing import (
    ARRIVAL_JITTER_MS,
    CLOCK_SKEW_MS,
    COURTESY_MS,
    GRANT_LEAD_MS,
    HORIZON_MS,
    LATE_TOLERANCE_MS,
    MARGIN_MS,
    MAX_WAIT_MS,
    PRIOR_GRANT_BACKOFF_MS,
    RETRY_JITTER_MS,
    WINDOW_MS,
    PacerState,
    decide,
    on_time,
    rebook_at_ms,
    retry_ms,
    window_peak,
)
from chalicelib.domain.sending import GROUP_SIZE, next_group_size
from chalicelib.services.planning import RECIPIENTS_PER_BATCH
from infra.template import CAMPAIGN_SENDS, SQS_FUNCTIONS

US = 1000  # microseconds per millisecond
# The records Lambda hands one campaign_sends invocation (its event source mapping's batch size).
RECORDS_PER_INVOCATION = next(f.batch_size for f in SQS_FUNCTIONS if f.queue is CAMPAIGN_SENDS)
# An invocation starts no group after this (campaign_sends' 60 s timeout less its 5 s margin): the rest is handed back.
INVOCATION_BUDGET_S = 55
POLL_GAP_MS = (20, 60)  # from an invocation's return to the next one's start: the poller's receive and the invoke
# CPU one SendTextMessage call holds the worker's interpreter (the GIL) for, before its request leaves: botocore's
# serialisation, SigV4 signing and parsing, measured at 0.66 ms on this machine (`send_call_cpu_ms`), rounded up.
SEND_CPU_MS = 0.7
ATTEMPTS = 4  # as chalicelib/adapters/dynamo/pacer.py
CONTENDED_WAIT_MS = 10
POLITE = True  # workers follow domain.pacing's asking order (retry_ms, rebook_at_ms); False: ask again at once
WARMUP_S = 2
MEASURED_S = 20
MIN_MEASURED_MESSAGES = 400  # low rates run longer, so one message more or less is under 0.25 %
WORKERS = (1, 10, 50)
LIMITS = (3, 10, 100, 1000)
PARTS = (1, 2)
FAIRNESS = {"limit": 100, "small": 100, "start_s": 10}
FAIRNESS_BIG_WORKERS = (1, 3, 10)
FAIRNESS_SEEDS = 5

LATENCY_MODEL = f"""\
- DynamoDB GetItem (consistent) and conditional PutItem: lognormal, median 5 ms (read) and 6 ms (write),
  sigma 0.35, plus a 1 % tail of 10-40 ms; a request takes effect halfway through its latency.
- Worker clocks: each off true time by a fixed uniform amount in +/-{CLOCK_SKEW_MS / 2:g} ms.
- Waking for a slot: late by an exponential 0.3 ms, and 0.1 % of wake-ups by a 5-50 ms pause (GC, CPU steal);
  a worker that wakes {LATE_TOLERANCE_MS} ms or more after its slot gives it up (`on_time`) and asks again.
- SendTextMessage: {SEND_CPU_MS} ms of the worker's CPU (botocore's serialising and signing; a send waits while
  another holds the interpreter), then 20-150 ms (uniform) for the answer; the provider counts a message when it
  arrives: the moment its request left, plus 0-{ARRIVAL_JITTER_MS} ms (uniform).
- Workers ask in `domain.pacing`'s order: a refused worker waits `retry_after` (the wait plus 0-{RETRY_JITTER_MS} ms of
  jitter), {PRIOR_GRANT_BACKOFF_MS} ms more if it was granted before; a worker holding slots asks for more
  {MAX_WAIT_MS - COURTESY_MS} ms before its last one, holding at most `groups_in_flight` groups claimed and unsettled
  (2 up to 196 MPS, 6 at 1,000; services.sending's pipeline).
- Pacer: margin {MARGIN_MS} ms (a second is spaced as {WINDOW_MS + MARGIN_MS} ms), grants up to {HORIZON_MS} ms of
  slots per call, refuses a first slot more than {MAX_WAIT_MS} ms ahead, slots start {GRANT_LEAD_MS} ms after
  the clock read; each worker asks for a group of up to {GROUP_SIZE} messages at a time, and always has more
  waiting: invocations of {RECORDS_PER_INVOCATION} records of {RECIPIENTS_PER_BATCH} recipients, the next record read (three
  reads, a write completing the one before) while the last groups of the one before send; between invocations
  {POLL_GAP_MS[0]}-{POLL_GAP_MS[1]} ms (Lambda's poller and invoke).
- Rate = parts counted at the provider after {WARMUP_S} s of warm-up, over at least {MEASURED_S} s (and
  {MIN_MEASURED_MESSAGES} messages), divided by the reachable limit floor(L/p)*p parts a second for p-part messages
  (at L=3 a 2-part message fits once a second: 2 parts/s). Fullest second: the most parts the provider saw in
  any sliding second of the whole run, warm-up included."""


@dataclass
class Item:
    """The DynamoDB item: a state and its version."""

    state: PacerState = field(default_factory=lambda: PacerState(last_ms=None))
    version: int = 0


@dataclass
class Outcome:
    """One row of the table."""

    workers: int
    limit: int
    parts: int
    rate: float  # parts/s at the provider over the reachable limit
    fullest: int  # most parts in any sliding second at the provider
    grants_per_message: float  # Pacer.grant calls (granted or refused)
    dynamo_per_message: float  # the pacer item's GetItem + PutItem (the claims, settles and batch reads not counted)
    messages: int
    late: int  # slots given up
    first_slot_ms: float = 0.0  # fairness row: from the small campaign's start to its first send
    small_done_ms: float = 0.0  # fairness row: to its last send

    @property
    def reachable(self) -> int:
        return self.limit // self.parts * self.parts


class Simulation:
    """The event loop, the item, the provider's log and the counters."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.now = 0  # true time, us
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self.item = Item()
        self.arrivals: list[tuple[int, int]] = []  # (us, parts) at the provider
        self.grants = 0
        self.dynamo = 0
        self.late = 0

    def at(self, when_us: int, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._events, (max(when_us, self.now), self._seq, action))

    def run(self, until_us: int) -> None:
        while self._events and self._events[0][0] <= until_us:
            self.now, _, action = heapq.heappop(self._events)
            action()

    def latency_us(self, median_ms: float) -> int:
        ms = self.rng.lognormvariate(math.log(median_ms), 0.35)
        if self.rng.random() < 0.01:
            ms += self.rng.uniform(10, 40)
        return int(ms * US)


@dataclass
class Group:
    """One claimed group of a worker: its messages not yet answered (or given up), and the latest answer."""

    outstanding: int
    size: int = 0  # recipients claimed
    done_us: int = 0


class Worker:
    """One Lambda invocation sending a campaign's messages of ``parts`` parts at one number, batch after batch, the
    way ``services.sending`` does (see the module docstring)."""

    def __init__(
        self, sim: Simulation, limit: int, parts: int, backlog: int | None, *, on_sent: Callable[[int], None] | None = None
    ) -> None:
        self.sim, self.limit, self.parts = sim, limit, parts
        self.backlog = backlog  # recipients in batches not started yet; None: endless (the million-recipient campaign)
        self.records_left = 0  # records of the current invocation not started yet
        self.deadline_us = 0  # the current invocation's: no group is asked for after it
        self.cpu_free_us = 0  # when the interpreter is free again (a send call holds it SEND_CPU_MS)
        self.full = GROUP_SIZE  # the most one grant gave: what a full group is on this number
        self.skew_us = int(sim.rng.uniform(-CLOCK_SKEW_MS / 2, CLOCK_SKEW_MS / 2) * US)
        self.on_sent = on_sent
        self.batch_left = 0  # recipients of the current batch not claimed yet (given-back ones included)
        self.groups: list[Group] = []  # claimed and not settled, oldest first
        self.rebook_us: int | None = None  # when the sending group's rebook instant falls (true time)
        self.asking = False  # a grant, its retry wait or the claim after it is under way
        self.reading = False  # between batches: the next batch's reads are under way
        self.granted_before = False
        self.polite = POLITE

    def clock_ms(self) -> int:
        return (self.sim.now + self.skew_us) // US

    def wanted(self) -> int:
        """The next group's size (``next_group_size``): 0 while the groups in flight leave too little room."""
        unsettled = sum(g.size for g in self.groups)
        return next_group_size(self.batch_left, unsettled, self.limit, self.full)

    def start(self) -> None:
        """A new invocation: its records, one after another through one pipeline."""
        self.records_left = RECORDS_PER_INVOCATION
        self.deadline_us = self.sim.now + INVOCATION_BUDGET_S * 1_000_000
        self.granted_before, self.full = False, GROUP_SIZE  # the pipeline's, new with each invocation
        self._next_record(writes=0)

    def _next_record(self, *, writes: int) -> None:
        """Take the invocation's next record: its three batched reads (subscribers, ledger, contact windows), after
        ``writes`` writes finishing the record before, then its groups."""
        take = RECIPIENTS_PER_BATCH if self.backlog is None else min(RECIPIENTS_PER_BATCH, self.backlog)
        if take == 0:
            self.records_left = 0
            return
        if self.backlog is not None:
            self.backlog -= take
        self.records_left -= 1
        self.batch_left, self.reading = take, True
        sim = self.sim
        reads = sum(sim.latency_us(5) for _ in range(3)) + sum(sim.latency_us(6) for _ in range(writes))
        sim.at(sim.now + reads, self._read_batch)

    def _read_batch(self) -> None:
        self.reading = False
        self._maybe_ask()

    def _moved_on(self) -> bool:
        """Nothing of the record left to claim: read the invocation's next one while its last groups send."""
        if self.batch_left == 0 and not self.asking and not self.reading and self.records_left > 0:
            self._next_record(writes=1)
            return True
        return False

    def _maybe_ask(self) -> None:
        """Ask for the next group when the code would: the group before the sending one settled, and the sending
        group's rebook instant reached (``rebook_at_ms``: before its last slot)."""
        if self.sim.now >= self.deadline_us and not self.asking and not self.reading:
            # Out of time: what is not claimed goes back to the queue; the invocation ends once its groups settle.
            self.batch_left = self.records_left = 0
            if not self.groups:
                self._settled(None)
            return
        if self._moved_on() or self.asking or self.reading or self.wanted() == 0:
            return  # a settle comes back here
        if self.groups and self.rebook_us is not None and self.sim.now < self.rebook_us:
            return  # an event at rebook_us comes back here
        self.ask()

    def ask(self, attempt: int = 0) -> None:
        self.asking = self.wanted() > 0
        if not self.asking:
            return
        sim = self.sim
        if attempt == 0:
            sim.grants += 1
        sim.dynamo += 1
        read_lat = sim.latency_us(5)
        sim.at(sim.now + read_lat // 2, lambda: self._read(read_lat - read_lat // 2, attempt))

    def _read(self, rest_us: int, attempt: int) -> None:
        seen = self.sim.item
        state, version = seen.state, seen.version
        self.sim.at(self.sim.now + rest_us, lambda: self._decide(state, version, attempt))

    def _decide(self, state: PacerState, version: int, attempt: int) -> None:
        sim = self.sim
        want = self.wanted()
        decision = decide(state, self.clock_ms() + GRANT_LEAD_MS, [self.parts] * want, self.limit)
        if decision.state is None:
            told_us = decision.wait_ms * US + int(sim.rng.uniform(0, RETRY_JITTER_MS) * US)  # as the adapter answers
            extra_ms = retry_ms(0, granted_before=self.granted_before) if self.polite else 0
            wait_us = told_us + extra_ms * US
            sim.at(sim.now + wait_us, self.ask)
            return
        new_state, slots = decision.state, decision.slots_ms
        sim.dynamo += 1
        write_lat = sim.latency_us(6)

        def apply() -> None:
            won = sim.item.version == version
            if won:
                sim.item = Item(new_state, version + 1)
            sim.at(sim.now + write_lat - write_lat // 2, lambda: self._written(won, slots, attempt))

        sim.at(sim.now + write_lat // 2, apply)

    def _written(self, won: bool, slots: tuple[int, ...], attempt: int) -> None:
        sim = self.sim
        if not won:
            if attempt + 1 < ATTEMPTS:
                self.ask(attempt + 1)
            else:
                sim.at(sim.now + CONTENDED_WAIT_MS * US, self.ask)
            return
        self.batch_left -= len(slots)
        self.full = max(self.full if self.granted_before else 0, len(slots))
        self.granted_before = True
        # The group's claim (one transaction; a STOP since the batch's read fails its condition on the contact window).
        claim_us = sim.latency_us(6)
        sim.at(sim.now + claim_us, lambda: self._claimed(slots))

    def _claimed(self, slots: tuple[int, ...]) -> None:
        sim = self.sim
        group = Group(outstanding=len(slots), size=len(slots))
        self.groups.append(group)
        for slot in slots:
            self._sleep_until(slot, group)
        self.asking = False
        if self.polite:  # ask for the next slots after any waiter could have (domain.pacing.rebook_at_ms)
            self.rebook_us = int(rebook_at_ms(slots[-1]) * US - self.skew_us)
            sim.at(self.rebook_us, self._maybe_ask)
        else:
            self.rebook_us = None  # book ahead at once: refused (and told how long to wait) until the number has room
        self._maybe_ask()

    def _sleep_until(self, slot_ms: int, group: Group) -> None:
        wake = slot_ms * US - self.skew_us  # true time at which this worker's clock reads the slot
        wake += int(self.sim.rng.expovariate(1 / 300))
        if self.sim.rng.random() < 0.001:
            wake += int(self.sim.rng.uniform(5, 50) * US)
        self.sim.at(wake, lambda: self._wake(slot_ms, group))

    def _wake(self, slot_ms: int, group: Group) -> None:
        sim = self.sim
        if self.cpu_free_us > sim.now:  # another send call holds the interpreter: this one runs after it
            sim.at(self.cpu_free_us, lambda: self._wake(slot_ms, group))
            return
        if not on_time(slot_ms, self.clock_ms()):
            sim.late += 1
            self.batch_left += 1  # given back: asked for again in a later group
            self._answered(group, sim.now)
            return
        left = sim.now + int(SEND_CPU_MS * US)  # serialised and signed: the request leaves
        self.cpu_free_us = left
        sim.arrivals.append((left + int(sim.rng.uniform(0, ARRIVAL_JITTER_MS) * US), self.parts))
        if self.on_sent is not None:
            self.on_sent(left)
        self._answered(group, left + int(sim.rng.uniform(20, 150) * US))

    def _answered(self, group: Group, at_us: int) -> None:
        """One message of ``group`` is done at ``at_us``; the last one done, the group's settle is written."""
        group.outstanding -= 1
        group.done_us = max(group.done_us, at_us)
        if group.outstanding == 0:
            self.sim.at(group.done_us + self.sim.latency_us(6), lambda: self._settled(group))

    def _settled(self, group: Group | None) -> None:
        if group is not None:
            self.groups.remove(group)
        if not self.groups and self.batch_left == 0 and not self.asking and not self.reading and self.records_left == 0:
            # The invocation is done: its last batch's completion write, then the poller's next invocation.
            gap = self.sim.latency_us(6) + int(self.sim.rng.uniform(*POLL_GAP_MS) * US)
            self.sim.at(self.sim.now + gap, self.start)
            return
        self._maybe_ask()


def _measured_us(limit: int, parts: int) -> int:
    per_second = limit // parts * WINDOW_MS / (WINDOW_MS + MARGIN_MS)
    return int(max(MEASURED_S, MIN_MEASURED_MESSAGES / per_second) * 1_000_000)


def simulate(workers: int, limit: int, parts: int, *, seed: int = 7) -> Outcome:
    """Run ``workers`` endless workers at ``limit`` with ``parts``-part messages; the row at the provider."""
    rng = random.Random(f"{seed}/{workers}/{limit}/{parts}")
    sim = Simulation(rng)
    for _ in range(workers):
        worker = Worker(sim, limit, parts, None)
        sim.at(int(rng.uniform(0, 50) * US), worker.start)
    start, end = WARMUP_S * 1_000_000, WARMUP_S * 1_000_000 + _measured_us(limit, parts)
    sim.run(end + 1_000_000)
    counted = sum(p for at, p in sim.arrivals if start <= at < end)
    messages = len(sim.arrivals)
    reachable = limit // parts * parts
    return Outcome(
        workers=workers,
        limit=limit,
        parts=parts,
        rate=counted / ((end - start) / 1_000_000) / reachable,
        fullest=window_peak(sim.arrivals, WINDOW_MS * US),
        grants_per_message=sim.grants / messages,
        dynamo_per_message=sim.dynamo / messages,
        messages=messages,
        late=sim.late,
    )


def fairness(big_workers: int, *, seed: int = 7) -> Outcome:
    """A 100-recipient campaign starting while a million-recipient one keeps ``big_workers`` busy on the number."""
    limit, small, start_s = FAIRNESS["limit"], FAIRNESS["small"], FAIRNESS["start_s"]
    rng = random.Random(f"{seed}/fairness/{big_workers}")
    sim = Simulation(rng)
    for _ in range(big_workers):
        sim.at(int(rng.uniform(0, 50) * US), Worker(sim, limit, 1, None).start)
    sends: list[int] = []
    newcomer = Worker(sim, limit, 1, small, on_sent=sends.append)
    start = start_s * 1_000_000
    sim.at(start, newcomer.start)
    sim.run(start + 60_000_000)
    return Outcome(
        workers=big_workers + 1,
        limit=limit,
        parts=1,
        rate=0.0,
        fullest=window_peak(sim.arrivals, WINDOW_MS * US),
        grants_per_message=sim.grants / len(sim.arrivals),
        dynamo_per_message=sim.dynamo / len(sim.arrivals),
        messages=len(sim.arrivals),
        late=sim.late,
        first_slot_ms=(min(sends) - start) / US if sends else math.inf,
        small_done_ms=(max(sends) - start) / US if len(sends) == small else math.inf,
    )


def fairness_lines(outcomes: dict[int, list[Outcome]]) -> list[str]:
    """The fairness table: per number of the big campaign's workers, over several seeds."""
    lines = [
        "| big campaign's workers | seeds | first send of the small campaign (median / worst) "
        "| all 100 sent (median / worst) | fullest second |",
        "|---:|---:|---:|---:|---:|",
    ]
    for big, runs in outcomes.items():
        first = sorted(o.first_slot_ms for o in runs)
        done = sorted(o.small_done_ms for o in runs)
        lines.append(
            f"| {big} | {len(runs)} | {first[len(first) // 2] / 1000:.2f} s / {first[-1] / 1000:.2f} s "
            f"| {done[len(done) // 2] / 1000:.2f} s / {done[-1] / 1000:.2f} s "
            f"| {max(o.fullest for o in runs)} / {FAIRNESS['limit']} |"
        )
    return lines


def table(rows: Sequence[Outcome]) -> list[str]:
    """The markdown table of ``rows``."""
    lines = [
        "| workers | MPS | parts | reachable parts/s | rate / reachable | fullest second (parts) | grants / msg "
        "| DynamoDB calls / msg | slots given up |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.workers} | {r.limit} | {r.parts} | {r.reachable} | {r.rate:.3f} | {r.fullest} / {r.limit} "
            f"| {r.grants_per_message:.2f} | {r.dynamo_per_message:.2f} | {r.late} |"
        )
    return lines


def all_rows(seed: int = 7) -> list[Outcome]:
    """Every row of the benchmark."""
    return [simulate(w, limit, p, seed=seed) for w in WORKERS for limit in LIMITS for p in PARTS]


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> tuple[list[Outcome], dict[int, list[Outcome]]]:
    """Print the pacing table (``--markdown``: a section for docs/benchmarks.md)."""
    parser = argparse.ArgumentParser(prog="python -m bench.pacing", description="Pacing at the provider, simulated.")
    parser.add_argument("--markdown", action="store_true", help="print a markdown section for docs/benchmarks.md")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rows = all_rows(args.seed)
    fair = {big: [fairness(big, seed=args.seed + i) for i in range(FAIRNESS_SEEDS)] for big in FAIRNESS_BIG_WORKERS}
    worst_rate = min(r.rate for r in rows)
    holds = all(r.fullest <= r.limit for r in rows) and all(o.fullest <= o.limit for runs in fair.values() for o in runs)
    summary = (
        f"Every row: fullest second <= limit: {'yes' if holds else 'NO'}; lowest rate {worst_rate:.3f} of the reachable "
        f"limit (target 0.98; {WINDOW_MS / (WINDOW_MS + MARGIN_MS):.3f} is the most the {MARGIN_MS} ms margin allows)."
    )
    fair_intro = (
        f"Fairness: a {FAIRNESS['small']}-recipient campaign (one worker) starts {FAIRNESS['start_s']} s into a "
        f"million-recipient one on the same number at {FAIRNESS['limit']} MPS. The pacer is fair per worker, not per "
        "campaign: each grant goes to the waiting worker that asks first, and `domain.pacing`'s asking order puts a "
        "worker never granted before (the Send Now) ahead of the others, so it takes the next round whatever the "
        "number of the big campaign's workers."
    )
    if args.markdown:
        print("## Pacing at the provider\n", file=out)
        print(
            "N workers share one sender number through the real `chalicelib.domain.pacing.decide`, over an in-memory "
            "item that behaves like the DynamoDB one (consistent read, conditional write on a version, lost races), "
            "in a seeded discrete-event simulation on virtual time. Latency model:\n",
            file=out,
        )
        print(LATENCY_MODEL + "\n", file=out)
        print("\n".join(table(rows)) + "\n", file=out)
        print(summary + "\n", file=out)
        print(fair_intro + "\n", file=out)
        print("\n".join(fairness_lines(fair)) + "\n", file=out)
        print(f"Rerun: `.venv/bin/python -m bench.pacing --markdown --seed {args.seed}`", file=out)
    else:
        print("pacing at the provider (virtual time, seeded)\n" + LATENCY_MODEL + "\n", file=out)
        print("\n".join(table(rows)), file=out)
        print("\n" + summary + "\n\n" + fair_intro + "\n", file=out)
        print("\n".join(fairness_lines(fair)), file=out)
    return rows, fair


if __name__ == "__main__":
    main()
