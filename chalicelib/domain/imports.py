"""CSV imports of subscribers: the header's columns (with common aliases), a row's validation into an accepted
row or a rejection with its reason, duplicates merged, the rejected rows' report, and a record splitter that
knows each record's byte offset (so an import checkpoints and resumes at a byte, not a row it must re-read).

Rules (README "Import and export"):
- A file has at most MAX_ROWS data rows; more and the whole file is refused before anything is imported.
- Columns are found by name, case and spaces ignored: phone (phone_number, mobile, ...), name or first_name and
  last_name, consent_date (opted_in_at, ...), consent_source, tags (optional). phone, consent_date and consent_source
  are required columns.
- A row is rejected for: a phone that does not normalise to E.164 (bad_phone), no consent date or source
  (missing_consent), a consent date that does not parse (bad_consent_date) or lies in the future
  (future_consent_date), a number that opted out (opted_out: never re-subscribed) or was erased at the
  customer's request (suppressed).
- Duplicates merge: a later row for a number an earlier row of the same file imported is not rejected; its
  name (when the first had none) and tags are merged into the subscriber, it counts as ``merged`` and the report
  lists it as ``duplicate_in_file`` with the line it merged into, so the merchant sees every row that did not
  import as written. A number already subscribed before the import merges the same way, its consent untouched.
- "line" is the record's number in the file, the header being line 1 (a quoted cell with a line break keeps
  its record one line).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from enum import Enum

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.exports import BOM, guard_cell, read_cell
from chalicelib.domain.phones import normalize_phone

MAX_ROWS = 100_000
MAX_BYTES = 20 * 1024 * 1024  # the upload's cap: 100,000 rows of a few columns are about 6 MB
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_NAME_LENGTH = 100
MAX_SOURCE_LENGTH = 200
MAX_RECORD_BYTES = 8 * 1024  # one record longer than this is not a subscriber row (and would hold memory)

REPORT_COLUMNS = ("line", "phone", "reason", "message")


class RejectReason(str, Enum):
    """Why a row was not imported as written (the report's ``reason``)."""

    BAD_PHONE = "bad_phone"
    MISSING_CONSENT = "missing_consent"
    BAD_CONSENT_DATE = "bad_consent_date"
    FUTURE_CONSENT_DATE = "future_consent_date"
    OPTED_OUT = "opted_out"
    SUPPRESSED = "suppressed"
    DUPLICATE_IN_FILE = "duplicate_in_file"  # merged, not lost: counted as merged
    BAD_ROW = "bad_row"  # a record too long, or text that is not UTF-8


class ImportFileError(InvalidInput):
    """The file as a whole cannot be imported (no phone column, too many rows, not CSV)."""


def _key(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", read_cell(header).strip().lower().lstrip("\ufeff"))


ALIASES: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "phone_number", "phonenumber", "mobile", "mobile_phone", "mobile_number", "cell", "sms", "e164"),
    "name": ("name", "full_name", "fullname"),
    "first_name": ("first_name", "firstname", "given_name"),
    "last_name": ("last_name", "lastname", "surname", "family_name"),
    "consent_date": ("consent_date", "opted_in_at", "consent_at", "consented_at", "subscribed_at", "opt_in_date"),
    "consent_source": ("consent_source", "source", "opt_in_source", "consent_method"),
    "tags": ("tags", "tag", "labels"),
}


@dataclass(frozen=True)
class Columns:
    """Where each known column is in the file's rows (None: absent)."""

    phone: int
    consent_date: int
    consent_source: int
    name: int | None = None
    first_name: int | None = None
    last_name: int | None = None
    tags: int | None = None

    def to_json(self) -> dict[str, int]:
        """The mapping kept on the import record, so a resumed import needs no second look at the header."""
        return {field: index for field, index in self.__dict__.items() if index is not None}

    @classmethod
    def from_json(cls, data: dict[str, int]) -> Columns:
        """The inverse of ``to_json``."""
        return cls(**{name: int(index) for name, index in data.items()})


