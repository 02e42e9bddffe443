"""devstack's pumps against moto: Lambda's SNS retry/failure-destination, SQS partial batches, Scheduler firing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.scheduler import EventBridgeSchedules
from chalicelib.domain.jobs import StartCampaign, job_from_json
from devstack import wiring
from devstack.pumps import Pump, SchedulerPump, SnsToLambdaPump, SqsToLambdaPump
from devstack.stack import _tap_topic

REGION = "us-east-1"


@dataclass
class Aws:
    sqs: Any
    sns: Any
    scheduler: Any

    def queue(self, name: str, **attributes: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Everything visible on the queue now (a few receives, no waiting)."""
        found: list[dict[str, Any]] = []
        for _ in range(5):
            batch = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
                "Messages", []
            )
            found.extend(batch)
        return found


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield Aws(
            boto3.client("sqs", region_name=REGION),
            boto3.client("sns", region_name=REGION),
            boto3.client("scheduler", region_name=REGION),
        )


class FlakyHandler:
    """Fails the first ``failures`` calls, then succeeds; records every event it saw."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> None:
        self.events.append(event)
        assert context.function_name == "inbound_sms"
        if len(self.events) <= self.failures:
            raise RuntimeError(f"boom {len(self.events)}")


class DayAheadClock:
    """devstack's clock moved a day ahead (what `python -m devstack.clock +1d` does)."""

    def offset(self) -> timedelta:
        return timedelta(days=1)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset()


class TestSnsPump:
    def _pump(self, aws: Aws, handler: FlakyHandler) -> tuple[SnsToLambdaPump, str, str, str]:
        topic_arn = aws.sns.create_topic(Name="inbound")["TopicArn"]
        failures_url, _ = aws.queue("failures")
        tap_url, subscription_arn = _tap_topic(aws.sqs, aws.sns, topic_arn, "tap")
        pump = SnsToLambdaPump(
            sqs=aws.sqs,
            tap_queue_url=tap_url,
            subscription_arn=subscription_arn,
            failure_queue_url=failures_url,
            handler=handler,
            function_name="inbound_sms",
            region=REGION,
            clock=DayAheadClock(),
            retry_delay=0,
            wait_seconds=0,
        )
        return pump, topic_arn, tap_url, failures_url

    def test_delivers_a_lambda_sns_event_and_acknowledges_it(self, aws: Aws) -> None:
        handler = FlakyHandler(failures=0)
        pump, topic_arn, tap_url, failures_url = self._pump(aws, handler)
        aws.sns.publish(TopicArn=topic_arn, Message=json.dumps({"messageBody": "JOIN", "inboundMessageId": "in-1"}))

        pump.poll_once()

        assert len(handler.events) == 1
        (record,) = handler.events[0]["Records"]
        assert record["EventSource"] == "aws:sns"
        assert record["Sns"]["TopicArn"] == topic_arn
        assert json.loads(record["Sns"]["Message"])["inboundMessageId"] == "in-1"
        # moto stamps the wall clock; the inbound handler must see devstack's (a day ahead here)
        published = datetime.fromisoformat(record["Sns"]["Timestamp"].replace("Z", "+00:00"))
        assert abs(published - (datetime.now(timezone.utc) + timedelta(days=1))) < timedelta(minutes=1)
        assert aws.drain(tap_url) == []
        assert aws.drain(failures_url) == []

    def test_retries_twice_like_lambda_async_then_succeeds(self, aws: Aws) -> None:
        handler = FlakyHandler(failures=2)
        pump, topic_arn, tap_url, failures_url = self._pump(aws, handler)
        aws.sns.publish(TopicArn=topic_arn, Message="{}")

        pump.poll_once()

        assert len(handler.events) == 3
        assert handler.events[0] == handler.events[2]  # the same event each time
        assert aws.drain(failures_url) == []
        assert aws.drain(tap_url) == []

    def test_three_failures_park_the_event_on_the_failure_queue(self, aws: Aws) -> None:
        handler = FlakyHandler(failures=99)
        pump, topic_arn, tap_url, failures_url = self._pump(aws, handler)
        aws.sns.publish(TopicArn=topic_arn, Message=json.dumps({"inboundMessageId": "in-9"}))

        pump.poll_once()

        assert len(handler.events) == 3
        (parked,) = aws.drain(failures_url)
        record = json.loads(parked["Body"])
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        parked_at = datetime.fromisoformat(record["timestamp"])
        assert abs(parked_at - (datetime.now(timezone.utc) + timedelta(days=1))) < timedelta(minutes=1)
        assert record["requestContext"]["approximateInvokeCount"] == 3
        assert record["responsePayload"]["errorMessage"] == "boom 3"
        assert json.loads(record["requestPayload"]["Records"][0]["Sns"]["Message"]) == {"inboundMessageId": "in-9"}
        assert aws.drain(tap_url) == []  # acknowledged only because it is parked

    def test_a_body_that_is_not_an_sns_envelope_is_parked_not_retried_forever(self, aws: Aws) -> None:
        handler = FlakyHandler(failures=0)
        pump, _, tap_url, failures_url = self._pump(aws, handler)
        aws.sqs.send_message(QueueUrl=tap_url, MessageBody="not json")

        pump.poll_once()

        assert handler.events == []
        (parked,) = aws.drain(failures_url)
        assert json.loads(parked["Body"])["requestPayload"]["unparsable_body"] == "not json"
        assert aws.drain(tap_url) == []


