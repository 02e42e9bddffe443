"""DynamoIdempotencyStore on moto: one holder per key under a race, replay, mismatch, release, lease and expiry."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo.idempotency import DynamoIdempotencyStore
from chalicelib.adapters.dynamo.tables import IdempotencyRow
from chalicelib.domain.errors import Conflict
from chalicelib.services import idempotency
from chalicelib.services.idempotency import IdempotencyKeyReused, IdempotencyRecord, StoredResponse
from tests.integration.conftest import Race

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
KEY = "demo.myshopify.com#POST /campaigns#k-1"


def start(store: DynamoIdempotencyStore, fingerprint: str = "fp", at: datetime = T0) -> IdempotencyRecord | None:
    return store.start(KEY, fingerprint, now=at, lease_until=at + idempotency.LEASE, expires_at=at + idempotency.KEEP_FOR)


@pytest.fixture
def store(aws: None) -> DynamoIdempotencyStore:
    return DynamoIdempotencyStore()


def once(
    store: DynamoIdempotencyStore, at: datetime, fingerprint: str, run: Callable[[], StoredResponse]
) -> tuple[StoredResponse, bool]:
    return idempotency.once(
        store, at, shop_id="demo.myshopify.com", route="POST /campaigns", key="k-1", request_fingerprint=fingerprint, run=run
    )


def test_concurrent_duplicates_one_runs_the_rest_are_in_progress(store: DynamoIdempotencyStore, race: Race) -> None:
    runs: list[int] = []
    refused: list[int] = []
    all_refused = threading.Event()

    def request(i: int) -> str:
        def work() -> StoredResponse:
            runs.append(i)
            all_refused.wait(timeout=30)  # hold the key until every duplicate has been answered
            return StoredResponse(201, {"id": "c-1"})

        try:
            response, replayed = once(store, T0, "fp", work)
        except Conflict as exc:
            refused.append(i)
            if len(refused) == 3:
                all_refused.set()
            return exc.code
        return f"{response.status} replayed={replayed}"

    results = race(4, request)
    assert sorted(results) == ["201 replayed=False"] + ["request_in_progress"] * 3
    assert len(runs) == 1
    # once it finished, a duplicate gets the stored response without running
    replay = once(store, T0 + timedelta(minutes=5), "fp", lambda: pytest.fail("ran twice"))
    assert replay == (StoredResponse(201, {"id": "c-1"}), True)


def test_finished_record_replays_and_refuses_another_body(store: DynamoIdempotencyStore) -> None:
    assert start(store) is None
    store.finish(KEY, "fp", StoredResponse(202, {"id": "r-1", "state": "scheduled"}), expires_at=T0 + idempotency.KEEP_FOR)
    held = start(store, at=T0 + timedelta(hours=1))
    assert held is not None and held.response == StoredResponse(202, {"id": "r-1", "state": "scheduled"})
    with pytest.raises(IdempotencyKeyReused):
        once(store, T0 + timedelta(hours=1), "other", lambda: pytest.fail("must not run"))


def test_release_frees_the_key_but_never_deletes_a_finished_record(store: DynamoIdempotencyStore) -> None:
    assert start(store) is None
    store.release(KEY, "fp")
    assert start(store) is None  # a failed request's retry runs again
    store.finish(KEY, "fp", StoredResponse(201, {}), expires_at=T0 + idempotency.KEEP_FOR)
    store.release(KEY, "fp")
    assert IdempotencyRow.get(KEY).status == 201


def test_record_expires_after_24_hours_even_before_ttl_deletes_it(store: DynamoIdempotencyStore) -> None:
    assert start(store) is None
    store.finish(KEY, "fp", StoredResponse(201, {"id": "c-1"}), expires_at=T0 + idempotency.KEEP_FOR)
    assert start(store, at=T0 + idempotency.KEEP_FOR) is not None  # still kept at exactly 24 h
    later = T0 + idempotency.KEEP_FOR + timedelta(seconds=1)
    assert start(store, "new body", at=later) is None  # expired: taken afresh, even with another body
    row = IdempotencyRow.get(KEY)
    assert row.attribute_values.get("status") is None  # in progress again
    assert (row.fingerprint, int(row.expires_at)) == ("new body", int((later + idempotency.KEEP_FOR).timestamp()))


def test_abandoned_request_is_taken_over_after_its_lease(store: DynamoIdempotencyStore) -> None:
    assert start(store) is None  # the Lambda died here: never finished, never released
    assert start(store, at=T0 + idempotency.LEASE) is not None  # in progress until the lease ends
    assert start(store, at=T0 + idempotency.LEASE + timedelta(seconds=1)) is None