def map_header(cells: Sequence[str]) -> Columns:
    """The columns of a header row; ImportFileError when phone, consent date or consent source has no column."""
    found: dict[str, int] = {}
    keys = [_key(cell) for cell in cells]
    for field, aliases in ALIASES.items():
        for alias in aliases:  # the first alias wins over later ones: "consent_source" before "source"
            if alias in keys:
                found[field] = keys.index(alias)
                break
    # Consent proof is a date and a source: a file without a column for either cannot give it for any row.
    missing = [field for field in ("phone", "consent_date", "consent_source") if field not in found]
    if missing:
        raise ImportFileError(
            f"the first row must name the columns; missing: {', '.join(missing)}",
            code="missing_columns",
            details={"missing": missing, "accepted": {field: list(ALIASES[field]) for field in missing}},
        )
    return Columns(**found)


@dataclass(frozen=True)
class ImportRow:
    """A row that passed validation: a subscriber with its consent proof."""

    line: int
    phone: str  # E.164
    consent_at: datetime
    consent_source: str
    name: str | None = None
    tags: tuple[str, ...] = ()
    phone_given: str = ""  # as the file wrote it, for the report

    @property
    def given(self) -> str:
        """The phone as the file wrote it (the E.164 form when not known)."""
        return self.phone_given or self.phone


@dataclass(frozen=True)
class Rejection:
    """A row of the report: the line, the phone as the file gave it, why, and what to do."""

    line: int
    phone_given: str
    reason: RejectReason
    message: str

    def report_row(self) -> tuple[str, ...]:
        """As a row of REPORT_COLUMNS (the phone and message are guarded: the phone is the merchant's text)."""
        return (str(self.line), guard_cell(self.phone_given), self.reason.value, guard_cell(self.message))


# Control characters but line breaks and tabs: the API refuses them in a consent text, and every one in a name
# (api/models/common.py); a file's cells lose them (each becomes a space), and names and tags are then made one
# line, so an import stores nothing the API would not.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _cell(cells: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return _CONTROL.sub(" ", read_cell(cells[index].strip())).strip()


def parse_consent_date(text: str) -> datetime:
    """An ISO-8601 date (midnight UTC) or date-time (UTC when it carries no offset); ValueError otherwise."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.combine(date.fromisoformat(text), time(0), tzinfo=timezone.utc)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ].+", text):
        raise ValueError(text)
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def split_tags(text: str) -> tuple[str, ...]:
    """Tags separated by ``;``, ``,`` or ``|``, blank ones dropped, each once, in the file's order."""
    tags = [" ".join(tag.split())[:MAX_TAG_LENGTH] for tag in re.split(r"[;,|]", text)]
    return tuple(dict.fromkeys(tag for tag in tags if tag))[:MAX_TAGS]


def validate_row(
    line: int, cells: Sequence[str], columns: Columns, *, now: datetime, allow_fictional: bool
) -> ImportRow | Rejection:
    """One data row: the subscriber to import, or why not (the first problem found, phone first)."""
    phone_given = _cell(cells, columns.phone)
    try:
        phone = normalize_phone(phone_given, allow_fictional=allow_fictional)
    except InvalidInput as exc:
        return Rejection(line, phone_given, RejectReason.BAD_PHONE, exc.message)
    consent_text = _cell(cells, columns.consent_date)
    source = _cell(cells, columns.consent_source)[:MAX_SOURCE_LENGTH]
    if not consent_text or not source:
        missing = "consent date" if not consent_text else "consent source"
        return Rejection(line, phone_given, RejectReason.MISSING_CONSENT, f"no {missing}: a subscriber needs proof of consent")
    try:
        consent_at = parse_consent_date(consent_text)
    except ValueError:
        return Rejection(
            line, phone_given, RejectReason.BAD_CONSENT_DATE, f"consent date {consent_text!r} is not YYYY-MM-DD or ISO-8601"
        )
    if consent_at > now:
        return Rejection(line, phone_given, RejectReason.FUTURE_CONSENT_DATE, f"consent date {consent_text} is in the future")
    name = _cell(cells, columns.name)
    if not name:
        name = " ".join(part for part in (_cell(cells, columns.first_name), _cell(cells, columns.last_name)) if part)
    name = " ".join(name.split())[:MAX_NAME_LENGTH]  # one line: a name is shown and searched, never a block
    return ImportRow(
        line=line,
        phone=phone,
        consent_at=consent_at,
        consent_source=source,
        name=name or None,
        tags=split_tags(_cell(cells, columns.tags)),
        phone_given=phone_given,
    )


