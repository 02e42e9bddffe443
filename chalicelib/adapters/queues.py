"""The ``JobQueue`` port on SQS: campaign jobs one per message, recipient send batches ten per API call."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from chalicelib.adapters.aws_errors import translate
from chalicelib.adapters.resources import QueueSpec
from chalicelib.domain.errors import SmscastError, TransientError
from chalicelib.domain.jobs import Job, job_to_json
from chalicelib.domain.list_jobs import RunListJob
from chalicelib.domain.sending import SendBatch
from chalicelib.domain.shopify import Webhook
from chalicelib.observability import INHERIT, SERVICE

logger = Logger(service=SERVICE, child=True, level=INHERIT)

MAX_DELAY_SECONDS = 900  # SQS refuses DelaySeconds above 15 minutes
BATCH_ENTRIES = 10  # SendMessageBatch takes at most ten entries
# SQS caps one message and the sum of a batch request at 256 KiB. Send batches carry phone numbers only, so
# a body near this size means a planner bug (thousands of phones in one message): refuse it loudly.
MAX_BODY_BYTES = 64 * 1024
MAX_REQUEST_BYTES = 200 * 1024  # a chunk is cut before its bodies add up to this, well under the 256 KiB cap

_RETRYABLE = {
    "ThrottlingException",
    "RequestThrottled",
    "ServiceUnavailable",
    "InternalError",
    "AWS.SimpleQueueService.RequestThrottled",
    "KmsThrottled",
}

UrlSource = Callable[[], str] | str


def _translate(exc: ClientError, action: str) -> SmscastError:
    return translate(exc, service="SQS", action=action, retryable=_RETRYABLE)


def clamp_delay(delay_seconds: int) -> int:
    """DelaySeconds SQS accepts (0..900). Longer waits are clamped, not refused: every job and batch is
    re-checked when it runs (status, quiet hours, pacing), so arriving early only means waiting again."""
    if delay_seconds > MAX_DELAY_SECONDS:
        logger.warning(
            "delay of %ss clamped to SQS's %ss maximum; the consumer re-checks and waits again", delay_seconds, MAX_DELAY_SECONDS
        )
    return max(0, min(int(delay_seconds), MAX_DELAY_SECONDS))


def _chunks(bodies: Sequence[str]) -> Iterator[list[str]]:
    """At most ten bodies per chunk, and fewer when their sizes would approach the request cap."""
    chunk: list[str] = []
    size = 0
    for body in bodies:
        body_size = len(body.encode("utf-8"))
        if body_size > MAX_BODY_BYTES:
            raise ValueError(f"a send batch body of {body_size} bytes exceeds {MAX_BODY_BYTES}: put fewer phones per batch")
        if chunk and (len(chunk) == BATCH_ENTRIES or size + body_size > MAX_REQUEST_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(body)
        size += body_size
    if chunk:
        yield chunk


class SqsJobQueue:
    """Implements ``services.ports.JobQueue``; queue URLs may be given lazily (resolved on first send)."""

    def __init__(self, client: Any, *, jobs_queue_url: UrlSource, sends_queue_url: UrlSource) -> None:
        self._client = client
        self._jobs_url = jobs_queue_url
        self._sends_url = sends_queue_url

    @staticmethod
    def _resolve(source: UrlSource) -> str:
        return source() if callable(source) else source

    def enqueue(self, job: Job, *, delay_seconds: int = 0) -> None:
        """Put one job on the campaign-jobs queue."""
        try:
            self._client.send_message(
                QueueUrl=self._resolve(self._jobs_url),
                MessageBody=json.dumps(job_to_json(job)),
                DelaySeconds=clamp_delay(delay_seconds),
            )
        except ClientError as exc:
            raise _translate(exc, f"queue a {job.kind} job") from exc

    def enqueue_sends(self, batches: Sequence[SendBatch], *, delay_seconds: int = 0) -> None:
        """Put send batches on the sends queue, ten per SendMessageBatch call; an entry SQS fails is retried
        once, then TransientError (the caller's redelivery re-queues; the send ledger makes that harmless)."""
        if not batches:
            return
        url = self._resolve(self._sends_url)
        delay = clamp_delay(delay_seconds)
        for chunk in _chunks([json.dumps(batch.to_json()) for batch in batches]):
            failed = self._send_chunk(url, dict(enumerate(chunk)), delay)
            if failed:
                failed = self._send_chunk(url, {i: chunk[i] for i in failed}, delay)
            if failed:
                codes = sorted({code for code in failed.values()})
                raise TransientError(
                    f"SQS failed {len(failed)} send batch(es) twice: {', '.join(codes)}", details={"aws_codes": codes}
                )

    def _send_chunk(self, url: str, entries: dict[int, str], delay: int) -> dict[int, str]:
        """Send one chunk; returns the entries SQS reported as failed (index -> error code)."""
        try:
            response = self._client.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "MessageBody": body, "DelaySeconds": delay} for i, body in entries.items()],
            )
        except ClientError as exc:
            raise _translate(exc, "queue send batches") from exc
        failed: dict[int, str] = {}
        for failure in response.get("Failed", []):
            failed[int(failure["Id"])] = str(failure.get("Code", "unknown"))
            logger.warning(
                "SQS failed send batch entry %s: %s (sender fault: %s)",
                failure["Id"],
                failure.get("Code"),
                failure.get("SenderFault"),
            )
        return failed


class SqsWebhookQueue:
    """Implements ``services.ports.WebhookQueue`` on the shopify-webhooks queue."""

    def __init__(self, client: Any, *, queue_url: UrlSource) -> None:
        self._client = client
        self._url = queue_url

    def put(self, webhook: Webhook) -> None:
        """Queue one verified webhook."""
        url = self._url() if callable(self._url) else self._url
        try:
            self._client.send_message(QueueUrl=url, MessageBody=json.dumps(webhook.to_json()))
        except ClientError as exc:
            raise _translate(exc, f"queue a {webhook.topic.value} webhook") from exc


class QueueLocator:
    """Finds this deployment's queues by name once (GetQueueUrl, GetQueueAttributes) and remembers them."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._urls: dict[str, str] = {}
        self._arns: dict[str, str] = {}

    def url(self, spec: QueueSpec) -> str:
        """The queue's URL."""
        name = spec.name(self._prefix)
        if name not in self._urls:
            try:
                self._urls[name] = str(self._client.get_queue_url(QueueName=name)["QueueUrl"])
            except ClientError as exc:
                raise _translate(exc, f"find queue {name}") from exc
        return self._urls[name]

    def arn(self, spec: QueueSpec) -> str:
        """The queue's ARN (what a Scheduler target names)."""
        name = spec.name(self._prefix)
        if name not in self._arns:
            url = self.url(spec)
            try:
                attributes = self._client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
            except ClientError as exc:
                raise _translate(exc, f"describe queue {name}") from exc
            self._arns[name] = str(attributes["QueueArn"])
        return self._arns[name]


class SqsListJobQueue:
    """Implements ``services.ports.ListJobQueue`` on the list-jobs queue."""

    def __init__(self, client: Any, *, queue_url: UrlSource) -> None:
        self._client = client
        self._url = queue_url

    def enqueue(self, shop_id: str, job_id: str, *, delay_seconds: int = 0) -> None:
        """Put one run-this-job message on the queue."""
        url = self._url() if callable(self._url) else self._url
        try:
            body = json.dumps(RunListJob(shop_id, job_id).to_json())
            self._client.send_message(QueueUrl=url, MessageBody=body, DelaySeconds=clamp_delay(delay_seconds))
        except ClientError as exc:
            raise _translate(exc, "queue a list job") from exc