class BatchHandler:
    """Fails the records whose body is 'bad' via batchItemFailures."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            self.bodies.append(record["body"])
            if record["body"] == "bad":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}


class TestSqsPump:
    def _queue_with_dlq(self, aws: Aws, max_receive_count: int) -> tuple[str, str, str]:
        dlq_url, dlq_arn = aws.queue("work-dlq")
        # Visibility 0: a failed record is visible again at once, so the test needs no waiting.
        url, arn = aws.queue(
            "work",
            VisibilityTimeout="0",
            RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}),
        )
        return url, arn, dlq_url

    def test_deletes_only_succeeded_records_and_the_failed_one_reaches_the_dlq(self, aws: Aws) -> None:
        url, arn, dlq_url = self._queue_with_dlq(aws, max_receive_count=2)
        for body in ("good-1", "bad", "good-2"):
            aws.sqs.send_message(QueueUrl=url, MessageBody=body)
        handler = BatchHandler()
        pump = SqsToLambdaPump(
            sqs=aws.sqs, queue_url=url, queue_arn=arn, handler=handler, function_name="w", region=REGION, wait_seconds=0
        )

        for _ in range(4):  # receive 1 and 2 fail 'bad'; the third receive moves it to the DLQ
            pump.poll_once()

        assert sorted(handler.bodies) == ["bad", "bad", "good-1", "good-2"]
        assert aws.drain(url) == []
        assert [m["Body"] for m in aws.drain(dlq_url)] == ["bad"]

    def test_a_batch_bigger_than_ten_is_gathered_over_several_receives_and_deleted_whole(self, aws: Aws) -> None:
        url, arn = aws.queue("big", VisibilityTimeout="30")  # received ones stay hidden while the batch gathers
        for start in range(0, 25, 10):
            entries = [{"Id": str(i), "MessageBody": f"m-{i}"} for i in range(start, min(start + 10, 25))]
            aws.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        handler = BatchHandler()
        pump = SqsToLambdaPump(
            sqs=aws.sqs, queue_url=url, queue_arn=arn, handler=handler, function_name="w", region=REGION, batch_size=100
        )
        pump.poll_once()
        assert sorted(handler.bodies) == sorted(f"m-{i}" for i in range(25))  # one invocation, past ten records
        assert aws.drain(url) == []

    def test_a_raising_handler_deletes_nothing(self, aws: Aws) -> None:
        url, arn, _ = self._queue_with_dlq(aws, max_receive_count=5)
        aws.sqs.send_message(QueueUrl=url, MessageBody="x")

        def explode(event: dict[str, Any], context: Any) -> None:
            raise RuntimeError("worker crashed")

        pump = SqsToLambdaPump(
            sqs=aws.sqs, queue_url=url, queue_arn=arn, handler=explode, function_name="w", region=REGION, wait_seconds=0
        )
        pump.poll_once()

        (again,) = aws.sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
        assert again["Body"] == "x"
        assert again["Attributes"]["ApproximateReceiveCount"] == "2"  # the pump's receive, then ours: never deleted


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


class TestSchedulerPump:
    group = "smscast-test"

    def _schedule(
        self, aws: Aws, name: str, target_arn: str, *, at: str, action: str | None = "DELETE", payload: str = "{}"
    ) -> None:
        kwargs: dict[str, Any] = {
            "Name": name,
            "GroupName": self.group,
            "ScheduleExpression": f"at({at})",
            "ScheduleExpressionTimezone": "America/New_York",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": target_arn, "RoleArn": "arn:aws:iam::123456789012:role/scheduler", "Input": payload},
        }
        if action:
            kwargs["ActionAfterCompletion"] = action
        aws.scheduler.create_schedule(**kwargs)

    def _pump(self, aws: Aws, clock: FixedClock) -> SchedulerPump:
        aws.scheduler.create_schedule_group(Name=self.group)
        return SchedulerPump(scheduler=aws.scheduler, sqs=aws.sqs, group_name=self.group, clock=clock)

    def test_fires_an_sqs_target_when_due_in_its_timezone_then_deletes_it(self, aws: Aws) -> None:
        url, arn = aws.queue("starts")
        clock = FixedClock(datetime(2030, 1, 15, 13, 59, tzinfo=timezone.utc))  # 08:59 in New York
        pump = self._pump(aws, clock)
        self._schedule(aws, "campaign-1", arn, at="2030-01-15T09:00:00", payload='{"campaign_id": "c1"}')

        assert pump.fire_due() == 0
        assert aws.drain(url) == []

        clock.current = datetime(2030, 1, 15, 14, 0, tzinfo=timezone.utc)
        assert pump.fire_due() == 1
        assert [json.loads(m["Body"]) for m in aws.drain(url)] == [{"campaign_id": "c1"}]
        assert aws.scheduler.list_schedules(GroupName=self.group)["Schedules"] == []

    def test_a_kept_schedule_fires_once(self, aws: Aws) -> None:
        url, arn = aws.queue("starts")
        pump = self._pump(aws, FixedClock(datetime(2030, 1, 16, tzinfo=timezone.utc)))
        self._schedule(aws, "kept", arn, at="2030-01-15T09:00:00", action="NONE")

        assert pump.fire_due() == 1
        assert pump.fire_due() == 0
        assert len(aws.drain(url)) == 1
        assert [s["Name"] for s in aws.scheduler.list_schedules(GroupName=self.group)["Schedules"]] == ["kept"]

    def test_a_target_devstack_cannot_reach_is_retried_then_dead_lettered(self, aws: Aws) -> None:
        dlq_url, dlq_arn = aws.queue("scheduler-dlq")
        pump = self._pump(aws, FixedClock(datetime(2030, 1, 16, tzinfo=timezone.utc)))
        arn = "arn:aws:lambda:us-east-1:123456789012:function:not_registered"
        aws.scheduler.create_schedule(
            Name="broken",
            GroupName=self.group,
            ScheduleExpression="at(2030-01-15T09:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": arn,
                "RoleArn": "arn:aws:iam::123456789012:role/r",
                "Input": '{"n": 1}',
                "DeadLetterConfig": {"Arn": dlq_arn},
            },
            ActionAfterCompletion="DELETE",
        )

        results = [pump.fire_due() for _ in range(SchedulerPump.max_attempts)]

        assert results == [0, 0, 1]
        (parked,) = aws.drain(dlq_url)
        assert json.loads(parked["Body"]) == {"n": 1}
        # every smscast schedule targets the jobs queue, so devstack refuses a Lambda target
        assert parked["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "ValueError"


class TestCampaignSchedulesOnDevstack:
    """A schedule made by the app's own adapter is what the pump fires: the whole local path of a campaign start."""

    group = "smscast-test"

    def test_an_eventbridge_schedule_reaches_the_jobs_queue_at_its_local_time_once(self, aws: Aws) -> None:
        url, arn = aws.queue("smscast-test-campaign-jobs")
        aws.scheduler.create_schedule_group(Name=self.group)
        schedules = EventBridgeSchedules(
            aws.scheduler, group=self.group, target_queue_arn=arn, role_arn="arn:aws:iam::123456789012:role/scheduler"
        )
        clock = FixedClock(datetime(2030, 7, 1, 15, 59, 59, tzinfo=timezone.utc))  # 08:59:59 in Los Angeles (PDT)
        pump = SchedulerPump(scheduler=aws.scheduler, sqs=aws.sqs, group_name=self.group, clock=clock)
        job = StartCampaign("alpha.myshopify.com", "c-1")
        # First set for 08:00, then moved to 09:00 (an edit): the old time must no longer fire.
        schedules.at("start-c-1", datetime(2030, 7, 1, 8, 0), "America/Los_Angeles", job)
        schedules.at("start-c-1", datetime(2030, 7, 1, 9, 0), "America/Los_Angeles", job)

        # 09:00 UTC, 09:00 New York and 08:00 Los Angeles have all passed: only the store's 09:00 counts.
        assert pump.fire_due() == 0
        assert aws.drain(url) == []

        clock.current = datetime(2030, 7, 1, 16, 0, tzinfo=timezone.utc)
        assert pump.fire_due() == 1
        assert [job_from_json(json.loads(m["Body"])) for m in aws.drain(url)] == [job]
        assert aws.scheduler.list_schedules(GroupName=self.group)["Schedules"] == []  # ActionAfterCompletion DELETE

        clock.current = datetime(2030, 7, 2, tzinfo=timezone.utc)
        assert pump.fire_due() == 0

    def test_a_cancelled_schedule_never_fires(self, aws: Aws) -> None:
        url, arn = aws.queue("smscast-test-campaign-jobs")
        aws.scheduler.create_schedule_group(Name=self.group)
        schedules = EventBridgeSchedules(
            aws.scheduler, group=self.group, target_queue_arn=arn, role_arn="arn:aws:iam::123456789012:role/r"
        )
        pump = SchedulerPump(
            scheduler=aws.scheduler,
            sqs=aws.sqs,
            group_name=self.group,
            clock=FixedClock(datetime(2030, 7, 2, tzinfo=timezone.utc)),
        )
        schedules.at("start-c-2", datetime(2030, 7, 1, 9, 0), "America/Los_Angeles", StartCampaign("s", "c-2"))
        schedules.cancel("start-c-2")

        assert pump.fire_due() == 0
        assert aws.drain(url) == []


