"""Use cases for CSV imports of subscribers: create an import (a presigned upload), start it, run it in the
background in resumable segments, and read its progress and report.

How an import runs (the list-jobs worker calls ``run_import``):
1. First pass (``queued``): the file is streamed once to read its header and count its records; a file with
   more than MAX_ROWS rows, or without a phone or consent date column, fails before anything is written.
2. Segments (``running``): from the checkpoint (a byte offset and line), up to SEGMENT_ROWS records are read
   from a ranged GET, validated (domain/imports.py) and written WRITE_BATCH at a time: one batched read of the
   batch's known subscribers, then one conditional write per row that changes something. The segment's
   rejected rows go to a report part named by the segment's first line, then the checkpoint (offset, line,
   counts) is saved on the job's version. A crash before the checkpoint re-runs the segment: every write is
   idempotent and a row this import already created is recognised by its consent event (``<job id>.<line>``),
   so the counts come out the same. Before the Lambda's deadline the worker re-queues the job and stops.
3. Done: the report parts are streamed into one CSV (line, phone, reason, message) in the exports bucket.

Consent: a new number becomes an active subscriber with source ``import`` and one opted-in consent event
(source ``import``) whose text is the file's proof (file, consent source and date). A known active subscriber
keeps its consent; only its name (when it had none) and tags merge in. An opted-out number is never
re-subscribed, even when its STOP lands during the import: every write is conditioned on the version read
(or on the number not existing), so a STOP in between makes the write fail, and the row is decided again.
BatchWriteItem is not used: it takes no conditions, and every write here needs one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import Enum

from chalicelib.domain.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound
from chalicelib.domain.exports import CsvLines, csv_chunks
from chalicelib.domain.imports import (
    MAX_BYTES,
    MAX_ROWS,
    REPORT_COLUMNS,
    Columns,
    ImportFileError,
    ImportRow,
    Rejection,
    bad_row,
    consent_wording,
    decode_record,
    duplicate,
    map_header,
    merge_profile,
    opted_out,
    records,
    suppressed,
    validate_row,
)
from chalicelib.domain.list_jobs import ImportCounts, JobKind, JobStatus, ListJob
from chalicelib.domain.subscribers import ConsentAction, ConsentEvent, ConsentSource, Source, Subscriber, SubscriberStatus
from chalicelib.services.ports import Ports, SubscriberChange, UploadForm

CSV_UPLOAD = "text/csv"
REPORT_CSV = "text/csv; charset=utf-8"
UPLOAD_SECONDS = 15 * 60  # the upload form's life
LINK_SECONDS = 15 * 60  # the report's download link
SEGMENT_ROWS = 1_000  # records between checkpoints: at most this many are read again after a crash
WRITE_BATCH = 100  # rows whose known subscribers are read in one BatchGetItem
# A segment of 1,000 rows takes about 2-5 s of DynamoDB writes; a worker starts none with less than this left.
REQUEUE_MARGIN_SECONDS = 30.0
WRITE_ATTEMPTS = 5
REQUEUE_AFTER = timedelta(minutes=5)  # a start finding its import still queued this long after queues it again
TimeLeft = Callable[[], float]


def upload_name(job_id: str) -> str:
    """Where the merchant's file is uploaded (under the shop's prefix)."""
    return f"imports/{job_id}/upload.csv"


def report_part_name(job_id: str, first_line: int) -> str:
    """The rejected rows of the segment starting at ``first_line``: a re-run segment rewrites the same part."""
    return f"imports/{job_id}/report-{first_line:07d}.csv"


def report_name(job_id: str) -> str:
    """The report the merchant downloads."""
    return f"import-{job_id}-report.csv"


def new_job_id(at: datetime) -> str:
    """Sorts by creation time (the list shows the newest first); the random part keeps ids unguessable."""
    return f"{at.astimezone(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class CreatedImport:
    """A new import and the form its file is uploaded with."""

    job: ListJob
    upload: UploadForm


def create_import(ports: Ports, shop_id: str, file_name: str) -> CreatedImport:
    """A new import waiting for its file: the job and a presigned upload capped at MAX_BYTES."""
    ports.shops.get(shop_id)
    now = ports.clock.now()
    job = ListJob(
        shop_id=shop_id,
        job_id=new_job_id(now),
        kind=JobKind.IMPORT,
        status=JobStatus.CREATED,
        created_at=now,
        updated_at=now,
        file_name=file_name,
    )
    stored = ports.list_jobs.create(job)
    form = ports.import_files.upload_form(
        shop_id, upload_name(job.job_id), max_bytes=MAX_BYTES, content_type=CSV_UPLOAD, expires_in=UPLOAD_SECONDS
    )
    return CreatedImport(stored, form)


def get_job(ports: Ports, shop_id: str, job_id: str, kind: JobKind) -> ListJob:
    """One job of the shop; another shop's (or another kind's) is not found."""
    job = ports.list_jobs.get(shop_id, job_id)
    if job is None or job.kind is not kind:
        raise NotFound(f"no {kind.value} {job_id}", code=f"{kind.value}_not_found")
    return job


def start_import(ports: Ports, shop_id: str, job_id: str) -> ListJob:
    """Queue the import of the uploaded file; starting it again (or a started one) queues nothing more."""
    job = get_job(ports, shop_id, job_id, JobKind.IMPORT)
    if job.status is JobStatus.QUEUED and ports.clock.now() - job.updated_at > REQUEUE_AFTER:
        # Queued long ago and never picked up: the enqueue after the save failed. Queue it again (a duplicate
        # message is harmless: the worker's saves are version-checked).
        ports.list_job_queue.enqueue(shop_id, job_id)
        return job
    if job.status is not JobStatus.CREATED:
        return job
    size = ports.import_files.size(shop_id, upload_name(job_id))
    if size is None:
        raise Conflict("upload the file first (the upload form of this import)", code="upload_missing")
    if size > MAX_BYTES:
        raise InvalidInput(f"the file is over {MAX_BYTES // (1024 * 1024)} MB", code="file_too_large")
    queued = job.move(JobStatus.QUEUED, ports.clock.now(), bytes_total=size)
    try:
        saved = ports.list_jobs.save(queued)
    except ConcurrentUpdate:
        return get_job(ports, shop_id, job_id, JobKind.IMPORT)  # a concurrent start won: it queued the job
    # Queued after the save: a failed enqueue leaves a queued job the next start re-queues (below, the worker
    # being idempotent); a start that lost the race above queued nothing.
    ports.list_job_queue.enqueue(shop_id, job_id)
    return saved


def recent_imports(ports: Ports, shop_id: str) -> list[ListJob]:
    """The shop's latest imports, newest first."""
    return ports.list_jobs.recent(shop_id, JobKind.IMPORT)


