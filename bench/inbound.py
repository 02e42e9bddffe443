"""Inbound SMS through the real handler, with dedupe: AWS calls per inbound message, and messages per second.

The inbound worker (``chalicelib.workers.inbound_sms.handle_sns_event``) runs unmodified in-process on moto, fed
one SNS-shaped event per inbound text, as the topic's Lambda subscription delivers them. The texts are a mix a
shop sees after a campaign: plain replies (they open Inbox conversations), STOP (consent change, confirmation
text, opt-out list), HELP (an answer), and duplicates (SNS delivers at least once: the same inbound message id
again, which must be stored once). Calls are counted like ``bench.campaign_calls``: by service and operation,
the sandbox provider's own DynamoDB calls apart (with End User Messaging: one SendTextMessage per auto-reply, one
PutOptedOutNumber per STOP).

Messages per second is wall time through moto in-process on this machine: informational, never compared.

    .venv/bin/python -m bench.inbound [--messages 400] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TextIO

import boto3
from moto import mock_aws

from bench.campaign_calls import (
    ENGINE,
    PREFIX,
    REGION,
    SANDBOX,
    SEND_AT,
    SENDER,
    SHOP,
    BenchClock,
    CallMeter,
    Options,
    audience,
    bench_settings,
    fake_aws_environment,
    metered,
    sandbox_tables,
    seed,
)
from chalicelib.adapters.dynamo.tables import create_tables
from chalicelib.adapters.resources import create_messaging_resources
from chalicelib.composition import Container, use_container
from chalicelib.domain.messages import Direction
from chalicelib.observability import logger as smscast_logger
from chalicelib.workers import inbound_sms
from devstack.pumps import LocalLambdaContext

DEFAULT_MESSAGES = 400
PHASE = "inbound"
REPLY = "Do you ship to Canada?"
# Every tenth text is a STOP, every tenth a HELP, every fifth a second delivery of an earlier text's id.
MIX = ("reply", "reply", "duplicate", "reply", "STOP", "reply", "HELP", "reply", "duplicate", "reply")


@dataclass(frozen=True)
class Inbound:
    """One text as the phone sent it."""

    message_id: str
    phone: str
    body: str


@dataclass
class InboundResult:
    """What one run measured."""

    delivered: int  # handler invocations (duplicates included)
    unique: int  # distinct inbound message ids
    kinds: Counter[str]
    calls: Counter[tuple[str, str, str, str]]
    stored_lines: int  # inbound lines in the conversation threads
    stored_once: bool  # every message id has exactly one inbound line
    opted_out: int
    wall_seconds: float

    def count(self, who: str | None = None) -> int:
        """Calls made by ``who`` (None: engine and sandbox provider together)."""
        return sum(n for (w, *_), n in self.calls.items() if who is None or w == who)

    def per_message(self, calls: int) -> float:
        """``calls`` per delivered message."""
        return calls / self.delivered if self.delivered else 0.0

    @property
    def messages_per_second(self) -> float:
        """Delivered messages per wall second (informational: moto in-process on this machine)."""
        return self.delivered / self.wall_seconds if self.wall_seconds else 0.0


def texts(n: int, phones: Sequence[str]) -> list[tuple[str, Inbound]]:
    """``n`` deliveries in the fixed mix; a duplicate repeats the previous distinct text (same id)."""
    out: list[tuple[str, Inbound]] = []
    previous: Inbound | None = None
    for i in range(n):
        kind = MIX[i % len(MIX)]
        if kind == "duplicate" and previous is not None:
            out.append((kind, previous))
            continue
        body = REPLY if kind in ("reply", "duplicate") else kind
        previous = Inbound(f"in-{i:06d}", phones[i % len(phones)], body)
        out.append(("reply" if kind == "duplicate" else kind, previous))  # a duplicate with nothing before it
    return out


def sns_event(sms: Inbound, published_at: str) -> dict[str, Any]:
    """The SNS event Lambda hands the inbound function for one End User Messaging two-way notification."""
    message = {
        "originationNumber": sms.phone,
        "destinationNumber": SENDER,
        "messageKeyword": "",
        "messageBody": sms.body,
        "inboundMessageId": sms.message_id,
        "previousPublishedMessageId": "",
    }
    envelope = {
        "Type": "Notification",
        "MessageId": f"sns-{sms.message_id}",
        "TopicArn": f"arn:aws:sns:{REGION}:123456789012:{PREFIX}-inbound-sms",
        "Message": json.dumps(message),
        "Timestamp": published_at,
        "MessageAttributes": {},
    }
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:sub", "Sns": envelope}]}


def run(messages: int = DEFAULT_MESSAGES) -> InboundResult:
    """Seed a shop and its subscribers, deliver ``messages`` inbound texts to the handler, count its calls."""
    clock = BenchClock(SEND_AT - timedelta(days=1))
    settings, meter = bench_settings(), CallMeter(sandbox_tables())
    subscribers = max(1, min(200, messages // 2))
    phones = audience(subscribers)
    deliveries = texts(messages, phones)
    level = smscast_logger.log_level
    with fake_aws_environment(), mock_aws(), metered(meter):
        container = Container(settings, clock=clock)
        smscast_logger.setLevel("ERROR")  # one line per text otherwise (and a warning per STOP to an opted-out number)
        container.ports = replace(container.ports, sleep=clock.sleep)
        use_container(container)
        try:
            session = boto3.session.Session(region_name=REGION)
            create_tables()
            create_messaging_resources(session.client("sqs"), session.client("sns"), session.client("scheduler"), PREFIX)
            ports = container.ports
            seed(ports, Options(subscribers=subscribers))
            clock.jump_to(SEND_AT)
            context = LocalLambdaContext(function_name="inbound_sms")
            started = time.perf_counter()
            with meter.phase(PHASE):
                for _, sms in deliveries:
                    clock.sleep(0.05)  # texts arrive apart; thread lines sort by time
                    published = clock.now().isoformat().replace("+00:00", "Z")
                    inbound_sms.handle_sns_event(sns_event(sms, published), context)
            wall = time.perf_counter() - started
            lines: Counter[str] = Counter()
            for phone in phones:
                for line in ports.conversations.thread(SHOP, phone, limit=200).items:
                    if line.direction is Direction.INBOUND:
                        lines[line.message_id] += 1
            opted_out = sum(1 for phone in phones if (s := ports.subscribers.get(SHOP, phone)) and not s.can_receive_marketing)
        finally:
            use_container(None)
            smscast_logger.setLevel(level)
    unique = {sms.message_id for _, sms in deliveries}
    return InboundResult(
        delivered=len(deliveries),
        unique=len(unique),
        kinds=Counter(kind for kind, _ in deliveries),
        calls=meter.calls,
        stored_lines=sum(lines.values()),
        stored_once=set(lines) == unique and all(n == 1 for n in lines.values()),
        opted_out=opted_out,
        wall_seconds=wall,
    )


def markdown(result: InboundResult, command: str) -> str:
    """The figures as a markdown section body."""
    per = result.per_message
    engine, sandbox = result.count(ENGINE), result.count(SANDBOX)
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(result.kinds.items()))
    lines = [
        f"{result.delivered} deliveries to `inbound_sms.handle_sns_event` ({kinds}); "
        f"{result.unique} distinct inbound message ids.",
        "",
        "| | calls | per delivered message |",
        "|---|---:|---:|",
        f"| engine | {engine} | {per(engine):.2f} |",
        f"| sandbox provider (in AWS: SendTextMessage, PutOptedOutNumber) | {sandbox} | {per(sandbox):.2f} |",
        "",
        "| engine operation [tables] | calls | per delivered message |",
        "|---|---:|---:|",
    ]
    for (who, service, operation, tables), n in sorted(result.calls.items(), key=lambda kv: (-kv[1], kv[0])):
        if who == ENGINE:
            lines.append(f"| {service} {operation} [{tables}] | {n} | {per(n):.2f} |")
    lines += [
        "",
        f"- Dedupe: {result.stored_lines} inbound lines stored for {result.unique} distinct message ids: "
        f"**{'each stored once' if result.stored_once else 'NOT stored once'}** "
        f"({result.delivered - result.unique} duplicate deliveries). Subscribers opted out by STOP: {result.opted_out}.",
        f"- Throughput: {result.messages_per_second:.0f} messages per second through the handler "
        f"({result.wall_seconds:.1f} s wall time; informational only: one process, moto in-process, this machine).",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> InboundResult:
    """Run the bench and print its figures."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m bench.inbound", description="Inbound SMS through the handler with dedupe.")
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, help="inbound deliveries (duplicates included)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown section (for make bench)")
    args = parser.parse_args(argv)
    # The handler's EMF metric lines go to stdout, where this bench prints its section: they are not its figures.
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    result = run(args.messages)
    command = f".venv/bin/python -m bench.inbound --messages {args.messages}"
    text = markdown(result, command)
    if args.markdown:
        print(f"## Inbound messages through the handler, with dedupe\n\n{text}\n\nRerun: `{command} --markdown`", file=out)
    else:
        print(text, file=out)
    return result


if __name__ == "__main__":
    main()
