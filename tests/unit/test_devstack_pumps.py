"""devstack's pure pieces: Lambda event shapes, partial batch rules, at() parsing, clock steps, the state file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from devstack.clock import parse_step, shift
from devstack.config import DevstackConfig, DevstackNotRunning, load_state, remove_state, write_state
from devstack.phone import inbound_payload
from devstack.pumps import due_time as schedule_due_time
from devstack.pumps import failed_ids, sns_record_from_envelope, sqs_event


class TestPartialBatchResponse:
    batch = frozenset({"a", "b", "c"})

    def test_no_response_or_empty_list_means_every_record_succeeded(self) -> None:
        assert failed_ids(None, set(self.batch)) == set()
        assert failed_ids({"batchItemFailures": []}, set(self.batch)) == set()
        assert failed_ids({}, set(self.batch)) == set()

    def test_listed_identifiers_fail_and_only_those(self) -> None:
        response = {"batchItemFailures": [{"itemIdentifier": "b"}]}
        assert failed_ids(response, set(self.batch)) == {"b"}

    @pytest.mark.parametrize(
        "response",
        [
            {"batchItemFailures": [{"itemIdentifier": "zzz"}]},  # not in the batch
            {"batchItemFailures": [{"itemIdentifier": ""}]},
            {"batchItemFailures": [{}]},
            {"batchItemFailures": "b"},
            "not a mapping",
        ],
    )
    def test_malformed_response_fails_the_whole_batch(self, response: object) -> None:
        assert failed_ids(response, set(self.batch)) == self.batch


class TestEventShapes:
    def test_sns_record_matches_lambda_sns_trigger(self) -> None:
        envelope = {
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": json.dumps({"messageBody": "JOIN"}),
            "Timestamp": "2030-01-01T00:00:00.000Z",
            "SigningCertURL": "https://cert",
            "UnsubscribeURL": "https://unsub",
        }
        record = sns_record_from_envelope(envelope, "arn:sub", timedelta(0))
        assert record["EventSource"] == "aws:sns"
        assert record["EventSubscriptionArn"] == "arn:sub"
        assert record["Sns"]["MessageId"] == "m-1"
        assert json.loads(record["Sns"]["Message"]) == {"messageBody": "JOIN"}
        assert record["Sns"]["SigningCertUrl"] == "https://cert"
        assert record["Sns"]["UnsubscribeUrl"] == "https://unsub"
        assert record["Sns"]["Timestamp"] == "2030-01-01T00:00:00.000Z"

    def test_sns_timestamp_is_moved_onto_devstacks_clock(self) -> None:
        # Inbound SMS are received at the SNS timestamp: moto stamps the wall clock, devstack may be a day ahead.
        envelope = {"MessageId": "m-1", "TopicArn": "arn:t", "Message": "{}", "Timestamp": "2030-01-01T23:30:00.250Z"}
        record = sns_record_from_envelope(envelope, "arn:sub", timedelta(days=1, hours=1))
        assert record["Sns"]["Timestamp"] == "2030-01-03T00:30:00.250Z"

    def test_sqs_event_converts_message_attributes_to_lambda_casing(self) -> None:
        message = {
            "MessageId": "id-1",
            "ReceiptHandle": "rh",
            "Body": "{}",
            "Attributes": {"ApproximateReceiveCount": "1"},
            "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "send"}},
        }
        record = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")["Records"][0]
        assert record["messageId"] == "id-1"
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].endswith(":q")
        assert record["messageAttributes"]["kind"]["stringValue"] == "send"
        assert record["messageAttributes"]["kind"]["dataType"] == "String"


class TestScheduleTimes:
    def test_at_expression_is_read_in_its_timezone(self) -> None:
        due = schedule_due_time("at(2030-01-15T09:00:00)", "America/New_York")
        assert due == datetime(2030, 1, 15, 14, 0, tzinfo=timezone.utc)

    def test_missing_timezone_means_utc(self) -> None:
        assert schedule_due_time("at(2030-01-15T09:00:00)", None) == datetime(2030, 1, 15, 9, 0, tzinfo=timezone.utc)

    def test_rate_and_cron_are_not_one_time_schedules(self) -> None:
        assert schedule_due_time("rate(5 minutes)", "UTC") is None
        assert schedule_due_time("cron(0 9 * * ? *)", "UTC") is None


class TestClockSteps:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("+9h", timedelta(hours=9)),
            ("-30m", timedelta(minutes=-30)),
            ("+2d", timedelta(days=2)),
            ("+90s", timedelta(seconds=90)),
        ],
    )
    def test_steps(self, text: str, expected: timedelta) -> None:
        assert parse_step(text) == expected

    @pytest.mark.parametrize("text", ["9h", "+9", "+9w", "+-9h", "", "reset"])
    def test_bad_steps_are_refused(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_step(text)

    def test_offsets_accumulate(self, tmp_path: Path) -> None:
        path = tmp_path / "clock.json"
        shift(path, timedelta(hours=9))
        assert shift(path, timedelta(minutes=-30)) == timedelta(hours=8, minutes=30)
        assert json.loads(path.read_text())["offset_seconds"] == 8.5 * 3600


class TestStateFile:
    def test_round_trip_and_removal(self, tmp_path: Path) -> None:
        path = tmp_path / "state.json"
        config = DevstackConfig(
            api_url="http://127.0.0.1:8000",
            api_key="sk_x",
            sender_number="+15550100000",
            aws_endpoint="http://127.0.0.1:5000",
            region="us-east-1",
            resource_prefix="smscast-local",
            clock_file=str(tmp_path / "clock.json"),
            shop_id="demo.myshopify.com",
        )
        write_state(config, path)
        assert load_state(path) == config
        remove_state(path)
        with pytest.raises(DevstackNotRunning):
            load_state(path)


def test_inbound_payload_has_end_user_messaging_shape() -> None:
    payload = inbound_payload("+15551230000", "  stop ", destination="+15550100000", message_id="in-1", previous_id=None)
    assert payload == {
        "originationNumber": "+15551230000",
        "destinationNumber": "+15550100000",
        "messageKeyword": "STOP",
        "messageBody": "  stop ",  # the body travels untouched; trimming is the handler's job
        "inboundMessageId": "in-1",
        "previousPublishedMessageId": "",
    }
