"""Integration fixtures: DynamoDB (and any other AWS service) faked by moto, tables created from tables.py,
plus the two things moto does not do that tests of concurrency need: atomic requests under threads
(``serialised_moto``, used by ``race``) and DynamoDB's transaction conflicts (``contention``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeVar, cast

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from chalicelib.adapters.dynamo.tables import ALL_TABLES, bind_tables, create_tables
from chalicelib.adapters.resources import create_messaging_resources

TEST_PREFIX = "test"
TEST_REGION = "us-east-1"

R = TypeVar("R")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, moto for every AWS service, and every table bound to ``test-*`` and created empty."""
    _fake_credentials(monkeypatch)
    with mock_aws():
        bind_tables(TEST_PREFIX, TEST_REGION)
        create_tables()
        yield


def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        # A developer's profile or devstack endpoint must never leak into a test.
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", TEST_REGION)
    monkeypatch.setenv("AWS_REGION", TEST_REGION)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Fake credentials, moto, and an S3 client with the messaging resources (the media and exports buckets among
    them); no tables."""
    _fake_credentials(monkeypatch)
    with mock_aws():
        client = boto3.client("s3", region_name=TEST_REGION)
        sqs, sns = boto3.client("sqs", region_name=TEST_REGION), boto3.client("sns", region_name=TEST_REGION)
        create_messaging_resources(sqs, sns, boto3.client("scheduler", region_name=TEST_REGION), TEST_PREFIX, s3=client)
        yield client


@pytest.fixture
def serialised_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialise faked AWS requests. moto's DynamoDB is not thread-safe (a cancelled transaction restores a
    deep copy of whole tables, erasing a concurrent winner's write); real DynamoDB serialises writes to one
    item. With this lock each request is atomic, as in DynamoDB, while threads still interleave between
    requests (a read and the conditional write that follows it), which is where the races under test live."""
    lock = threading.RLock()
    original = BotocoreStubber.__call__

    def locked(self: BotocoreStubber, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", locked)


class Race(Protocol):
    """``race(n, action)``: ``action(i)`` for i in 0..n-1 on ``n`` threads released together; the results in order."""

    def __call__(self, n: int, action: Callable[[int], R]) -> list[R]: ...


@pytest.fixture
def race(serialised_moto: None) -> Race:
    """Run actions on threads released together, over moto made request-atomic (``serialised_moto``)."""

    def run_all(n: int, action: Callable[[int], R]) -> list[R]:
        barrier = threading.Barrier(n)

        def run(i: int) -> R:
            barrier.wait()
            return action(i)

        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(run, range(n)))

    return run_all


class Contention(Protocol):
    """``with contention(operation, times) as answered:`` the next ``times`` calls of the DynamoDB
    ``operation`` fail as if another transaction were writing the same item; ``answered`` lists them."""

    def __call__(self, operation: str, times: int) -> AbstractContextManager[list[str]]: ...


@contextmanager
def _contention(operation: str, times: int) -> Iterator[list[str]]:
    answered: list[str] = []

    def conflict(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if len(answered) >= times:
            return None
        answered.append(operation)
        # What DynamoDB answers (moto never does): TransactWriteItems is cancelled with a TransactionConflict
        # reason, a single-item write fails with TransactionConflictException.
        if operation == "TransactWriteItems":
            items = json.loads(params["body"])["TransactItems"]
            reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(items) - 1)
            body: dict[str, Any] = {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons}
        else:
            body = {"Error": {"Code": "TransactionConflictException", "Message": "Transaction is ongoing for the item"}}
        body["ResponseMetadata"] = {"HTTPStatusCode": 400}
        return AWSResponse("https://dynamodb.us-east-1.amazonaws.com", 400, HTTPHeaders(), None), body

    # botocore's before-call hook: the error travels through botocore and PynamoDB exactly like a real one.
    event = f"before-call.dynamodb.{operation}"
    # The stubs type hooks as returning None; a before-call hook's return value is botocore's documented short-circuit.
    handler = cast(Callable[..., None], conflict)
    emitters = {id(e): e for e in (model._get_connection().connection.client.meta.events for model in ALL_TABLES)}
    for emitter in emitters.values():
        emitter.register(event, handler)
    try:
        yield answered
    finally:
        for emitter in emitters.values():
            emitter.unregister(event, handler)


@pytest.fixture
def contention(aws: None) -> Contention:
    """Inject DynamoDB transaction conflicts into the tables' clients (see ``Contention``)."""
    return _contention
