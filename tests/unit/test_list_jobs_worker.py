"""The list-jobs worker with realistic SQS events on fakes: a job runs, a malformed message is dropped, a job whose
message fails its last delivery is marked failed (so the dashboard stops polling), and earlier failures retry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from chalicelib.composition import Container, use_container
from chalicelib.domain.list_jobs import JobStatus, RunListJob
from chalicelib.services import imports
from chalicelib.settings import Settings
from chalicelib.workers import list_jobs as worker
from devstack.pumps import LocalLambdaContext
from tests.fakes import FakeListJobQueue, fake_ports
from tests.numbers import create_shop

SHOP = "demo.myshopify.com"


def _event(body: Any, *, receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "r-1",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1700000000000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:smscast-dev-list-jobs",
                "awsRegion": "us-east-1",
            }
        ]
    }


def _handle(event: dict[str, Any]) -> dict[str, Any]:
    return worker.handle_sqs_event(event, LocalLambdaContext(function_name="list_jobs", timeout_seconds=900))


@pytest.fixture
def container() -> Iterator[Container]:
    ports = fake_ports()
    create_shop(ports, shop_id=SHOP, settings={})
    settings = Settings.from_env({"AWS_REGION": "us-east-1", "SMSCAST_SMS_PROVIDER": "sandbox"})
    built = Container(settings, ports=ports)
    use_container(built)
    yield built
    use_container(None)


def _started(container: Container, data: bytes | None) -> RunListJob:
    ports = container.ports
    created = imports.create_import(ports, SHOP, "w.csv")
    if data is not None:
        ports.import_files.upload(SHOP, imports.upload_name(created.job.job_id), data)  # type: ignore[attr-defined]
        imports.start_import(ports, SHOP, created.job.job_id)
    else:  # queued, then its file vanished: every read fails
        ports.import_files.upload(SHOP, imports.upload_name(created.job.job_id), b"x")  # type: ignore[attr-defined]
        imports.start_import(ports, SHOP, created.job.job_id)
        del ports.import_files.files[(SHOP, imports.upload_name(created.job.job_id))]  # type: ignore[attr-defined]
    queue = ports.list_job_queue
    assert isinstance(queue, FakeListJobQueue)
    (message,) = queue.take()
    return message


def test_a_job_runs_and_a_malformed_message_is_dropped(container: Container) -> None:
    message = _started(container, b"phone,consent_date,consent_source\n+15551230040,2026-01-01,checkout\n")
    assert _handle(_event(message.to_json())) == {"batchItemFailures": []}
    job = container.ports.list_jobs.get(SHOP, message.job_id)
    assert job is not None and job.status is JobStatus.DONE
    assert _handle(_event("not json")) == {"batchItemFailures": []}
    assert _handle(_event({"kind": "start"})) == {"batchItemFailures": []}


def test_a_failing_job_is_retried_then_failed_on_its_last_delivery(container: Container) -> None:
    message = _started(container, None)
    # One record, failed: Powertools fails the whole invocation, and SQS delivers the message again.
    with pytest.raises(BatchProcessingError):
        _handle(_event(message.to_json(), receive_count=1))
    job = container.ports.list_jobs.get(SHOP, message.job_id)
    assert job is not None and job.status is JobStatus.QUEUED  # retried: not given up yet
    with pytest.raises(BatchProcessingError):
        _handle(_event(message.to_json(), receive_count=5))
    job = container.ports.list_jobs.get(SHOP, message.job_id)
    assert job is not None and (job.status, job.error_code) == (JobStatus.FAILED, "job_failed")
