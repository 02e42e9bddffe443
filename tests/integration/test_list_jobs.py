"""CSV imports and exports on moto (S3, DynamoDB, SQS) through the real adapters and the list-jobs worker: the
upload form takes the file, the worker reads it in ranged GETs across segments and invocations (re-queueing
itself on the list-jobs queue), writes subscribers and the report, and an export job writes its file; shop/redact
deletes the shop's files."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from chalicelib.adapters.resources import EXPORTS_BUCKET, LIST_JOBS, create_messaging_resources
from chalicelib.composition import Container, use_container
from chalicelib.domain.exports import read_cell
from chalicelib.domain.list_jobs import ImportCounts, JobStatus
from chalicelib.domain.subscribers import ConsentSource, SubscriberStatus
from chalicelib.services import imports, list_jobs, privacy, subscribers
from chalicelib.services.exports import SubscriberFilters
from chalicelib.services.ports import Ports
from chalicelib.settings import Settings
from chalicelib.workers import list_jobs as worker
from devstack.pumps import LocalLambdaContext, sqs_event
from tests.integration.conftest import TEST_PREFIX, TEST_REGION
from tests.numbers import create_shop

SHOP = "demo.myshopify.com"
BUCKET = EXPORTS_BUCKET.name(TEST_PREFIX)


@pytest.fixture
def stack(aws: None) -> Iterator[Container]:
    """The composition root over moto: tables, queues and buckets of the ``test`` prefix."""
    sqs, sns = boto3.client("sqs", region_name=TEST_REGION), boto3.client("sns", region_name=TEST_REGION)
    s3 = boto3.client("s3", region_name=TEST_REGION)
    create_messaging_resources(sqs, sns, boto3.client("scheduler", region_name=TEST_REGION), TEST_PREFIX, s3=s3)
    settings = Settings.from_env(
        {
            "AWS_REGION": TEST_REGION,
            "SMSCAST_RESOURCE_PREFIX": TEST_PREFIX,
            "SMSCAST_SMS_PROVIDER": "sandbox",
            "SMSCAST_ALLOW_FICTIONAL_NUMBERS": "true",
        }
    )
    container = Container(settings)
    use_container(container)
    create_shop(container.ports, shop_id=SHOP, settings={})
    yield container
    use_container(None)


def _pump(container: Container, *, timeout_seconds: int = 60) -> int:
    """Play Lambda's poller on the list-jobs queue until it is empty; how many invocations."""
    sqs = container.client("sqs")
    url = container.queues.url(LIST_JOBS)
    arn = container.queues.arn(LIST_JOBS)
    invocations = 0
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return invocations
        context = LocalLambdaContext(function_name="list_jobs", timeout_seconds=timeout_seconds)
        answer = worker.handle_sqs_event(sqs_event(got, arn, TEST_REGION), context)
        assert answer == {"batchItemFailures": []}
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        invocations += 1


def _object(container: Container, name: str) -> bytes:
    body: bytes = container.client("s3").get_object(Bucket=BUCKET, Key=f"{SHOP}/{name}")["Body"].read()
    return body


def _ports(container: Container) -> Ports:
    return container.ports


CSV_FILE = (
    b"phone,name,consent_date,consent_source,tags\n"
    b"+15551230001,Ada,2026-01-05,checkout,vip\n"
    b"12345,Bob,2026-01-05,checkout,\n"
    b"+15551230002,Cy,,checkout,\n"
    b"+15551230001,,2026-02-01,popup,spring\n"
    b"+15551230003,Dee,2026-01-05,keyword,\n"
    b'+15551230004,"Eve, ""E""",2026-01-05,"in store\nform",\n'
    b"+15551230005,Fay,2026-01-05,checkout,\n"
)