def report_link(ports: Ports, job: ListJob) -> str | None:
    """The report's download link once the import is done."""
    if job.kind is not JobKind.IMPORT or job.status is not JobStatus.DONE or job.report_name is None:
        return None
    return ports.export_files.link(job.shop_id, job.report_name, expires_in=LINK_SECONDS)


# --- the background job --------------------------------------------------------------------------------------


class RowOutcome(str, Enum):
    """What a valid row did."""

    IMPORTED = "imported"
    MERGED = "merged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Segment:
    """What one segment did: where it ended, its counts and its rejected rows."""

    offset: int
    line: int
    counts: ImportCounts
    rejections: list[Rejection]
    exhausted: bool  # the file ended within it


class Run(str, Enum):
    """How a worker's turn at a job ended."""

    FINISHED = "finished"  # done or failed
    CONTINUE = "continue"  # time ran short: re-queue the job, the next invocation resumes from the checkpoint
    HELD = "held"  # another worker saved first (a duplicate message): it carries on, this one stops


def run_import(ports: Ports, job: ListJob, time_left: TimeLeft) -> Run:
    """Run the import from its checkpoint until it is done or time runs short."""
    if job.status is JobStatus.QUEUED:
        scanned = _first_pass(ports, job)
        if scanned is None:
            return Run.HELD
        job = scanned
    while not job.status.finished:
        if time_left() < REQUEUE_MARGIN_SECONDS:
            return Run.CONTINUE
        try:
            job = _run_segment(ports, job)
        except ConcurrentUpdate:
            return Run.HELD
    return Run.FINISHED