class TestWiring:
    def test_devstack_consumes_the_queues_the_template_maps_with_the_same_batch_sizes(self) -> None:
        from chalicelib.workers import campaign_jobs, campaign_sends, delivery_receipts, list_jobs, shopify_webhooks
        from infra.template import SQS_FUNCTIONS

        found = {w.function_name: (w.queue, w.batch_size, w.handler) for w in wiring.sqs_workers()}
        assert found == {
            "campaign_jobs": (SQS_FUNCTIONS[0].queue, SQS_FUNCTIONS[0].batch_size, campaign_jobs.handle_sqs_event),
            "campaign_sends": (SQS_FUNCTIONS[1].queue, SQS_FUNCTIONS[1].batch_size, campaign_sends.handle_sqs_event),
            "shopify_webhooks": (SQS_FUNCTIONS[2].queue, SQS_FUNCTIONS[2].batch_size, shopify_webhooks.handle_sqs_event),
            "delivery_receipts": (SQS_FUNCTIONS[3].queue, SQS_FUNCTIONS[3].batch_size, delivery_receipts.handle_sqs_event),
            "list_jobs": (SQS_FUNCTIONS[4].queue, SQS_FUNCTIONS[4].batch_size, list_jobs.handle_sqs_event),
        }


class OnceBroken(Pump):
    def __init__(self) -> None:
        super().__init__("once-broken")
        self.polls = 0
        self.idle_seconds = 0

    def poll_once(self) -> None:
        self.polls += 1
        if self.polls == 1:
            raise RuntimeError("moto hiccup")
        if self.polls >= 3:
            self.stop()


def test_a_pump_outlives_a_failed_poll_and_stops_when_asked() -> None:
    pump = OnceBroken()
    pump.start()
    pump.join(timeout=30)
    assert not pump.is_alive()
    assert pump.polls == 3