def test_an_import_runs_across_segments_and_invocations_on_moto(stack: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    ports = _ports(stack)
    subscribers.add_subscriber(ports, SHOP, subscribers.add_command(phone="+15551230003", allow_fictional=True))
    subscribers.opt_out(ports, SHOP, "+15551230003", source=ConsentSource.SMS, text="STOP")
    # Two rows a segment and a deadline after every segment: ranged GETs from each checkpoint, one invocation each.
    monkeypatch.setattr(imports, "SEGMENT_ROWS", 2)
    turns = itertools.cycle([600.0, 1.0])  # the worker asks before each segment: time for one, then none
    monkeypatch.setattr(worker, "_time_left", lambda: next(turns))

    created = imports.create_import(ports, SHOP, "shop list.csv")
    form = created.upload
    assert ["content-length-range", 1, 20 * 1024 * 1024] in json.loads(_policy(form.fields))["conditions"]
    uploaded = requests.post(form.url, data=form.fields, files={"file": ("list.csv", CSV_FILE, "text/csv")}, timeout=10)
    assert uploaded.status_code in (200, 204), uploaded.text
    started = imports.start_import(ports, SHOP, created.job.job_id)
    assert started.status is JobStatus.QUEUED and started.bytes_total == len(CSV_FILE)
    assert imports.start_import(ports, SHOP, created.job.job_id).version == started.version  # twice: nothing more

    invocations = _pump(stack)
    assert invocations >= 4  # the first pass and a segment, then a segment per turn

    job = ports.list_jobs.get(SHOP, created.job.job_id)
    assert job is not None and job.status is JobStatus.DONE
    assert job.counts == ImportCounts(read=7, imported=3, merged=1, rejected=3)
    assert job.report_name is not None
    report = list(csv.reader(io.StringIO(_object(stack, job.report_name).decode("utf-8-sig"), newline="")))
    assert [[read_cell(cell) for cell in row[:3]] for row in report] == [
        ["line", "phone", "reason"],
        ["3", "12345", "bad_phone"],
        ["4", "+15551230002", "missing_consent"],
        ["5", "+15551230001", "duplicate_in_file"],
        ["6", "+15551230003", "opted_out"],
    ]
    ada = ports.subscribers.get(SHOP, "+15551230001")
    assert ada is not None and ada.tags == ("vip", "spring") and ada.name == "Ada"
    eve = ports.subscribers.get(SHOP, "+15551230004")
    assert eve is not None and eve.name == 'Eve, "E"' and eve.status is SubscriberStatus.ACTIVE
    (consent,) = ports.subscribers.consent_history(SHOP, "+15551230004")
    assert consent.text == "Imported from shop list.csv: consent in store\nform on 2026-01-05"
    stopped = ports.subscribers.get(SHOP, "+15551230003")
    assert stopped is not None and stopped.status is SubscriberStatus.OPTED_OUT
    link = imports.report_link(ports, job)
    assert link is not None and "X-Amz-Expires=900" in link
    assert [j.job_id for j in ports.list_jobs.recent(SHOP, job.kind)] == [job.job_id]


def _policy(fields: dict[str, str]) -> str:
    import base64

    return base64.b64decode(fields["policy"]).decode()


def test_an_export_job_writes_its_file_and_shop_redact_deletes_the_shops_files(stack: Container) -> None:
    ports = _ports(stack)
    for i in range(3):
        subscribers.add_subscriber(ports, SHOP, subscribers.add_command(phone=f"+1555123010{i}", allow_fictional=True))
    job = list_jobs.create_export(ports, SHOP, SubscriberFilters(status=SubscriberStatus.ACTIVE))
    assert _pump(stack) == 1
    done = ports.list_jobs.get(SHOP, job.job_id)
    assert done is not None and (done.status, done.rows) == (JobStatus.DONE, 3)
    data = _object(stack, done.file_name)
    assert data.count(b"+1555123010") == 3
    assert list_jobs.export_link(ports, done) is not None

    s3: Any = stack.client("s3")
    s3.put_object(Bucket=BUCKET, Key="other.myshopify.com/keep.csv", Body=b"x")
    privacy.redact_shop(ports, SHOP)
    left = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert left == ["other.myshopify.com/keep.csv"]
    assert ports.list_jobs.get(SHOP, job.job_id) is None
