"""Pumps: threads that play Lambda's part locally (SNS -> inbound handler, SQS -> workers, Scheduler -> queues).

Each pump survives any single bad message: it logs, applies the AWS failure semantics it imitates, and
moves on. They stop when ``stop()`` is called (within one poll interval).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo

LOG = logging.getLogger("devstack.pumps")

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class NowSource(Protocol):
    """Anything with ``now()`` (devstack passes its FileOffsetClock)."""

    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


class MovableClock(NowSource, Protocol):
    """A clock that also says how far it is from the wall clock (devstack's FileOffsetClock)."""

    def offset(self) -> timedelta:
        """How far this clock is ahead of the wall clock."""
        ...


@dataclass
class LocalLambdaContext:
    """The attributes handlers and Powertools read from a Lambda context object."""

    function_name: str
    region: str = "us-east-1"
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 60
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/devstack"
    log_stream_name: str = "devstack"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """A Lambda ARN shaped like the real one."""
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before a real Lambda would time out."""
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


class Pump(threading.Thread):
    """A daemon thread that calls ``poll_once`` until stopped; an exception in one poll never ends it."""

    idle_seconds = 0.5  # pause after a failed poll (e.g. moto briefly unreachable) so errors do not spin

    def __init__(self, name: str, invocation_lock: threading.Lock | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self._stopping = threading.Event()
        # One invocation at a time across devstack: a Lambda environment handles one event at a time,
        # and the app's lazily built container is shared by every thread here.
        self.invocation_lock = invocation_lock or threading.Lock()

    def stop(self) -> None:
        """Ask the pump to finish after its current poll."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """True once stop() was called."""
        return self._stopping.is_set()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                if self._stopping.is_set():
                    break  # moto is going away with us: nothing to report
                LOG.exception("%s: poll failed; carrying on", self.name)
                self._stopping.wait(self.idle_seconds)

    def poll_once(self) -> None:
        """Do one round of work (receive, invoke, acknowledge)."""
        raise NotImplementedError

    def invoke(self, handler: LambdaHandler, event: dict[str, Any], function_name: str, region: str) -> Any:
        """Call a handler the way Lambda would: one event, a context, one at a time."""
        with self.invocation_lock:
            return handler(event, LocalLambdaContext(function_name=function_name, region=region))


# ---------------------------------------------------------------------------------------------- SNS


def on_clock(timestamp: str, offset: timedelta) -> str:
    """An SNS timestamp (moto stamps the wall clock) moved onto devstack's clock, in SNS's own format."""
    published = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(timezone.utc) + offset
    return published.strftime("%Y-%m-%dT%H:%M:%S.") + f"{published.microsecond // 1000:03d}Z"


def sns_record_from_envelope(envelope: Mapping[str, Any], subscription_arn: str, offset: timedelta) -> dict[str, Any]:
    """Turn the SNS JSON that SNS delivers to SQS into the record Lambda's SNS trigger passes.

    Inbound SMS take their received time from the SNS timestamp, so it is moved onto devstack's clock:
    otherwise a moved clock would file texts before the replies they answer.
    """
    # Lambda's record spells two keys differently from the SQS envelope (Url vs URL).
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": envelope.get("Type", "Notification"),
            "MessageId": envelope["MessageId"],
            "TopicArn": envelope["TopicArn"],
            "Subject": envelope.get("Subject"),
            "Message": envelope["Message"],
            "Timestamp": on_clock(envelope["Timestamp"], offset),
            "SignatureVersion": envelope.get("SignatureVersion", "1"),
            "Signature": envelope.get("Signature", ""),
            "SigningCertUrl": envelope.get("SigningCertURL", ""),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
            "MessageAttributes": envelope.get("MessageAttributes", {}),
        },
    }


def async_failure_record(
    event: dict[str, Any], function_name: str, region: str, attempts: int, error: BaseException, at: datetime
) -> dict[str, Any]:
    """The invocation record Lambda sends to an async invocation's on-failure destination."""
    return {
        "version": "1.0",
        "timestamp": at.isoformat(),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:{region}:123456789012:function:{function_name}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "stackTrace": traceback.format_exception(error)[-3:],
        },
    }


