"""Use cases for CSV exports: the subscriber list (the list's filters) to a file with a download link, and
one subscriber's consent proof as a CSV answer.

Why a file and a link for the list: API Gateway and Lambda buffer a response (6 MB at most), so a list of
100,000 subscribers (about 12 MB of CSV) cannot be one answer, and a response built in memory would grow
with the list. The list is read page by page from the subscriber store (the same query, filters and order as
GET /subscribers) and each page's CSV lines go straight to the export store, which uploads them in parts:
at any time the export holds one page of subscribers and one upload part, whatever the list's size
(bench/exports.py: peak 0.5 MiB for 1,000 subscribers, 8.9 MiB for 100,000, the 8 MiB part included).

It ran inside the request at first, which bounds the list it can serve by time, not memory; now the route
queues an export job (services/list_jobs.py) and the list-jobs worker (15 minutes, 1 GB) runs this. bench/exports.py makes
about 45,000 rows a second on one free core (without DynamoDB); the API function has 512 MB, about a third
of a vCPU, and 25 s, and each page of 200 is one DynamoDB query (500 for 100,000 subscribers) whose items
PynamoDB must also decode. By that estimate, not a measurement in AWS, 100,000 subscribers take 15-25 s
(queries of 10-20 ms included): at the edge of what a request may take.
That step is taken: the same ``export_subscribers`` (it takes only ports) runs in the list-jobs worker, the
route answering 202 and GET /subscribers/exports/{id} the file's link when it is there; an upload the
Lambda timeout cuts short is removed by the bucket's lifecycle (AbortIncompleteMultipartUpload).

The consent proof is one subscriber's history (a handful of events): a direct ``text/csv`` answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from chalicelib.domain.exports import CONSENT_COLUMNS, SUBSCRIBER_COLUMNS, consent_row, csv_chunks, subscriber_row
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberSearch, SubscriberStatus
from chalicelib.services.ports import Ports
from chalicelib.services.subscribers import get_subscriber

CSV = "text/csv; charset=utf-8"
# Subscribers read per store query: the most one page of the store gives (MAX_LIMIT of the DynamoDB cursors,
# which tests/integration/test_export_files.py holds this to), so the fewest round trips.
EXPORT_PAGE = 200
# How long the download link works. The file itself is gone a day later (the exports bucket's lifecycle).
LINK_SECONDS = 15 * 60


@dataclass(frozen=True)
class SubscriberFilters:
    """The subscriber list's filters (GET /subscribers): status, source, a search by phone or name."""

    status: SubscriberStatus | None = None
    source: Source | None = None
    search: str | None = None


@dataclass(frozen=True)
class ExportedFile:
    """A file written for the merchant: where to fetch it, until when, and how many rows it holds."""

    name: str
    url: str
    rows: int
    expires_at: datetime


def subscriber_pages(
    ports: Ports, shop_id: str, filters: SubscriberFilters, *, page_size: int = EXPORT_PAGE
) -> Iterator[list[Subscriber]]:
    """The shop's subscribers matching the filters, one store page at a time, each read only when asked for."""
    search = SubscriberSearch.of(filters.search) if filters.search is not None else None
    cursor: str | None = None
    while True:
        page = ports.subscribers.page(
            shop_id, status=filters.status, source=filters.source, search=search, limit=page_size, cursor=cursor
        )
        if page.items:
            yield list(page.items)
        if page.cursor is None:
            return
        cursor = page.cursor


def export_name(now: datetime) -> str:
    """A new export file's name."""
    # The time names the file for the merchant; the random part keeps two exports of the same instant (or of a
    # frozen clock) from overwriting each other, and makes the name unguessable.
    return f"subscribers-{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}.csv"


def export_subscribers(
    ports: Ports, shop_id: str, filters: SubscriberFilters, *, page_size: int = EXPORT_PAGE, name: str | None = None
) -> ExportedFile:
    """Write the shop's subscribers matching the filters as CSV to the export store, streamed page by page
    (``name``: the export job's file, written again whole if the job runs again)."""
    ports.shops.get(shop_id)
    now = ports.clock.now()
    name = name or export_name(now)
    counted = [0]

    def rows() -> Iterator[list[tuple[str, ...]]]:
        for page in subscriber_pages(ports, shop_id, filters, page_size=page_size):
            counted[0] += len(page)
            yield [subscriber_row(s) for s in page]

    ports.export_files.store(shop_id, name, csv_chunks(SUBSCRIBER_COLUMNS, rows()), content_type=CSV)
    url = ports.export_files.link(shop_id, name, expires_in=LINK_SECONDS)
    return ExportedFile(name=name, url=url, rows=counted[0], expires_at=now + timedelta(seconds=LINK_SECONDS))


@dataclass(frozen=True)
class ConsentProof:
    """One subscriber's consent history as a CSV file."""

    phone: str  # E.164
    data: bytes

    @property
    def filename(self) -> str:
        """The download's name: the number's digits (our own text, safe in a header)."""
        return f"consent-{self.phone.lstrip('+')}.csv"


def consent_proof_csv(ports: Ports, shop_id: str, phone: str) -> ConsentProof:
    """One subscriber's consent history as CSV, oldest first; another shop's number is simply not found."""
    subscriber, history = get_subscriber(ports, shop_id, phone)
    data = b"".join(csv_chunks(CONSENT_COLUMNS, [[consent_row(e) for e in history]]))
    return ConsentProof(phone=subscriber.phone, data=data)