def _first_pass(ports: Ports, job: ListJob) -> ListJob | None:
    """Read the header and count the records: too many rows (or no usable header) fails the file whole."""
    now = ports.clock.now()
    header_end, rows, columns = 0, 0, None
    try:
        with closing(ports.import_files.read(job.shop_id, upload_name(job.job_id))) as stream:
            for record in records(stream):
                if columns is None:
                    try:
                        columns = map_header(decode_record(record, first=True))
                    except ValueError as exc:
                        raise ImportFileError("the first row is not UTF-8 CSV", code="not_csv") from exc
                    header_end = record.end
                elif record.data.strip():
                    rows += 1
        if columns is None:
            raise ImportFileError("the file is empty", code="empty_file")
        if rows > MAX_ROWS:
            raise ImportFileError(
                f"the file has {rows:,} rows; at most {MAX_ROWS:,} may be imported at once: split it",
                code="too_many_rows",
                details={"rows": rows, "max_rows": MAX_ROWS},
            )
    except ImportFileError as exc:
        return _save_or_none(ports, job.fail(now, exc.code, exc.message))
    running = job.move(
        JobStatus.RUNNING, now, columns=columns.to_json(), rows_total=rows, offset=header_end, line=1, started_at=now
    )
    return _save_or_none(ports, running)


def _save_or_none(ports: Ports, job: ListJob) -> ListJob | None:
    try:
        return ports.list_jobs.save(job)
    except ConcurrentUpdate:
        return None


def _run_segment(ports: Ports, job: ListJob) -> ListJob:
    """One segment from the checkpoint: read, validate, write, report part, checkpoint (ConcurrentUpdate when
    another worker checkpointed first)."""
    assert job.columns is not None and job.started_at is not None
    columns = Columns.from_json(job.columns)
    segment = _read_and_write(ports, job, columns)
    now = ports.clock.now()
    parts = job.report_parts
    if segment.rejections:
        first_line = job.line + 1
        lines = CsvLines()
        data = lines.encode([rejection.report_row() for rejection in segment.rejections])
        ports.import_files.put(job.shop_id, report_part_name(job.job_id, first_line), data, content_type=REPORT_CSV)
        parts = (*parts, first_line)
    checkpoint = job.move(
        JobStatus.RUNNING,
        now,
        offset=segment.offset,
        line=segment.line,
        counts=job.counts + segment.counts,
        report_parts=parts,
    )
    if segment.exhausted or segment.offset >= job.bytes_total:
        name = report_name(job.job_id)
        ports.export_files.store(
            job.shop_id, name, _report_chunks(ports, job.shop_id, job.job_id, parts), content_type=REPORT_CSV
        )
        checkpoint = checkpoint.move(JobStatus.DONE, now, report_name=name)
    return ports.list_jobs.save(checkpoint)


def _report_chunks(ports: Ports, shop_id: str, job_id: str, parts: Sequence[int]) -> Iterator[bytes]:
    """The report: BOM and header, then every part as it is read (one part's chunks in memory at a time)."""
    yield from csv_chunks(REPORT_COLUMNS, [])
    for first_line in parts:
        with closing(ports.import_files.read(shop_id, report_part_name(job_id, first_line))) as stream:
            yield from stream


def _read_and_write(ports: Ports, job: ListJob, columns: Columns) -> Segment:
    now = ports.clock.now()
    counts = ImportCounts()
    rejections: list[Rejection] = []
    line, offset, exhausted = job.line, job.offset, True
    batch: list[ImportRow | Rejection] = []

    def flush() -> None:
        nonlocal counts
        counts += _write_batch(ports, job, batch, rejections)
        batch.clear()

    with closing(ports.import_files.read(job.shop_id, upload_name(job.job_id), start=job.offset)) as stream:
        for record in records(stream, start=job.offset):
            line, offset = line + 1, record.end
            try:
                cells = decode_record(record)
            except ValueError as exc:
                batch.append(bad_row(line, f"not a row: {exc}"))
            else:
                if cells:  # a blank line is skipped, not reported
                    batch.append(validate_row(line, cells, columns, now=now, allow_fictional=ports.allow_fictional_numbers))
            if len(batch) >= WRITE_BATCH:
                flush()
            if line - job.line >= SEGMENT_ROWS:
                exhausted = False
                break
    flush()
    return Segment(offset=offset, line=line, counts=counts, rejections=rejections, exhausted=exhausted)


