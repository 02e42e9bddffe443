"""Use cases for background work on a shop's whole list: queue an export, and run any list job (the list-jobs
worker's one entry point). Imports have their own module (services/imports.py).

Exports run in one invocation: the list-jobs function has 15 minutes and 1 GB, and bench/exports.py writes
100,000 rows in a few seconds of CPU (DynamoDB's 500 queries add seconds, not minutes). A crash mid-export
leaves the job ``running``; the message's redelivery writes the whole file again under the same name.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.domain.errors import ConcurrentUpdate
from chalicelib.domain.list_jobs import JobKind, JobStatus, ListJob, RunListJob
from chalicelib.domain.subscribers import Source, SubscriberStatus
from chalicelib.services import exports, imports
from chalicelib.services.imports import Run, new_job_id
from chalicelib.services.ports import Ports

LINK_SECONDS = exports.LINK_SECONDS


def filters_json(filters: exports.SubscriberFilters) -> dict[str, str]:
    """The list's filters as the job record keeps them."""
    data = {
        "status": filters.status.value if filters.status else None,
        "source": filters.source.value if filters.source else None,
    }
    data["q"] = filters.search
    return {name: value for name, value in data.items() if value is not None}


def filters_of(data: dict[str, str]) -> exports.SubscriberFilters:
    """The inverse of ``filters_json``."""
    return exports.SubscriberFilters(
        status=SubscriberStatus(data["status"]) if "status" in data else None,
        source=Source(data["source"]) if "source" in data else None,
        search=data.get("q"),
    )


def create_export(ports: Ports, shop_id: str, filters: exports.SubscriberFilters) -> ListJob:
    """Queue an export of the subscribers matching the list's filters; its file's link comes with the job."""
    ports.shops.get(shop_id)
    now = ports.clock.now()
    job = ListJob(
        shop_id=shop_id,
        job_id=new_job_id(now),
        kind=JobKind.EXPORT,
        status=JobStatus.QUEUED,
        created_at=now,
        updated_at=now,
        file_name=exports.export_name(now),
        filters=filters_json(filters),
    )
    stored = ports.list_jobs.create(job)
    ports.list_job_queue.enqueue(shop_id, job.job_id)
    return stored


def export_link(ports: Ports, job: ListJob) -> str | None:
    """The export's download link once it is written (valid LINK_SECONDS from this call)."""
    if job.kind is not JobKind.EXPORT or job.status is not JobStatus.DONE:
        return None
    return ports.export_files.link(job.shop_id, job.file_name, expires_in=LINK_SECONDS)


def run_list_job(ports: Ports, message: RunListJob, time_left: Callable[[], float]) -> Run:
    """Run (or resume) one job; a finished or unknown one is left alone, so redelivery is harmless. An import
    that runs short of time is queued again to go on from its checkpoint."""
    job = ports.list_jobs.get(message.shop_id, message.job_id)
    if job is None or job.status.finished or job.status is JobStatus.CREATED:
        return Run.FINISHED
    if job.kind is JobKind.EXPORT:
        return _run_export(ports, job)
    run = imports.run_import(ports, job, time_left)
    if run is Run.CONTINUE:
        ports.list_job_queue.enqueue(job.shop_id, job.job_id)
    return run


def _run_export(ports: Ports, job: ListJob) -> Run:
    try:
        running = ports.list_jobs.save(job.move(JobStatus.RUNNING, ports.clock.now()))
    except ConcurrentUpdate:
        return Run.HELD
    written = exports.export_subscribers(ports, job.shop_id, filters_of(running.filters), name=running.file_name)
    try:
        ports.list_jobs.save(running.move(JobStatus.DONE, ports.clock.now(), rows=written.rows))
    except ConcurrentUpdate:
        return Run.HELD
    return Run.FINISHED


def give_up(ports: Ports, message: RunListJob) -> None:
    """The job's message failed its last delivery (it goes to the DLQ): the job fails, so the dashboard stops
    waiting for it and says so."""
    job = ports.list_jobs.get(message.shop_id, message.job_id)
    if job is None or job.status.finished or job.status is JobStatus.CREATED:
        return
    try:
        ports.list_jobs.save(job.fail(ports.clock.now(), "job_failed", "the job kept failing; try again, or ask support"))
    except ConcurrentUpdate:
        pass  # it moved meanwhile: the next delivery (or the DLQ's redrive) decides
