"""Background work on a shop's whole subscriber list (CSV imports and exports): the job record, its strict
status machine, and the message the list-jobs queue carries (ids only; the worker reloads the record).

An import is ``created`` (waiting for its upload), ``queued`` once started, ``running`` while a worker holds it
(checkpointing its byte offset and counts after every segment), then ``done`` or ``failed``. An export starts
``queued``. Counts only move with a checkpoint, so a segment a crash cut short is read again from the last
checkpoint and counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from chalicelib.domain.errors import Conflict


class JobKind(str, Enum):
    """What a list job does."""

    IMPORT = "import"
    EXPORT = "export"


class JobStatus(str, Enum):
    """Where a list job stands."""

    CREATED = "created"  # an import waiting for its file
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """Done or failed: nothing more happens to the job."""
        return self in (JobStatus.DONE, JobStatus.FAILED)


_MOVES: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.CREATED: frozenset({JobStatus.QUEUED}),
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.DONE}),
    JobStatus.RUNNING: frozenset({JobStatus.RUNNING, JobStatus.DONE, JobStatus.FAILED}),
    JobStatus.DONE: frozenset(),
    JobStatus.FAILED: frozenset(),
}


@dataclass(frozen=True)
class ImportCounts:
    """What an import did so far: rows read, imported (new or activated), merged, rejected."""

    read: int = 0
    imported: int = 0
    merged: int = 0
    rejected: int = 0

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(
            self.read + other.read, self.imported + other.imported, self.merged + other.merged, self.rejected + other.rejected
        )


@dataclass(frozen=True)
class ListJob:
    """One import or export of a shop's list, with its progress; ``version`` guards every save."""

    shop_id: str
    job_id: str
    kind: JobKind
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    file_name: str  # import: the merchant's file name; export: the written file's name
    # import progress: the next record's byte offset and line, the file's size, the header's columns
    offset: int = 0
    line: int = 0
    bytes_total: int = 0
    rows_total: int = 0
    columns: dict[str, int] | None = None
    counts: ImportCounts = ImportCounts()
    report_parts: tuple[int, ...] = ()  # first lines of the segments that wrote rejections
    report_name: str | None = None
    started_at: datetime | None = None
    # export: the list's filters and the rows written
    filters: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    error_code: str | None = None
    error_message: str | None = None
    version: int = 0

    def move(self, status: JobStatus, at: datetime, **changes: Any) -> ListJob:
        """The job in ``status``; Conflict for a move the machine does not allow."""
        if status not in _MOVES[self.status]:
            raise Conflict(f"a {self.status.value} {self.kind.value} cannot become {status.value}", code="illegal_transition")
        return replace(self, status=status, updated_at=at, **changes)

    def fail(self, at: datetime, code: str, message: str) -> ListJob:
        """The job failed for good, with why."""
        return self.move(JobStatus.FAILED, at, error_code=code, error_message=message)

    @property
    def progress(self) -> float:
        """From 0 to 1: bytes read of the file (an import) or 0/1 (an export)."""
        if self.status is JobStatus.DONE:
            return 1.0
        if self.kind is JobKind.IMPORT and self.bytes_total:
            return min(1.0, self.offset / self.bytes_total)
        return 0.0


@dataclass(frozen=True)
class RunListJob:
    """The list-jobs queue's message: run (or resume) this job."""

    shop_id: str
    job_id: str

    def to_json(self) -> dict[str, str]:
        """The wire form."""
        return {"kind": "list_job", "shop_id": self.shop_id, "job_id": self.job_id}

    @classmethod
    def from_json(cls, data: Any) -> RunListJob:
        """Parse a message; ValueError for anything else."""
        if not isinstance(data, dict) or data.get("kind") != "list_job":
            raise ValueError("not a list job")
        shop_id, job_id = data.get("shop_id"), data.get("job_id")
        if not isinstance(shop_id, str) or not isinstance(job_id, str) or not shop_id or not job_id:
            raise ValueError("a list job needs shop_id and job_id")
        return cls(shop_id, job_id)