def _write_batch(ports: Ports, job: ListJob, batch: Sequence[ImportRow | Rejection], rejections: list[Rejection]) -> ImportCounts:
    """Write a batch's valid rows (one batched read of the numbers they name), collect its rejections."""
    if not batch:
        return ImportCounts()
    rows = [item for item in batch if isinstance(item, ImportRow)]
    known: dict[str, Subscriber | None] = dict(ports.subscribers.get_many(job.shop_id, [row.phone for row in rows]))
    # Only a number nobody knows can be a redacted person's (erasure deletes the subscriber): one batched read.
    erased = ports.suppressions.suppressed(job.shop_id, [row.phone for row in rows if row.phone not in known]) if rows else set()
    imported = merged = rejected = 0
    for item in batch:
        if isinstance(item, Rejection):
            rejections.append(item)
            rejected += 1
            continue
        outcome, stored, rejection = _import_row(ports, job, item, known.get(item.phone), item.phone in erased)
        known[item.phone] = stored  # a later row of the same number in this batch sees this one's write
        if rejection is not None:
            rejections.append(rejection)
        if outcome is RowOutcome.IMPORTED:
            imported += 1
        elif outcome is RowOutcome.MERGED:
            merged += 1
        else:
            rejected += 1
    return ImportCounts(read=len(batch), imported=imported, merged=merged, rejected=rejected)


def _event_id(job: ListJob, line: int) -> str:
    return f"{job.job_id}.{line}"


def _line_of_this_import(ports: Ports, job: ListJob, subscriber: Subscriber) -> int | None:
    """The line of this import that created or activated ``subscriber``, if one did (one history read, only for
    numbers changed since the import started: duplicates in the file and segments run again)."""
    assert job.started_at is not None
    if subscriber.updated_at < job.started_at:
        return None
    prefix = f"{job.job_id}."
    for event in ports.subscribers.consent_history(subscriber.shop_id, subscriber.phone):
        if event.event_id.startswith(prefix):
            return int(event.event_id[len(prefix) :])
    return None


def _import_row(
    ports: Ports, job: ListJob, row: ImportRow, known: Subscriber | None, erased: bool
) -> tuple[RowOutcome, Subscriber | None, Rejection | None]:
    """One valid row, written under a condition on what was read; a write that loses to a concurrent change
    (a STOP, say) reads the number again and decides again."""
    for _ in range(WRITE_ATTEMPTS):
        try:
            return _decide_and_write(ports, job, row, known, erased)
        except ConcurrentUpdate:
            known = ports.subscribers.get(job.shop_id, row.phone)
    raise ConcurrentUpdate(f"subscriber {row.phone} kept changing during the import")


def _decide_and_write(
    ports: Ports, job: ListJob, row: ImportRow, known: Subscriber | None, erased: bool
) -> tuple[RowOutcome, Subscriber | None, Rejection | None]:
    shop_id, now = job.shop_id, ports.clock.now()
    if known is None:
        if erased:
            return RowOutcome.REJECTED, None, suppressed(row.line, row.given)
        subscriber = Subscriber(
            shop_id=shop_id,
            phone=row.phone,
            status=SubscriberStatus.ACTIVE,
            source=Source.IMPORT,
            joined_at=now,
            updated_at=now,
            name=row.name,
            tags=row.tags,
        )
        stored = ports.subscribers.apply(
            SubscriberChange(subscriber=subscriber, expected_version=None, event=_consent(job, row, now))
        )
        return RowOutcome.IMPORTED, stored, None
    if known.status is SubscriberStatus.OPTED_OUT:
        return RowOutcome.REJECTED, known, opted_out(row.line, row.given)
    first_line = _line_of_this_import(ports, job, known)
    if first_line == row.line:
        return RowOutcome.IMPORTED, known, None  # this very row, written before a crash: counted as it was
    name, tags = merge_profile(known.name, known.tags, row)
    if known.status is SubscriberStatus.PENDING:
        # A keyword sign-up that never confirmed, now with consent on file: active, with this proof on record.
        activated = replace(known, status=SubscriberStatus.ACTIVE, name=name, tags=tags, updated_at=now)
        stored = ports.subscribers.apply(
            SubscriberChange(subscriber=activated, expected_version=known.version, event=_consent(job, row, now))
        )
        return RowOutcome.IMPORTED, stored, None
    report = duplicate(row.line, row.given, first_line) if first_line is not None else None
    if (name, tags) == (known.name, known.tags):
        return RowOutcome.MERGED, known, report
    merged = replace(known, name=name, tags=tags, updated_at=now)
    stored = ports.subscribers.apply(SubscriberChange(subscriber=merged, expected_version=known.version))
    return RowOutcome.MERGED, stored, report


def _consent(job: ListJob, row: ImportRow, now: datetime) -> ConsentEvent:
    return ConsentEvent(
        shop_id=job.shop_id,
        phone=row.phone,
        at=now,
        event_id=_event_id(job, row.line),
        action=ConsentAction.OPTED_IN,
        source=ConsentSource.IMPORT,
        text=consent_wording(job.file_name, row),
    )
