"""Subscriber routes: add one, list them, one with its consent history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from chalicelib.api.models.common import Body, ErrorDetail, Out, Paged, line, lines
from chalicelib.domain import subscribers as domain
from chalicelib.domain.list_jobs import JobStatus, ListJob
from chalicelib.domain.subscribers import ConsentAction, ConsentSource, Source, SubscriberStatus
from chalicelib.services.exports import ExportedFile, SubscriberFilters
from chalicelib.services.ports import UploadForm
from chalicelib.services.subscribers import AddSubscriber, add_command

HttpsUrl = Annotated[str, StringConstraints(max_length=500, pattern=r"^https://[^\s\x00-\x1f\x7f-\x9f]+$")]


class SubscriberCreate(Body):
    """A subscriber the shop has consent for; the phone in any form that normalises to E.164."""

    phone: Annotated[str, line(40)]
    source: Source = Source.API
    name: Annotated[str, line(100)] | None = None
    profile_url: HttpsUrl | None = None
    consent_text: Annotated[str, lines(500)] | None = None

    def command(self, *, allow_fictional: bool) -> AddSubscriber:
        """The service's command."""
        return add_command(
            phone=self.phone,
            source=self.source,
            name=self.name,
            profile_url=self.profile_url,
            consent_text=self.consent_text,
            allow_fictional=allow_fictional,
        )


class SubscriberQuery(Paged):
    """Filters of the subscriber list."""

    status: SubscriberStatus | None = None
    source: Source | None = None
    # Digits (phone punctuation allowed) find a phone; anything else a piece of a name, whatever its case.
    q: Annotated[str, line(100)] | None = None


class Subscriber(Out):
    """A subscriber as the API shows it."""

    phone: str
    status: SubscriberStatus
    source: Source
    name: str | None
    profile_url: str | None
    customer_id: str | None  # Shopify's customer id (checkout subscribers)
    joined_at: datetime
    updated_at: datetime
    opted_out_at: datetime | None
    # Set when a carrier reported the number cannot receive texts: campaigns skip it (consent is unchanged).
    unreachable_reason: str | None
    unreachable_at: datetime | None
    tags: list[str]  # the merchant's labels (CSV imports)

    @classmethod
    def of(cls, s: domain.Subscriber) -> Subscriber:
        """Converter from the domain."""
        return cls(
            phone=s.phone,
            status=s.status,
            source=s.source,
            name=s.name,
            profile_url=s.profile_url,
            customer_id=s.customer_id,
            joined_at=s.joined_at,
            updated_at=s.updated_at,
            opted_out_at=s.opted_out_at,
            unreachable_reason=s.unreachable_reason,
            unreachable_at=s.unreachable_at,
            tags=list(s.tags),
        )


class ConsentRecord(Out):
    """One consent change: when, what, who and the text shown."""

    at: datetime
    action: ConsentAction
    source: ConsentSource
    text: str
    page_url: str | None = None  # the page a sign-up form was on (source ``web``)


class SubscriberDetail(Subscriber):
    """A subscriber with its consent history, oldest first."""

    consent_history: list[ConsentRecord]

    @classmethod
    def with_history(cls, s: domain.Subscriber, history: Sequence[domain.ConsentEvent]) -> SubscriberDetail:
        """Converter from the domain."""
        records = [ConsentRecord(at=e.at, action=e.action, source=e.source, text=e.text, page_url=e.page_url) for e in history]
        return cls(**Subscriber.of(s).__dict__, consent_history=records)


class SubscriberPage(Out):
    """A page of subscribers."""

    items: list[Subscriber]
    next_cursor: str | None


class SubscriberExportCreate(Body):
    """Which subscribers to export: the list's filters (all of them when none is given)."""

    status: SubscriberStatus | None = None
    source: Source | None = None
    q: Annotated[str, line(100)] | None = None

    def filters(self) -> SubscriberFilters:
        """The service's filters."""
        return SubscriberFilters(status=self.status, source=self.source, search=self.q)


class SubscriberExport(Out):
    """A CSV file of subscribers, written: download it from ``url`` before ``expires_at``."""

    name: str
    url: str
    rows: int
    expires_at: datetime

    @classmethod
    def of(cls, exported: ExportedFile) -> SubscriberExport:
        """Converter from the service."""
        return cls(name=exported.name, url=exported.url, rows=exported.rows, expires_at=exported.expires_at)


class ExportJob(Out):
    """An export of the subscriber list running in the background: ``url`` (valid until ``expires_at``) once
    ``status`` is ``done``."""

    id: str
    status: JobStatus
    name: str
    rows: int
    created_at: datetime
    url: str | None
    expires_at: datetime | None

    @classmethod
    def of(cls, job: ListJob, url: str | None, expires_at: datetime | None) -> ExportJob:
        """Converter from the domain."""
        return cls(
            id=job.job_id,
            status=job.status,
            name=job.file_name,
            rows=job.rows,
            created_at=job.created_at,
            url=url,
            expires_at=expires_at,
        )


class ImportCreate(Body):
    """A CSV import: the name of the file the merchant picked (it is quoted in each subscriber's consent proof)."""

    file_name: Annotated[str, line(200)]


class ImportUpload(Out):
    """How to upload the file: a form POST to ``url`` with ``fields`` and then the file as ``file``; S3 refuses a
    file over ``max_bytes``."""

    url: str
    fields: dict[str, str]
    max_bytes: int
    content_type: str

    @classmethod
    def of(cls, form: UploadForm) -> ImportUpload:
        """Converter from the service."""
        return cls(url=form.url, fields=form.fields, max_bytes=form.max_bytes, content_type=form.content_type)


class ImportCountsOut(Out):
    """Rows read so far, imported (new or activated), merged into known subscribers, and rejected."""

    read: int
    imported: int
    merged: int
    rejected: int


class ImportJob(Out):
    """A CSV import and its progress; ``report_url`` (the rejected rows and why) once it is done."""

    id: str
    status: JobStatus
    file_name: str
    created_at: datetime
    updated_at: datetime
    progress: float  # 0..1, bytes of the file read
    rows_total: int
    counts: ImportCountsOut
    report_url: str | None
    error: ErrorDetail | None

    @classmethod
    def of(cls, job: ListJob, report_url: str | None) -> ImportJob:
        """Converter from the domain."""
        c = job.counts
        error = ErrorDetail(code=job.error_code, message=job.error_message or "") if job.error_code else None
        return cls(
            id=job.job_id,
            status=job.status,
            file_name=job.file_name,
            created_at=job.created_at,
            updated_at=job.updated_at,
            progress=round(job.progress, 4),
            rows_total=job.rows_total,
            counts=ImportCountsOut(read=c.read, imported=c.imported, merged=c.merged, rejected=c.rejected),
            report_url=report_url,
            error=error,
        )


class ImportCreated(ImportJob):
    """A new import and how to upload its file."""

    upload: ImportUpload


class ImportList(Out):
    """The shop's latest imports, newest first."""

    items: list[ImportJob]