class SnsToLambdaPump(Pump):
    """SNS -> handler: drain a devstack-only SQS queue subscribed to the topic, invoke like Lambda's async
    SNS trigger (three attempts in all), then park the event on the failure queue."""

    def __init__(
        self,
        *,
        sqs: Any,
        tap_queue_url: str,
        subscription_arn: str,
        failure_queue_url: str,
        handler: LambdaHandler,
        function_name: str,
        region: str,
        clock: MovableClock,
        max_attempts: int = 3,  # Lambda async: the first try plus two retries
        retry_delay: float = 0.2,  # Lambda waits 1 then 2 minutes; locally that would only slow people down
        wait_seconds: int = 1,
        invocation_lock: threading.Lock | None = None,
    ) -> None:
        super().__init__(f"pump-sns-{function_name}", invocation_lock)
        self.sqs = sqs
        self.tap_queue_url = tap_queue_url
        self.subscription_arn = subscription_arn
        self.failure_queue_url = failure_queue_url
        self.handler = handler
        self.function_name = function_name
        self.region = region
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.wait_seconds = wait_seconds

    def poll_once(self) -> None:
        received = self.sqs.receive_message(
            QueueUrl=self.tap_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_seconds
        )
        for message in received.get("Messages", []):
            if self.stopping:
                return  # undeleted: it comes back after the visibility timeout, as with a crash
            self._deliver(message)

    def _deliver(self, message: Mapping[str, Any]) -> None:
        try:
            envelope = json.loads(message["Body"])
            event: dict[str, Any] = {"Records": [sns_record_from_envelope(envelope, self.subscription_arn, self.clock.offset())]}
        except (ValueError, KeyError, TypeError) as exc:
            # Not an SNS envelope: no handler can make sense of it, so park it as-is rather than loop on it.
            LOG.error("%s: not an SNS envelope, parking it: %s", self.name, exc)
            self._park({"Records": [], "unparsable_body": message.get("Body")}, 0, exc)
        else:
            error = self._invoke_with_retries(event)
            if error is not None:
                self._park(event, self.max_attempts, error)
        # Acknowledge only now: handled, or parked on the failure queue.
        self.sqs.delete_message(QueueUrl=self.tap_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _invoke_with_retries(self, event: dict[str, Any]) -> BaseException | None:
        error: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.invoke(self.handler, event, self.function_name, self.region)
                return None
            except Exception as exc:
                error = exc
                LOG.warning("%s: attempt %d/%d failed: %r", self.name, attempt, self.max_attempts, exc)
                if attempt < self.max_attempts:
                    self._stopping.wait(self.retry_delay * attempt)
        return error

    def _park(self, event: dict[str, Any], attempts: int, error: BaseException) -> None:
        record = async_failure_record(event, self.function_name, self.region, attempts, error, self.clock.now())
        self.sqs.send_message(QueueUrl=self.failure_queue_url, MessageBody=json.dumps(record))
        LOG.error("%s: gave up after %d attempts; event parked on the failure queue", self.name, attempts, exc_info=error)


# ---------------------------------------------------------------------------------------------- SQS


def _lambda_message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API message attributes -> the lower-camel shape Lambda's SQS event uses."""
    converted: dict[str, Any] = {}
    for name, value in attributes.items():
        entry: dict[str, Any] = {"dataType": value.get("DataType", "String"), "stringListValues": [], "binaryListValues": []}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = value["BinaryValue"]
        converted[name] = entry
    return converted


def sqs_event(messages: list[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS trigger passes for a batch of received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": _lambda_message_attributes(m.get("MessageAttributes", {})),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def failed_ids(response: Any, batch_ids: set[str]) -> set[str]:
    """Which records failed, per Lambda's partial batch response rules.

    No response, or an empty list, means all succeeded; a malformed response, or an identifier that is
    empty or not in the batch, fails the whole batch (that is what Lambda does).
    """
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        return set(batch_ids)
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    result: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return set(batch_ids)
        result.add(identifier)
    return result


SQS_MAX_MESSAGES = 10  # ReceiveMessage and DeleteMessageBatch take at most ten


class SqsToLambdaPump(Pump):
    """SQS -> handler with partial batch failure: delete what succeeded; the rest reappears after the
    visibility timeout and the queue's redrive policy moves it to the DLQ after maxReceiveCount tries."""

    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: LambdaHandler,
        function_name: str,
        region: str,
        batch_size: int = 10,
        wait_seconds: int = 1,
        invocation_lock: threading.Lock | None = None,
    ) -> None:
        super().__init__(f"pump-sqs-{function_name}", invocation_lock)
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler = handler
        self.function_name = function_name
        self.region = region
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds

    def poll_once(self) -> None:
        messages = self._receive()
        if not messages:
            return
        batch_ids = {m["MessageId"] for m in messages}
        try:
            event = sqs_event(messages, self.queue_arn, self.region)
            response = self.invoke(self.handler, event, self.function_name, self.region)
            failed = failed_ids(response, batch_ids)
        except Exception:
            LOG.exception("%s: handler raised; the whole batch will be retried", self.name)
            failed = batch_ids
        done = [m for m in messages if m["MessageId"] not in failed]
        if failed:
            LOG.warning(
                "%s: %d records failed, %d done; failures return after the visibility timeout", self.name, len(failed), len(done)
            )
        for start in range(0, len(done), SQS_MAX_MESSAGES):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])],
            )

    def _receive(self) -> list[Mapping[str, Any]]:
        """Up to ``batch_size`` messages, ten per ReceiveMessage (the API's most), as Lambda's poller gathers a batch
        over its batching window: the first call waits for a message, the next ones only take what is there."""
        messages: list[Mapping[str, Any]] = []
        while len(messages) < self.batch_size:
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(SQS_MAX_MESSAGES, self.batch_size - len(messages)),
                WaitTimeSeconds=0 if messages else self.wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = received.get("Messages", [])
            messages += got
            if len(got) < SQS_MAX_MESSAGES:
                return messages
        return messages


