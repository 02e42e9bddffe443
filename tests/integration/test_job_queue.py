"""SqsJobQueue and QueueLocator against moto: jobs and send batches arrive as sent, ten per call, delays clamped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.adapters.queues import MAX_DELAY_SECONDS, QueueLocator, SqsJobQueue, SqsWebhookQueue
from chalicelib.adapters.resources import CAMPAIGN_JOBS, CAMPAIGN_SENDS, SHOPIFY_WEBHOOKS, create_messaging_resources
from chalicelib.domain.errors import ConfigurationError, TransientError
from chalicelib.domain.jobs import PlanPage, ReleaseWave, job_from_json
from chalicelib.domain.sending import SendBatch
from chalicelib.domain.shopify import Topic, Webhook
from tests.integration.conftest import TEST_PREFIX, TEST_REGION

pytestmark = pytest.mark.integration

SHOP = "alpha.myshopify.com"


@dataclass
class Env:
    sqs: Any
    queue: SqsJobQueue
    locator: QueueLocator
    requests: list[tuple[str, dict[str, Any]]]  # (operation, params) of every SQS call made

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [params for op, params in self.requests if op == operation]

    def receive_all(self, spec: Any) -> list[dict[str, Any]]:
        """Every visible message (deleted as read, so repeated receives drain the queue)."""
        url = self.locator.url(spec)
        found: list[dict[str, Any]] = []
        for _ in range(10):
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for message in messages:
                found.append(message)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found


@pytest.fixture
def env(aws: None) -> Iterator[Env]:
    sqs, sns = boto3.client("sqs", region_name=TEST_REGION), boto3.client("sns", region_name=TEST_REGION)
    create_messaging_resources(sqs, sns, boto3.client("scheduler", region_name=TEST_REGION), TEST_PREFIX)
    requests: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        requests.append((model.name, dict(params)))

    sqs.meta.events.register("provide-client-params.sqs.*", record)
    locator = QueueLocator(sqs, TEST_PREFIX)
    queue = SqsJobQueue(
        sqs, jobs_queue_url=lambda: locator.url(CAMPAIGN_JOBS), sends_queue_url=lambda: locator.url(CAMPAIGN_SENDS)
    )
    yield Env(sqs, queue, locator, requests)


class TestEnqueue:
    def test_a_job_arrives_on_the_jobs_queue_as_its_json(self, env: Env) -> None:
        wave = ReleaseWave(SHOP, "c-1", datetime(2030, 1, 1, 14, 0, tzinfo=timezone.utc), cursor="abc")
        env.queue.enqueue(PlanPage(SHOP, "c-1", 3))
        env.queue.enqueue(wave)

        jobs = [job_from_json(json.loads(m["Body"])) for m in env.receive_all(CAMPAIGN_JOBS)]
        assert sorted(jobs, key=lambda j: j.kind) == [PlanPage(SHOP, "c-1", 3), wave]
        assert env.receive_all(CAMPAIGN_SENDS) == []

    @pytest.mark.parametrize(("asked", "sent"), [(0, 0), (45, 45), (900, 900), (3600, MAX_DELAY_SECONDS), (-5, 0)])
    def test_delay_is_clamped_to_what_sqs_accepts(self, env: Env, asked: int, sent: int) -> None:
        env.queue.enqueue(PlanPage(SHOP, "c-1", 0), delay_seconds=asked)
        env.queue.enqueue_sends([SendBatch(SHOP, "c-1", ("+15551230001",))], delay_seconds=asked)

        (job_call,) = env.calls("SendMessage")
        assert job_call["DelaySeconds"] == sent
        (batch_call,) = env.calls("SendMessageBatch")
        assert [e["DelaySeconds"] for e in batch_call["Entries"]] == [sent]

    def test_a_delayed_job_is_not_visible_yet(self, env: Env) -> None:
        env.queue.enqueue(PlanPage(SHOP, "c-1", 0), delay_seconds=3600)
        assert env.receive_all(CAMPAIGN_JOBS) == []  # clamped to 900 s, still far from now


class TestEnqueueSends:
    def test_25_batches_take_3_calls_and_all_arrive(self, env: Env) -> None:
        batches = [SendBatch(SHOP, "c-1", (f"+1555123{i:04d}", f"+1555124{i:04d}"), attempt=i % 2) for i in range(25)]

        env.queue.enqueue_sends(batches)

        assert [len(call["Entries"]) for call in env.calls("SendMessageBatch")] == [10, 10, 5]
        received = [SendBatch.from_json(json.loads(m["Body"])) for m in env.receive_all(CAMPAIGN_SENDS)]
        assert sorted(received, key=lambda b: b.phones) == sorted(batches, key=lambda b: b.phones)

    def test_nothing_to_send_makes_no_call(self, env: Env) -> None:
        env.queue.enqueue_sends([])
        assert env.calls("SendMessageBatch") == []

    def test_an_oversized_batch_is_refused_before_anything_is_sent(self, env: Env) -> None:
        huge = SendBatch(SHOP, "c-1", tuple(f"+1555{i:07d}" for i in range(5000)))  # ~85 KB of phones
        with pytest.raises(ValueError):
            env.queue.enqueue_sends([SendBatch(SHOP, "c-1", ("+15551230001",)), huge])
        assert env.calls("SendMessageBatch") == []


class TestBatchFailures:
    """Per-entry failures moto never reports, played by botocore's Stubber on a real client."""

    URL = "https://sqs.us-east-1.amazonaws.com/123456789012/test-campaign-sends"

    @pytest.fixture
    def stubbed(self, aws: None) -> Iterator[tuple[SqsJobQueue, Stubber]]:
        client = boto3.client("sqs", region_name=TEST_REGION)
        with Stubber(client) as stubber:
            yield SqsJobQueue(client, jobs_queue_url="unused", sends_queue_url=self.URL), stubber
            stubber.assert_no_pending_responses()

    @staticmethod
    def _batches(n: int) -> list[SendBatch]:
        return [SendBatch(SHOP, "c-1", (f"+1555123{i:04d}",)) for i in range(n)]

    def _expect(self, stubber: Stubber, ids: list[str], failed: list[str]) -> None:
        entries = [{"Id": i, "MessageBody": ANY, "DelaySeconds": 0} for i in ids]
        stubber.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": i, "MessageId": f"m-{i}", "MD5OfMessageBody": "x"} for i in ids if i not in failed],
                "Failed": [{"Id": i, "SenderFault": False, "Code": "InternalError"} for i in failed],
            },
            {"QueueUrl": self.URL, "Entries": entries},
        )

    def test_a_failed_entry_is_retried_once_alone(self, stubbed: tuple[SqsJobQueue, Stubber]) -> None:
        queue, stubber = stubbed
        self._expect(stubber, [str(i) for i in range(3)], failed=["1"])
        self._expect(stubber, ["1"], failed=[])
        queue.enqueue_sends(self._batches(3))

    def test_an_entry_failing_twice_raises_a_transient_error(self, stubbed: tuple[SqsJobQueue, Stubber]) -> None:
        queue, stubber = stubbed
        self._expect(stubber, [str(i) for i in range(3)], failed=["0", "2"])
        self._expect(stubber, ["0", "2"], failed=["2"])
        with pytest.raises(TransientError) as caught:
            queue.enqueue_sends(self._batches(3))
        assert caught.value.details == {"aws_codes": ["InternalError"]}

    def test_a_throttled_call_is_transient_and_access_denied_is_configuration(self, stubbed: tuple[SqsJobQueue, Stubber]) -> None:
        queue, stubber = stubbed
        stubber.add_client_error("send_message_batch", service_error_code="RequestThrottled", http_status_code=400)
        stubber.add_client_error("send_message", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(TransientError):
            queue.enqueue_sends(self._batches(1))
        with pytest.raises(ConfigurationError):
            queue.enqueue(PlanPage(SHOP, "c-1", 0))


class TestQueueLocator:
    def test_finds_url_and_arn_once(self, env: Env) -> None:
        url, arn = env.locator.url(CAMPAIGN_JOBS), env.locator.arn(CAMPAIGN_JOBS)
        assert url.endswith("/test-campaign-jobs")
        assert arn.startswith("arn:aws:sqs:us-east-1:") and arn.endswith(":test-campaign-jobs")
        for _ in range(3):
            assert (env.locator.url(CAMPAIGN_JOBS), env.locator.arn(CAMPAIGN_JOBS)) == (url, arn)
        assert len(env.calls("GetQueueUrl")) == 1
        assert len(env.calls("GetQueueAttributes")) == 1

    def test_a_missing_queue_is_a_configuration_error(self, env: Env) -> None:
        with pytest.raises(ConfigurationError):
            QueueLocator(env.sqs, "nosuchprefix").url(CAMPAIGN_JOBS)


class TestWebhookQueue:
    def test_a_webhook_arrives_on_its_queue_and_reads_back_whole(self, env: Env) -> None:
        queue = SqsWebhookQueue(env.sqs, queue_url=lambda: env.locator.url(SHOPIFY_WEBHOOKS))
        webhook = Webhook(
            SHOP,
            Topic.ORDERS_CREATE,
            "wh-1",
            '{"id": 1, "note": "\\u00e9t\\u00e9 \\"quoted\\""}',
            datetime(2030, 1, 1, tzinfo=timezone.utc),
        )
        queue.put(webhook)
        (message,) = env.receive_all(SHOPIFY_WEBHOOKS)
        assert Webhook.from_json(json.loads(message["Body"])) == webhook
        assert env.receive_all(CAMPAIGN_JOBS) == []

    def test_a_throttled_put_is_transient(self, aws: None) -> None:
        client = boto3.client("sqs", region_name=TEST_REGION)
        queue = SqsWebhookQueue(client, queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q")
        with Stubber(client) as stubber:
            stubber.add_client_error("send_message", service_error_code="RequestThrottled", http_status_code=400)
            with pytest.raises(TransientError):
                queue.put(Webhook(SHOP, Topic.SHOP_REDACT, "wh-1", "{}", datetime(2030, 1, 1, tzinfo=timezone.utc)))
