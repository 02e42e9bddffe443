"""``IdempotencyStore`` on the idempotency table: conditional writes decide which request holds a key."""

from __future__ import annotations

from datetime import datetime, timezone

from pynamodb.exceptions import DeleteError, GetError, PutError, UpdateError

from chalicelib.adapters.dynamo.conditions import condition_failed
from chalicelib.adapters.dynamo.keys import utc
from chalicelib.adapters.dynamo.tables import IdempotencyRow
from chalicelib.domain.errors import TransientError
from chalicelib.services.idempotency import IdempotencyRecord, StoredResponse


def _epoch(at: datetime) -> int:
    return int(utc(at).timestamp())


def _record(row: IdempotencyRow) -> IdempotencyRecord:
    response = StoredResponse(int(row.status), row.body) if row.status is not None else None
    return IdempotencyRecord(
        fingerprint=row.fingerprint,
        response=response,
        lease_until=datetime.fromtimestamp(row.lease_until, timezone.utc),
        expires_at=datetime.fromtimestamp(row.expires_at, timezone.utc),
    )


def _unavailable() -> TransientError:
    return TransientError("idempotency records are unavailable; try again", code="temporarily_unavailable")


class DynamoIdempotencyStore:
    """``IdempotencyStore`` on ``IdempotencyRow``."""

    def start(
        self, key: str, fingerprint: str, *, now: datetime, lease_until: datetime, expires_at: datetime
    ) -> IdempotencyRecord | None:
        """Take ``key`` (None) if it is free, expired or its lease ran out; else the record that holds it."""
        at = _epoch(now)
        # TTL deletes up to days late, so an expired record still in the table counts as free.
        free = (
            IdempotencyRow.key.does_not_exist()
            | (IdempotencyRow.expires_at < at)
            | (IdempotencyRow.status.does_not_exist() & (IdempotencyRow.lease_until < at))
        )
        row = IdempotencyRow(key, fingerprint=fingerprint, lease_until=_epoch(lease_until), expires_at=_epoch(expires_at))
        for _ in range(3):  # the holder may release between our failed put and our read: then try again
            try:
                row.save(condition=free)
                return None
            except PutError as exc:
                if not condition_failed(exc):
                    raise _unavailable() from exc
            try:
                held = IdempotencyRow.get(key, consistent_read=True)
            except IdempotencyRow.DoesNotExist:
                continue
            except GetError as exc:
                raise _unavailable() from exc
            return _record(held)
        raise TransientError("idempotency key is changing hands; try again", code="temporarily_unavailable")

    def finish(self, key: str, fingerprint: str, response: StoredResponse, *, expires_at: datetime) -> None:
        """Store the response of the request holding ``key`` with ``fingerprint``."""
        try:
            IdempotencyRow(key).update(
                actions=[
                    IdempotencyRow.status.set(response.status),
                    IdempotencyRow.body.set(response.body),
                    IdempotencyRow.expires_at.set(_epoch(expires_at)),
                ],
                condition=(IdempotencyRow.fingerprint == fingerprint) & IdempotencyRow.status.does_not_exist(),
            )
        except UpdateError as exc:
            raise _unavailable() from exc

    def release(self, key: str, fingerprint: str) -> None:
        """Give back a key still in progress under ``fingerprint`` (a finished record is kept)."""
        try:
            IdempotencyRow(key).delete(
                condition=(IdempotencyRow.fingerprint == fingerprint) & IdempotencyRow.status.does_not_exist()
            )
        except DeleteError as exc:
            if not condition_failed(exc):
                raise _unavailable() from exc