# ----------------------------------------------------------------------------------------- Scheduler

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def due_time(expression: str, timezone_name: str | None) -> datetime | None:
    """When an ``at(yyyy-mm-ddThh:mm:ss)`` schedule fires, in UTC; None for rate()/cron() expressions."""
    match = _AT.match(expression.strip())
    if not match:
        return None
    local = datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone_name or "UTC"))
    return local.astimezone(timezone.utc)


def _queue_name(arn: str) -> str:
    """The queue a target ARN names; ValueError for anything else (every smscast schedule targets a queue)."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "sqs":
        raise ValueError(f"devstack delivers schedules only to SQS queues, not to {arn!r}")
    return parts[5]


class SchedulerPump(Pump):
    """Scheduler -> queues: moto stores schedules but never fires them, so this fires due ``at()`` ones
    by devstack's clock, then deletes them (ActionAfterCompletion DELETE) or remembers it fired them."""

    max_attempts = 3  # then the target's DeadLetterConfig queue gets the input (when it has one)

    def __init__(
        self,
        *,
        scheduler: Any,
        sqs: Any,
        group_name: str,
        clock: NowSource,
        poll_seconds: float = 1.0,
        invocation_lock: threading.Lock | None = None,
    ) -> None:
        super().__init__(f"pump-scheduler-{group_name}", invocation_lock)
        self.scheduler = scheduler
        self.sqs = sqs
        self.group_name = group_name
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._fired: set[tuple[str, str]] = set()  # (name, last modification) of schedules kept after firing
        self._attempts: dict[tuple[str, str], int] = {}
        self._warned: set[str] = set()

    def poll_once(self) -> None:
        self.fire_due()
        self._stopping.wait(self.poll_seconds)

    def fire_due(self) -> int:
        """Deliver every due schedule once; returns how many were delivered."""
        delivered = 0
        for summary in self._list():
            if self.stopping:
                break
            if summary.get("State") != "ENABLED":
                continue
            try:
                if self._maybe_fire(summary["Name"]):
                    delivered += 1
            except Exception:
                LOG.exception("%s: schedule %s could not be handled", self.name, summary.get("Name"))
        return delivered

    def _list(self) -> list[dict[str, Any]]:
        schedules: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"GroupName": self.group_name}
        while True:
            page = self.scheduler.list_schedules(**kwargs)
            schedules.extend(page.get("Schedules", []))
            if not page.get("NextToken"):
                return schedules
            kwargs["NextToken"] = page["NextToken"]

    def _maybe_fire(self, name: str) -> bool:
        try:
            schedule = self.scheduler.get_schedule(Name=name, GroupName=self.group_name)
        except self.scheduler.exceptions.ResourceNotFoundException:
            return False  # deleted between list and get
        identity = (name, str(schedule.get("LastModificationDate", "")))
        if identity in self._fired:
            return False
        due = due_time(schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone"))
        if due is None:
            if name not in self._warned:
                self._warned.add(name)
                LOG.warning("%s: %s uses %r; devstack fires only at() schedules", self.name, name, schedule["ScheduleExpression"])
            return False
        if due > self.clock.now():
            return False
        target = schedule["Target"]
        try:
            self._deliver(target)
        except Exception as exc:
            attempts = self._attempts.get(identity, 0) + 1
            self._attempts[identity] = attempts
            LOG.warning("%s: %s delivery attempt %d failed: %r", self.name, name, attempts, exc)
            if attempts < self.max_attempts:
                return False
            self._dead_letter(name, target, exc)
        self._attempts.pop(identity, None)
        if schedule.get("ActionAfterCompletion") == "DELETE":
            try:
                self.scheduler.delete_schedule(Name=name, GroupName=self.group_name)
            except self.scheduler.exceptions.ResourceNotFoundException:
                pass
        else:
            self._fired.add(identity)
        LOG.info("%s: fired %s (due %s)", self.name, name, due.isoformat())
        return True

    def _deliver(self, target: Mapping[str, Any]) -> None:
        url = self.sqs.get_queue_url(QueueName=_queue_name(target["Arn"]))["QueueUrl"]
        kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": target.get("Input", "{}")}
        group = (target.get("SqsParameters") or {}).get("MessageGroupId")
        if group:
            kwargs["MessageGroupId"] = group
        self.sqs.send_message(**kwargs)

    def _dead_letter(self, name: str, target: Mapping[str, Any], error: BaseException) -> None:
        dlq_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not dlq_arn:
            LOG.error("%s: %s failed %d times, no dead-letter queue: dropped (%r)", self.name, name, self.max_attempts, error)
            return
        queue_name = _queue_name(dlq_arn)
        url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self.sqs.send_message(
            QueueUrl=url,
            MessageBody=target.get("Input", "{}"),
            MessageAttributes={
                "ERROR_CODE": {"DataType": "String", "StringValue": type(error).__name__},
                "ERROR_MESSAGE": {"DataType": "String", "StringValue": str(error)[:256] or "error"},
                "RETRY_ATTEMPTS": {"DataType": "Number", "StringValue": str(self.max_attempts)},
                "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
            },
        )
        LOG.error("%s: %s failed %d times; input sent to %s", self.name, name, self.max_attempts, queue_name)
