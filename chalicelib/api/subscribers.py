"""Subscriber routes: add, list, get, opt out, CSV imports, and the CSV exports (the list as a background job, one
subscriber's consent proof at once)."""

from __future__ import annotations

from datetime import timedelta

from chalice import Blueprint, Response

from chalicelib.api.http import Answer, Call, endpoint
from chalicelib.api.models.subscribers import (
    ExportJob,
    ImportCreate,
    ImportCreated,
    ImportJob,
    ImportList,
    ImportUpload,
    Subscriber,
    SubscriberCreate,
    SubscriberDetail,
    SubscriberExportCreate,
    SubscriberPage,
    SubscriberQuery,
)
from chalicelib.domain.list_jobs import JobKind, ListJob
from chalicelib.domain.subscribers import ConsentSource
from chalicelib.services import exports, imports, list_jobs, subscribers

bp = Blueprint(__name__)


@endpoint(bp, "/subscribers", ["POST"], status=201, also=(200,), errors=(409,))
def add_subscriber(call: Call, body: SubscriberCreate) -> Answer[Subscriber]:
    """Add a subscriber the shop has consent for (201), or refresh a known one (200)."""
    command = body.command(allow_fictional=call.ports.allow_fictional_numbers)
    result = subscribers.add_subscriber(call.ports, call.shop_id, command)
    return Answer(Subscriber.of(result.subscriber), 201 if result.created else 200)


@endpoint(bp, "/subscribers", ["GET"])
def list_subscribers(call: Call, query: SubscriberQuery) -> SubscriberPage:
    """A page of subscribers, optionally filtered by status, source and a search by phone or name (``q``)."""
    page = subscribers.list_subscribers(
        call.ports,
        call.shop_id,
        status=query.status,
        source=query.source,
        search=query.q,
        limit=query.limit,
        cursor=query.cursor,
    )
    return SubscriberPage(items=[Subscriber.of(s) for s in page.items], next_cursor=page.cursor)


@endpoint(bp, "/subscribers/{phone}", ["GET"], errors=(404,))
def get_subscriber(call: Call, phone: str) -> SubscriberDetail:
    """One subscriber with its consent history."""
    subscriber, history = subscribers.get_subscriber(call.ports, call.shop_id, phone)
    return SubscriberDetail.with_history(subscriber, history)


@endpoint(bp, "/subscribers/{phone}/opt-out", ["POST"], errors=(404,))
def opt_out_subscriber(call: Call, phone: str) -> Subscriber:
    """Opt a subscriber out on the shop's side."""
    # An API key is a script or integration; a Shopify session is a person in the dashboard.
    source = ConsentSource.API if call.caller and call.caller.method == "api_key" else ConsentSource.MERCHANT
    return Subscriber.of(subscribers.opt_out(call.ports, call.shop_id, phone, source=source, text="Opted out by the shop"))


@endpoint(bp, "/subscribers/exports", ["POST"], status=202)
def export_subscribers(call: Call, body: SubscriberExportCreate) -> ExportJob:
    """Queue a CSV export of the subscribers matching the list's filters; GET it for its link when done."""
    return _export_job(call, list_jobs.create_export(call.ports, call.shop_id, body.filters()))


@endpoint(bp, "/subscribers/exports/{csv_export_id}", ["GET"], errors=(404,))
def get_export(call: Call, csv_export_id: str) -> ExportJob:
    """An export's status, rows and, once done, its download link."""
    return _export_job(call, imports.get_job(call.ports, call.shop_id, csv_export_id, JobKind.EXPORT))


def _export_job(call: Call, job: ListJob) -> ExportJob:
    url = list_jobs.export_link(call.ports, job)
    expires_at = call.ports.clock.now() + timedelta(seconds=list_jobs.LINK_SECONDS) if url else None
    return ExportJob.of(job, url, expires_at)


@endpoint(bp, "/subscribers/imports", ["POST"], status=201)
def create_import(call: Call, body: ImportCreate) -> ImportCreated:
    """A new CSV import: upload the file with the answer's form, then start it."""
    created = imports.create_import(call.ports, call.shop_id, body.file_name)
    return ImportCreated(**ImportJob.of(created.job, None).__dict__, upload=ImportUpload.of(created.upload))


@endpoint(bp, "/subscribers/imports", ["GET"])
def list_imports(call: Call) -> ImportList:
    """The shop's latest imports, newest first."""
    jobs = imports.recent_imports(call.ports, call.shop_id)
    return ImportList(items=[ImportJob.of(job, imports.report_link(call.ports, job)) for job in jobs])


@endpoint(bp, "/subscribers/imports/{import_id}/start", ["POST"], status=202, errors=(404, 409))
def start_import(call: Call, import_id: str) -> ImportJob:
    """Queue the uploaded file's import; starting it again changes nothing."""
    job = imports.start_import(call.ports, call.shop_id, import_id)
    return ImportJob.of(job, imports.report_link(call.ports, job))


@endpoint(bp, "/subscribers/imports/{import_id}", ["GET"], errors=(404,))
def get_import(call: Call, import_id: str) -> ImportJob:
    """An import's progress and counts; its report's download link once it is done."""
    job = imports.get_job(call.ports, call.shop_id, import_id, JobKind.IMPORT)
    return ImportJob.of(job, imports.report_link(call.ports, job))


@endpoint(bp, "/subscribers/{phone}/consent.csv", ["GET"], errors=(404,), media_types=("text/csv",))
def subscriber_consent_csv(call: Call, phone: str) -> Response:
    """One subscriber's consent proof as CSV: every consent event with its source, time and wording."""
    proof = exports.consent_proof_csv(call.ports, call.shop_id, phone)
    # Text, not bytes: Chalice passes bytes only for the binary media types and text/csv is not one.
    return Response(
        body=proof.data.decode("utf-8"),
        status_code=200,
        headers={"Content-Type": exports.CSV, "Content-Disposition": f'attachment; filename="{proof.filename}"'},
    )
