"""CSV exports: the columns of the subscriber list and of one subscriber's consent proof, written row by row,
and the guard against spreadsheet formula injection.

Files are RFC 4180 CSV (CRLF line ends, a cell quoted when it holds a comma, a quote or a line break) in
UTF-8 with a byte order mark, so Excel shows names and consent wordings in any script as they were written.
Times are ISO-8601 in UTC.

Formula injection (OWASP "CSV Injection"): a spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or
``@`` (or a tab or carriage return before one) as a formula, and names and consent texts come from
customers. Such a cell gets a leading apostrophe, which spreadsheets show as plain text. A cell that already
starts with an apostrophe gets one more, so the rule is reversible: ``read_cell`` removes exactly one leading
apostrophe, and a file read back gives the stored text exactly. Only text a person typed is guarded: phones
are E.164 we validated (a ``+`` and digits, a number to a spreadsheet, never a formula), times, statuses and
sources are our own words.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone

from chalicelib.domain.subscribers import ConsentEvent, Subscriber

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"
BOM = codecs.BOM_UTF8

SUBSCRIBER_COLUMNS = (
    "phone",
    "status",
    "source",
    "name",
    "joined_at",
    "updated_at",
    "opted_out_at",
    "customer_id",
    "profile_url",
    "unreachable_reason",
    "unreachable_at",
)
CONSENT_COLUMNS = ("phone", "at", "action", "source", "text", "page_url", "event_id")


def guard_cell(text: str | None) -> str:
    """A person's text as a cell no spreadsheet runs as a formula (None: an empty cell)."""
    if not text:
        return ""
    if text.startswith(FORMULA_START) or text.startswith(_ESCAPE):
        return _ESCAPE + text
    return text


def read_cell(cell: str) -> str:
    """The text ``guard_cell`` was given (for an importer, or a test, reading an export back)."""
    return cell[1:] if cell.startswith(_ESCAPE) else cell


def utc_text(at: datetime | None) -> str:
    """A time as ISO-8601 in UTC, or an empty cell."""
    return at.astimezone(timezone.utc).isoformat() if at is not None else ""


def subscriber_row(s: Subscriber) -> tuple[str, ...]:
    """One subscriber as a row of SUBSCRIBER_COLUMNS."""
    return (
        s.phone,
        s.status.value,
        s.source.value,
        guard_cell(s.name),
        utc_text(s.joined_at),
        utc_text(s.updated_at),
        utc_text(s.opted_out_at),
        guard_cell(s.customer_id),
        guard_cell(s.profile_url),
        guard_cell(s.unreachable_reason),
        utc_text(s.unreachable_at),
    )


def consent_row(e: ConsentEvent) -> tuple[str, ...]:
    """One consent event as a row of CONSENT_COLUMNS."""
    # The sign-up form records the page the consent was given on; events of other channels have none (an empty
    # cell), and the column is always there so a merchant's spreadsheet keeps one shape.
    return (e.phone, utc_text(e.at), e.action.value, e.source.value, guard_cell(e.text), guard_cell(e.page_url), e.event_id)


class CsvLines:
    """Turns rows into CSV text one batch at a time, keeping nothing between batches."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def encode(self, rows: Iterable[Sequence[str]]) -> bytes:
        """The rows as UTF-8 CSV lines."""
        self._writer.writerows(rows)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8")


def csv_chunks(header: Sequence[str], batches: Iterable[Iterable[Sequence[str]]]) -> Iterator[bytes]:
    """The BOM and header, then one chunk of bytes per batch of rows, produced as each batch arrives."""
    lines = CsvLines()
    yield BOM + lines.encode([header])
    for batch in batches:
        chunk = lines.encode(batch)
        if chunk:
            yield chunk
