"""Integration fixtures: DynamoDB (and any other AWS service) faked by moto, tables created from tables.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from chalicelib.adapters.dynamo.tables import bind_tables, create_tables

TEST_PREFIX = "test"
TEST_REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, moto for every AWS service, and every table bound to ``test-*`` and created empty."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        # A developer's profile or devstack endpoint must never leak into a test.
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", TEST_REGION)
    monkeypatch.setenv("AWS_REGION", TEST_REGION)
    with mock_aws():
        bind_tables(TEST_PREFIX, TEST_REGION)
        create_tables()
        yield