def consent_wording(file_name: str, row: ImportRow) -> str:
    """The consent proof an imported subscriber carries: the file, the source and date it gave."""
    return f"Imported from {file_name}: consent {row.consent_source} on {row.consent_at.date().isoformat()}"


def merge_profile(name: str | None, tags: Sequence[str], row: ImportRow) -> tuple[str | None, tuple[str, ...]]:
    """A known subscriber's name and tags with a row's merged in: the name kept if it has one, tags united."""
    return name or row.name, tuple(dict.fromkeys([*tags, *row.tags]))[: MAX_TAGS * 2]


def opted_out(line: int, phone_given: str) -> Rejection:
    """The rejection of a number that opted out: only its own START brings it back."""
    return Rejection(line, phone_given, RejectReason.OPTED_OUT, "opted out; only the subscriber can opt back in (START)")


def suppressed(line: int, phone_given: str) -> Rejection:
    """The rejection of a number erased at the customer's request."""
    return Rejection(line, phone_given, RejectReason.SUPPRESSED, "erased at the customer's request; may not be added")


def duplicate(line: int, phone_given: str, first_line: int) -> Rejection:
    """A later row of a number this file already imported: merged into the first, listed in the report."""
    return Rejection(line, phone_given, RejectReason.DUPLICATE_IN_FILE, f"same number as line {first_line}; merged into it")


def bad_row(line: int, why: str) -> Rejection:
    """A record that is not a row at all."""
    return Rejection(line, "", RejectReason.BAD_ROW, why)


# --- reading the file as records with their byte offsets ------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One CSV record: its bytes and the offset just after it in the file."""

    data: bytes
    end: int


def records(chunks: Iterable[bytes], *, start: int = 0) -> Iterator[Record]:
    """The file's CSV records from byte ``start`` (a record boundary), whatever the chunks' sizes.

    A record ends at a line break outside quotes: with RFC 4180's doubled quotes, that is where the count of
    quote characters since the record began is even. Only one record is held at a time (MAX_RECORD_BYTES
    bounds a runaway quote; the rest of the file then becomes one bad record, which is what it is)."""
    pending = bytearray()
    quotes = 0
    offset = start
    scanned = 0  # bytes of ``pending`` already searched for a line break
    for chunk in chunks:
        pending += chunk
        while True:
            newline = pending.find(b"\n", scanned)
            if newline < 0:
                quotes += pending.count(b'"', scanned)
                scanned = len(pending)
                if len(pending) > MAX_RECORD_BYTES * 4:
                    offset += len(pending)
                    yield Record(bytes(pending[: MAX_RECORD_BYTES + 1]), offset)
                    pending, quotes, scanned = bytearray(), 0, 0
                break
            quotes += pending.count(b'"', scanned, newline)
            scanned = newline + 1
            if quotes % 2 == 0:
                data = bytes(pending[: newline + 1])
                del pending[: newline + 1]
                offset += len(data)
                quotes, scanned = 0, 0
                yield Record(data, offset)
    if pending:
        offset += len(pending)
        yield Record(bytes(pending), offset)


def decode_record(record: Record, *, first: bool = False) -> list[str]:
    """A record's cells; ValueError when it is not UTF-8 or is too long to be a subscriber row."""
    data = record.data
    if first and data.startswith(BOM):
        data = data[len(BOM) :]
    if len(data) > MAX_RECORD_BYTES:
        raise ValueError(f"a row longer than {MAX_RECORD_BYTES} bytes")
    text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if not text.strip():
        return []
    return next(csv.reader([text.rstrip("\r\n")]), [])
