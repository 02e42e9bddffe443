"""Play a subscriber's phone against a running devstack.

    python -m devstack.phone +15551230000 "JOIN"             # text the demo shop's number
    python -m devstack.phone +15551230000 "hi" --id abc     # reuse an inbound id: a duplicate delivery
    python -m devstack.phone +15551230000 --received        # what this phone got, one message a line
    python -m devstack.phone +15551230000 "Y" --wait 10     # text, then wait up to 10 s for the answer
    python -m devstack.phone +15551230000 --click           # tap the last link this phone received

The functions here are what the e2e test uses too.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import EndpointConnectionError

from chalicelib.adapters.dynamo.keys import parse_time_key
from chalicelib.adapters.dynamo.tables import SandboxMessageRow
from chalicelib.adapters.resources import INBOUND_SMS_TOPIC
from devstack.config import DevstackConfig, DevstackNotRunning, load_state

_SINGLE_WORD = re.compile(r"^[A-Z0-9-]{1,20}$")
_SHORT_LINK = re.compile(r"https?://[^\s]+/r/[0-9A-Za-z]+")
# What a person's phone says when they tap a link (not a preview fetcher), so the tap counts as a click.
PHONE_BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
_deserialize = TypeDeserializer().deserialize


@dataclass(frozen=True)
class ReceivedSms:
    """One message the sandbox provider delivered to the phone."""

    sent_at: datetime
    from_number: str
    to_number: str
    body: str
    kind: str
    provider_message_id: str

    def line(self) -> str:
        """One line for people: time, sender, body (newlines shown as \\n)."""
        return f"{self.sent_at.strftime('%Y-%m-%d %H:%M:%S')}Z  {self.from_number}  {self.body.replace(chr(10), chr(92) + 'n')}"


def _config(config: DevstackConfig | None) -> DevstackConfig:
    return config if config is not None else load_state()


def topic_arn(config: DevstackConfig) -> str:
    """The inbound SMS topic's ARN on the devstack's moto."""
    name = INBOUND_SMS_TOPIC.name(config.resource_prefix)
    sns = config.boto3_client("sns")
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(topic["TopicArn"])
    raise DevstackNotRunning(f"topic {name} not found on {config.aws_endpoint}")


def received(phone: str, *, config: DevstackConfig | None = None) -> list[ReceivedSms]:
    """Everything the sandbox sent to ``phone``, oldest first."""
    cfg = _config(config)
    dynamodb = cfg.boto3_client("dynamodb")
    table = f"{cfg.resource_prefix}-{SandboxMessageRow.base_name}"
    messages: list[ReceivedSms] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "to_number = :phone",
        "ExpressionAttributeValues": {":phone": {"S": phone}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.query(**kwargs)
        for raw in page.get("Items", []):
            item = {key: _deserialize(value) for key, value in raw.items()}
            sent_at, _ = parse_time_key(str(item["sent_key"]))
            messages.append(
                ReceivedSms(
                    sent_at=sent_at,
                    from_number=str(item["from_number"]),
                    to_number=str(item["to_number"]),
                    body=str(item["body"]),
                    kind=str(item.get("kind", "")),
                    provider_message_id=str(item.get("provider_message_id", "")),
                )
            )
        if "LastEvaluatedKey" not in page:
            return messages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def inbound_payload(phone: str, body: str, *, destination: str, message_id: str, previous_id: str | None) -> dict[str, str]:
    """The JSON End User Messaging publishes to SNS for a two-way SMS."""
    word = " ".join(body.split()).upper()
    return {
        "originationNumber": phone,
        "destinationNumber": destination,
        # AWS fills this with the number's registered keyword the text matched; a single word is our best guess.
        "messageKeyword": word if _SINGLE_WORD.match(word) else "",
        "messageBody": body,
        "inboundMessageId": message_id,
        "previousPublishedMessageId": previous_id or "",
    }


def send(
    phone: str, body: str, *, message_id: str | None = None, config: DevstackConfig | None = None, to: str | None = None
) -> str:
    """Text ``body`` from ``phone`` to the demo shop's primary number (or ``to``, e.g. another number of its pool);
    returns the inboundMessageId used."""
    cfg = _config(config)
    destination = to or cfg.sender_number
    message_id = message_id or str(uuid.uuid4())
    # Like AWS, point at the last message this sender sent to the phone (if any).
    previous = [m for m in received(phone, config=cfg) if m.from_number == destination]
    payload = inbound_payload(
        phone,
        body,
        destination=destination,
        message_id=message_id,
        previous_id=previous[-1].provider_message_id if previous else None,
    )
    cfg.boto3_client("sns").publish(TopicArn=topic_arn(cfg), Message=json.dumps(payload))
    return message_id


def wait_for_new(
    phone: str, *, after: int, timeout: float, config: DevstackConfig | None = None, poll: float = 0.2
) -> list[ReceivedSms]:
    """Wait up to ``timeout`` seconds until ``phone`` has more than ``after`` messages; returns the new ones."""
    cfg = _config(config)
    deadline = time.monotonic() + timeout
    while True:
        messages = received(phone, config=cfg)
        if len(messages) > after or time.monotonic() >= deadline:
            return messages[after:]
        time.sleep(poll)


@dataclass(frozen=True)
class Tap:
    """A tapped short link and what the stack answered (the redirect is not followed: devstack is offline)."""

    url: str
    status: int
    location: str | None

    def line(self) -> str:
        """One line for people."""
        return f"tapped {self.url} -> {self.status} {self.location or ''}".rstrip()


def last_link(phone: str, *, config: DevstackConfig | None = None) -> str | None:
    """The last short link in what ``phone`` received, or None."""
    for message in reversed(received(phone, config=config)):
        found = _SHORT_LINK.findall(message.body)
        if found:
            return str(found[-1])
    return None


def tap(url: str, *, timeout: float = 10.0) -> Tap:
    """GET ``url`` as a phone's browser would, without following the redirect."""
    parts = urlsplit(url)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = conn_class(parts.netloc, timeout=timeout)
    try:
        connection.request("GET", parts.path, headers={"User-Agent": PHONE_BROWSER})
        response = connection.getresponse()
        response.read()
        return Tap(url=url, status=response.status, location=response.getheader("Location"))
    finally:
        connection.close()


