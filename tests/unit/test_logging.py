"""Logs: one Powertools logger, the level from settings, and correlation keys on every line, never a phone.

The workers run on fake ports with their log stream captured, and each JSON line is checked.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.composition import Container, use_container
from chalicelib.domain.errors import ConfigurationError
from chalicelib.observability import logger, phone_ref
from chalicelib.services import jobs
from chalicelib.services.ports import Ports
from chalicelib.settings import Settings
from chalicelib.workers import campaign_jobs, campaign_sends, inbound_sms
from devstack.pumps import LocalLambdaContext
from tests.fakes import fake_ports
from tests.numbers import create_shop

SENDER = "+15550100000"
SUBSCRIBER = "+15551234567"
SHOP = "demo.myshopify.com"


class Captured:
    """The JSON lines smscast's logger wrote."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def line(self, message: str) -> dict[str, Any]:
        (found,) = [line for line in self.lines() if line["message"] == message]
        return found


@pytest.fixture
def logs() -> Iterator[Captured]:
    captured = Captured()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous, level = handler.setStream(captured.stream), logger.log_level
    try:
        yield captured
    finally:
        handler.setStream(previous)
        logger.setLevel(level)
        use_container(None)


def use_ports(log_level: str = "INFO") -> Ports:
    ports = fake_ports()
    create_shop(ports, shop_id=SHOP, settings={"sender_number": SENDER})
    settings = Settings.from_env(
        {"AWS_REGION": "us-east-1", "SMSCAST_SMS_PROVIDER": "sandbox", "SMSCAST_LOG_LEVEL": log_level}
    )
    use_container(Container(settings, ports=ports))
    return ports


def sqs_event(*bodies: Any) -> dict[str, Any]:
    records = [
        {
            "messageId": f"m-{index}",
            "receiptHandle": f"rh-{index}",
            "body": body if isinstance(body, str) else json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:smscast-test-campaign-sends",
            "awsRegion": "us-east-1",
        }
        for index, body in enumerate(bodies)
    ]
    return {"Records": records}


def sns_event(phone: str, body: str) -> dict[str, Any]:
    message = {
        "originationNumber": phone,
        "destinationNumber": SENDER,
        "messageKeyword": "",
        "messageBody": body,
        "inboundMessageId": "in-1",
        "previousPublishedMessageId": "",
    }
    sns = {
        "Type": "Notification",
        "MessageId": "sns-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:inbound",
        "Message": json.dumps(message),
        "Timestamp": "2026-11-20T15:00:00.000Z",
        "MessageAttributes": {},
    }
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:sub", "Sns": sns}]}


def context(name: str) -> LocalLambdaContext:
    return LocalLambdaContext(function_name=name)


class TestCorrelation:
    def test_each_record_of_a_send_batch_logs_its_own_shop_and_campaign(self, logs: Captured) -> None:
        use_ports()
        event = sqs_event(
            {"shop_id": SHOP, "campaign_id": "c-1", "phones": [SUBSCRIBER]},
            {"shop_id": "other.myshopify.com", "campaign_id": "c-2", "phones": [SUBSCRIBER]},
            "not json",
        )

        assert campaign_sends.handle_sqs_event(event, context("campaign_sends")) == {"batchItemFailures": []}

        done = [line for line in logs.lines() if line["message"] == "send batch done"]
        assert [(line["shop_id"], line["campaign_id"]) for line in done] == [
            (SHOP, "c-1"),
            ("other.myshopify.com", "c-2"),
        ]
        dropped = logs.line("malformed send batch dropped")
        assert "shop_id" not in dropped and "campaign_id" not in dropped  # nothing carried over from c-2
        assert all(line["service"] == "smscast" and line["function_name"] == "campaign_sends" for line in logs.lines())
        assert SUBSCRIBER not in logs.text and SUBSCRIBER[1:] not in logs.text

    def test_a_job_logged_from_a_service_carries_the_workers_keys(self, logs: Captured) -> None:
        use_ports()
        event = sqs_event({"kind": "start", "shop_id": SHOP, "campaign_id": "gone"})

        campaign_jobs.handle_sqs_event(event, context("campaign_jobs"))

        line = logs.line("schedule fired for a deleted campaign")
        assert (line["shop_id"], line["campaign_id"]) == (SHOP, "gone")
        assert line["location"].startswith("smscast.chalicelib.services.jobs.")  # a child logger of the one service

    def test_inbound_lines_carry_the_phone_hash_and_the_shop_never_the_phone(self, logs: Captured) -> None:
        use_ports()

        inbound_sms.handle_sns_event(sns_event(SUBSCRIBER, "JOIN"), context("inbound_sms"))

        handled = logs.line("inbound sms handled")
        assert handled["phone_ref"] == phone_ref(SUBSCRIBER)
        assert handled["shop_id"] == SHOP
        assert logs.line("auto-reply sent")["phone_ref"] == phone_ref(SUBSCRIBER)  # a service's line
        assert SUBSCRIBER not in logs.text and SUBSCRIBER[2:] not in logs.text

    def test_keys_do_not_outlive_the_invocation(self, logs: Captured) -> None:
        use_ports()
        inbound_sms.handle_sns_event(sns_event(SUBSCRIBER, "JOIN"), context("inbound_sms"))
        campaign_sends.handle_sqs_event(sqs_event("not json"), context("campaign_sends"))

        dropped = logs.line("malformed send batch dropped")
        assert not {"shop_id", "campaign_id", "phone_ref"} & set(dropped)


class TestPhoneRef:
    def test_is_a_short_stable_hash(self) -> None:
        assert phone_ref(SUBSCRIBER) == phone_ref(SUBSCRIBER)
        assert phone_ref(SUBSCRIBER) != phone_ref("+15551234568")
        assert len(phone_ref(SUBSCRIBER)) == 12 and int(phone_ref(SUBSCRIBER), 16) >= 0
        assert "5551234567" not in phone_ref(SUBSCRIBER)


class TestLevel:
    def test_the_level_from_settings_is_applied_to_every_module(self, logs: Captured) -> None:
        use_ports(log_level="WARNING")
        campaign_jobs.handle_sqs_event(
            sqs_event({"kind": "start", "shop_id": SHOP, "campaign_id": "gone"}), context("campaign_jobs")
        )
        campaign_sends.handle_sqs_event(sqs_event("not json"), context("campaign_sends"))

        # INFO from a service's child logger is filtered by the one level; the worker's ERROR still shows
        assert [line["message"] for line in logs.lines()] == ["malformed send batch dropped"]

    def test_debug_from_settings_lets_debug_lines_through(self, logs: Captured) -> None:
        use_ports(log_level="debug")
        assert logger.log_level == logging.DEBUG
        jobs.logger.debug("a debug line from a service")
        assert logs.line("a debug line from a service")["level"] == "DEBUG"

    def test_an_unknown_level_fails_at_start_up(self) -> None:
        with pytest.raises(ConfigurationError, match="SMSCAST_LOG_LEVEL"):
            Settings.from_env({"AWS_REGION": "us-east-1", "SMSCAST_LOG_LEVEL": "LOUD"})


def test_every_module_logs_through_the_one_powertools_logger() -> None:
    """A stdlib logger skips the level from settings and the correlation keys; only observability.py may use one."""
    root = Path(__file__).resolve().parents[2] / "chalicelib"
    strays = [
        f"{path.relative_to(root.parent)}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "observability.py" and "logging.getLogger(" in path.read_text(encoding="utf-8")
    ]
    assert strays == []
