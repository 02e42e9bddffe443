"""Idempotency keys (Stripe-style) for requests that must not happen twice: the port and the rules.

A request carrying ``Idempotency-Key`` takes the key (scoped by shop and route) before the use case runs.
A repeat with the same body gets the first response again; with another body, 422; while the first is
still running, 409. A request that fails gives the key back, so a retry runs again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from chalicelib.domain.errors import Conflict, InvalidInput
from chalicelib.observability import INHERIT, SERVICE

logger = Logger(service=SERVICE, child=True, level=INHERIT)

# Stripe keeps keys for 24 h: long enough for any client retry, short enough to let the table stay small.
KEEP_FOR = timedelta(hours=24)
# A request that crashed (Lambda killed mid-call) leaves its key "in progress"; after this lease another
# request may take it over. It must outlast the API function's timeout (25 s), or a slow first request
# and its retry could both run.
LEASE = timedelta(seconds=60)
_KEY = re.compile(r"[\x20-\x7e]{1,255}")  # printable ASCII, as Stripe accepts


class IdempotencyKeyReused(InvalidInput):
    """The key was already used for a different request (HTTP 422)."""

    code = "idempotency_key_reused"


@dataclass(frozen=True)
class StoredResponse:
    """A finished request's answer: status code and JSON body."""

    status: int
    body: Any


@dataclass(frozen=True)
class IdempotencyRecord:
    """Who holds a key: the request's fingerprint, and its response once it finished (None while running)."""

    fingerprint: str
    response: StoredResponse | None
    lease_until: datetime
    expires_at: datetime


class IdempotencyStore(Protocol):
    """Idempotency records; every write is conditional so that one request holds a key at a time."""

    def start(
        self, key: str, fingerprint: str, *, now: datetime, lease_until: datetime, expires_at: datetime
    ) -> IdempotencyRecord | None:
        """Take ``key`` (None) if it is free, expired or its lease ran out; else the record that holds it."""
        ...

    def finish(self, key: str, fingerprint: str, response: StoredResponse, *, expires_at: datetime) -> None:
        """Store the response of the request holding ``key`` with ``fingerprint``."""
        ...

    def release(self, key: str, fingerprint: str) -> None:
        """Give back a key still in progress under ``fingerprint`` (a finished record is kept)."""
        ...


def check_key(raw: str) -> str:
    """The header value if it is 1-255 printable ASCII characters, else InvalidInput."""
    if not _KEY.fullmatch(raw):
        raise InvalidInput("Idempotency-Key must be 1 to 255 printable ASCII characters", code="invalid_idempotency_key")
    return raw


def fingerprint(path: str, body: bytes | None) -> str:
    """What makes two requests "the same": the concrete path and the body (JSON compared by value)."""
    canonical: bytes = body or b""
    try:
        canonical = json.dumps(json.loads(canonical), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        pass  # not JSON: compare the bytes (the request fails with 400 and is not kept anyway)
    return hashlib.sha256(path.encode() + b"\n" + canonical).hexdigest()


def once(
    store: IdempotencyStore,
    now: datetime,
    *,
    shop_id: str,
    route: str,
    key: str,
    request_fingerprint: str,
    run: Callable[[], StoredResponse],
) -> tuple[StoredResponse, bool]:
    """``run()`` at most once per (shop, route, key) in 24 h; the response and whether it is a replay."""
    scoped = f"{shop_id}#{route}#{key}"
    held = store.start(scoped, request_fingerprint, now=now, lease_until=now + LEASE, expires_at=now + KEEP_FOR)
    if held is not None:
        if held.fingerprint != request_fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
        if held.response is None:
            raise Conflict("a request with this Idempotency-Key is still in progress", code="request_in_progress")
        return held.response, True
    try:
        response = run()
    except BaseException:
        _give_back(store, scoped, request_fingerprint)
        raise
    if response.status >= 400:
        _give_back(store, scoped, request_fingerprint)  # only successes are kept: a retry must run again
        return response, False
    try:
        store.finish(scoped, request_fingerprint, response, expires_at=now + KEEP_FOR)
    except Exception:
        # The work is done: answer it. A retry sees "in progress" until the lease ends, then runs again.
        logger.exception("could not store an idempotent response", extra={"route": route})
    return response, False


def _give_back(store: IdempotencyStore, key: str, request_fingerprint: str) -> None:
    try:
        store.release(key, request_fingerprint)
    except Exception:
        # Keep the request's own error; the key frees itself when its lease ends.
        logger.exception("could not release an idempotency key")