def click(phone: str, *, config: DevstackConfig | None = None) -> Tap | None:
    """Tap the last link ``phone`` received, like a person would; None when it received no link."""
    url = last_link(phone, config=config)
    return tap(url) if url is not None else None


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m devstack.phone", description="Text the devstack demo shop as a subscriber.")
    parser.add_argument("phone", help="this phone's number, E.164 (e.g. +15551230000)")
    parser.add_argument("body", nargs="?", help="the text to send")
    parser.add_argument("--to", help="the shop number to text (default: the demo shop's primary number)")
    parser.add_argument("--id", dest="message_id", help="inboundMessageId to use (repeat one to play a duplicate delivery)")
    parser.add_argument("--received", action="store_true", help="print what this phone received, one message a line")
    parser.add_argument("--wait", type=float, metavar="N", help="wait up to N seconds for a new message")
    parser.add_argument("--click", action="store_true", help="tap the last link this phone received")
    args = parser.parse_args(argv)
    if args.click:
        if args.body is not None or args.received:
            parser.error("--click taps a link; send a text or list --received separately")
        return _click(args.phone)
    if args.body is None and not args.received:
        parser.error("give a text to send, --received or --click")
    if args.body is not None and args.received:
        parser.error("send a text or list --received, not both")
    try:
        config = load_state()
        before = len(received(args.phone, config=config))
        if args.body is not None:
            message_id = send(args.phone, args.body, message_id=args.message_id, config=config, to=args.to)
            to = args.to or config.sender_number
            print(f"sent {args.body!r} from {args.phone} to {to} (inboundMessageId {message_id})")
        if args.wait is not None:
            new = wait_for_new(args.phone, after=before, timeout=args.wait, config=config)
            if not new:
                print(f"(no new message within {args.wait:g}s)", file=sys.stderr)
                return 1
            shown = new if args.body is not None else received(args.phone, config=config)
        else:
            shown = received(args.phone, config=config) if args.received else []
        for message in shown:
            print(message.line())
    except DevstackNotRunning as exc:
        print(f"devstack.phone: {exc}", file=sys.stderr)
        return 2
    except EndpointConnectionError as exc:
        print(f"devstack.phone: devstack does not answer ({exc}); is it still running?", file=sys.stderr)
        return 2
    return 0


def _click(phone: str) -> int:
    try:
        tapped = click(phone)
    except DevstackNotRunning as exc:
        print(f"devstack.phone: {exc}", file=sys.stderr)
        return 2
    except (EndpointConnectionError, OSError) as exc:
        print(f"devstack.phone: devstack does not answer ({exc}); is it still running?", file=sys.stderr)
        return 2
    if tapped is None:
        print(f"devstack.phone: {phone} has received no link", file=sys.stderr)
        return 1
    print(tapped.line())
    return 0 if tapped.status == 302 else 1


if __name__ == "__main__":
    sys.exit(main())
