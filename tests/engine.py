"""An in-memory stand-in for Lambda + SQS + Scheduler around the campaign engine, for service tests.

It drains FakeJobs (jobs and send batches) in order of availability, honours delays on the virtual
clock, fires due FakeSchedules, can deliver every message twice, and treats WorkerCrash like a Lambda
dying: the message is not acknowledged and comes back after the visibility timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.jobs import Job
from chalicelib.domain.sending import SendBatch
from chalicelib.services import jobs, sending
from chalicelib.services.ports import Ports
from tests.fakes import FakeJobs, FakeSchedules, FrozenClock, WorkerCrash

VISIBILITY_TIMEOUT = timedelta(seconds=360)


@dataclass
class Message:
    available_at: datetime
    seq: int
    body: Job | SendBatch
    receives: int = 0


class Engine:
    def __init__(self, ports: Ports, *, duplicate_every_message: bool = False) -> None:
        assert isinstance(ports.jobs, FakeJobs) and isinstance(ports.schedules, FakeSchedules)
        assert isinstance(ports.clock, FrozenClock)
        self.ports, self.jobs, self.schedules, self.clock = ports, ports.jobs, ports.schedules, ports.clock
        self.duplicate = duplicate_every_message
        self.queue: list[Message] = []
        self.seq = 0
        self.crashes = 0
        self.processed = 0

    def _collect(self) -> None:
        now = self.clock.now()
        pending: list[tuple[Job | SendBatch, int]] = [*self.jobs.jobs, *self.jobs.sends]
        self.jobs.jobs.clear()
        self.jobs.sends.clear()
        for _name, job in self.schedules.due(now):
            pending.append((job, 0))
            if self.duplicate:
                pending.append((job, 0))  # a schedule firing twice
        for body, delay in pending:
            copies = 2 if self.duplicate else 1
            for _ in range(copies):
                self.seq += 1
                self.queue.append(Message(now + timedelta(seconds=delay), self.seq, body))

    def step(self) -> bool:
        """Process the next available message; False when none is available now."""
        self._collect()
        now = self.clock.now()
        ready = sorted((m for m in self.queue if m.available_at <= now), key=lambda m: (m.available_at, m.seq))
        if not ready:
            return False
        message = ready[0]
        message.receives += 1
        try:
            if isinstance(message.body, SendBatch):
                sending.send_batch(self.ports, message.body, deadline=now + timedelta(seconds=60))
            else:
                jobs.run_job(self.ports, message.body)
        except WorkerCrash:
            self.crashes += 1
            message.available_at = self.clock.now() + VISIBILITY_TIMEOUT
            return True
        self.queue.remove(message)
        self.processed += 1
        return True

    def run(self, *, max_steps: int = 10_000) -> None:
        """Process until nothing is available now."""
        for _ in range(max_steps):
            if not self.step():
                return
        raise AssertionError("engine did not settle")

    def run_until(self, until: datetime, *, tick: timedelta = timedelta(minutes=1), max_steps: int = 100_000) -> None:
        """Process and move the clock forward, firing schedules and delays, until ``until``."""
        steps = 0
        while self.clock.now() < until:
            while self.step():
                steps += 1
                if steps > max_steps:
                    raise AssertionError("engine did not settle")
            self.clock.at = min(self.clock.now() + tick, until)
        self.run()

    def idle(self) -> bool:
        self._collect()
        return not self.queue and not self.schedules.schedules
