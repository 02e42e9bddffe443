"""List jobs (CSV imports and exports) in DynamoDB: one item per job, its fields as JSON, saved on its version."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamo.conditions import condition_failed
from chalicelib.adapters.dynamo.keys import utc
from chalicelib.adapters.dynamo.tables import ListJobRow
from chalicelib.domain.errors import ConcurrentUpdate, Conflict
from chalicelib.domain.list_jobs import ImportCounts, JobKind, JobStatus, ListJob

# The record outlives its files (the exports bucket keeps them a day) so the dashboard can list past imports.
KEEP = timedelta(days=30)


def job_to_json(job: ListJob) -> dict[str, Any]:
    """The job's fields as the item's ``data``."""
    return {
        "status": job.status.value,
        "created_at": utc(job.created_at).isoformat(),
        "updated_at": utc(job.updated_at).isoformat(),
        "file_name": job.file_name,
        "offset": job.offset,
        "line": job.line,
        "bytes_total": job.bytes_total,
        "rows_total": job.rows_total,
        "columns": job.columns,
        "counts": [job.counts.read, job.counts.imported, job.counts.merged, job.counts.rejected],
        "report_parts": list(job.report_parts),
        "report_name": job.report_name,
        "started_at": utc(job.started_at).isoformat() if job.started_at else None,
        "filters": job.filters,
        "rows": job.rows,
        "error_code": job.error_code,
        "error_message": job.error_message,
    }


def row_to_job(row: ListJobRow) -> ListJob:
    """The job an item holds."""
    data: dict[str, Any] = row.data
    read, imported, merged, rejected = (int(n) for n in data.get("counts") or (0, 0, 0, 0))
    return ListJob(
        shop_id=row.shop_id,
        job_id=row.job_id,
        kind=JobKind(row.kind),
        status=JobStatus(data["status"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        file_name=data["file_name"],
        offset=int(data.get("offset") or 0),
        line=int(data.get("line") or 0),
        bytes_total=int(data.get("bytes_total") or 0),
        rows_total=int(data.get("rows_total") or 0),
        columns=data.get("columns"),
        counts=ImportCounts(read, imported, merged, rejected),
        report_parts=tuple(int(n) for n in data.get("report_parts") or ()),
        report_name=data.get("report_name"),
        started_at=datetime.fromisoformat(data["started_at"]) if data.get("started_at") else None,
        filters=dict(data.get("filters") or {}),
        rows=int(data.get("rows") or 0),
        error_code=data.get("error_code"),
        error_message=data.get("error_message"),
        version=int(row.version),
    )


class DynamoListJobs:
    """``ListJobStore`` on the list-jobs table."""

    def _row(self, job: ListJob, version: int) -> ListJobRow:
        return ListJobRow(
            job.shop_id,
            job.job_id,
            kind=job.kind.value,
            data=job_to_json(job),
            version=version,
            expires_at=int((utc(job.created_at) + KEEP).timestamp()),
        )

    def create(self, job: ListJob) -> ListJob:
        """Store a new job at version 1."""
        try:
            self._row(job, 1).save(condition=ListJobRow.job_id.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                raise Conflict(f"list job {job.job_id} exists", code="list_job_exists") from exc
            raise
        return replace(job, version=1)

    def get(self, shop_id: str, job_id: str) -> ListJob | None:
        """One job of the shop (strongly consistent: the worker reads, then saves on the version)."""
        try:
            return row_to_job(ListJobRow.get(shop_id, job_id, consistent_read=True))
        except ListJobRow.DoesNotExist:
            return None

    def save(self, job: ListJob) -> ListJob:
        """Write the job if it is still at ``job.version`` (one conditional PutItem)."""
        try:
            self._row(job, job.version + 1).save(condition=ListJobRow.version == job.version)
        except PutError as exc:
            if condition_failed(exc):
                raise ConcurrentUpdate(f"list job {job.job_id} was changed by someone else") from exc
            raise
        return replace(job, version=job.version + 1)

    def recent(self, shop_id: str, kind: JobKind, *, limit: int = 20) -> list[ListJob]:
        """The shop's latest jobs of a kind, newest first (ids sort by creation time)."""
        rows = ListJobRow.query(shop_id, filter_condition=ListJobRow.kind == kind.value, scan_index_forward=False, page_size=100)
        jobs: list[ListJob] = []
        for row in rows:
            jobs.append(row_to_job(row))
            if len(jobs) >= limit:
                break
        return jobs

    def erase_shop(self, shop_id: str) -> int:
        """Delete the shop's job records."""
        deleted = 0
        with ListJobRow.batch_write() as batch:
            for row in ListJobRow.query(shop_id):
                batch.delete(row)
                deleted += 1
        return deleted
