"""CSV exports (issue 13, item 4): one subscriber's consent proof round-trips exactly, the subscriber list is
written page by page with the list's filters, and no cell can run as a spreadsheet formula."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain.exports import CONSENT_COLUMNS, SUBSCRIBER_COLUMNS, guard_cell, read_cell
from chalicelib.domain.subscribers import ConsentAction, ConsentEvent, ConsentSource, Source, Subscriber, SubscriberStatus
from chalicelib.services.exports import EXPORT_PAGE, SubscriberFilters, export_subscribers
from chalicelib.services.ports import Ports
from tests.fakes import FakeExportFiles, fake_ports
from tests.isolation import run_list_jobs
from tests.numbers import create_shop
from tests.unit.conftest import Api, body

SHOP = "demo.myshopify.com"
PHONE = "+12125550101"

# Wordings a consent form or a customer may really hold: separators, quotes, line breaks of every kind,
# scripts and emoji, and the starts a spreadsheet would run as a formula (or that look like our escape).
TRICKY = [
    'Yes, text me deals from "Ada\'s Shop", up to 6/month.\nReply STOP to cancel; HELP for help.',
    '=HYPERLINK("https://evil.example","click")',
    "+1 and -1, @everyone",
    "-2+3",
    "@SUM(A1:A2)",
    "'already quoted",
    "''=twice",
    "\tTab first\r\nand CRLF, and a lone \r return",
    "Ja, ich möchte SMS erhalten — Straße 5 · 日本語で通知 · 🎉 ✅",
    "\u202eright-to-left override\u202c and \u00a0no-break space",
]


def _rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM, so Excel reads the wording as written"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


class TestConsentProofRoundTrip:
    def test_the_export_of_consent_proof_round_trips(self, api: Api) -> None:
        """Every consent event parses back from the CSV to exactly what is stored: time, action, source, wording."""
        created = api.call("POST", "/subscribers", body={"phone": PHONE, "consent_text": TRICKY[0]})
        assert created.status_code == 201
        store, start = api.ports.subscribers, api.ports.clock.now()
        for i, text in enumerate(TRICKY[1:], start=1):
            action = (ConsentAction.OPTED_OUT, ConsentAction.OPTED_IN, ConsentAction.REQUESTED)[i % 3]
            at = (start + timedelta(minutes=i, microseconds=i * 7)).astimezone(timezone(timedelta(hours=-5)))
            store.events.append(  # type: ignore[attr-defined]  # the fake's own history list
                ConsentEvent(SHOP, PHONE, at, f"ev{i:02d}", action, list(ConsentSource)[i % len(ConsentSource)], text)
            )
        assert api.call("POST", f"/subscribers/%2B{PHONE[1:]}/opt-out").status_code == 200

        response = api.call("GET", f"/subscribers/%2B{PHONE[1:]}/consent.csv")

        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert response.headers["Content-Disposition"] == 'attachment; filename="consent-12125550101.csv"'
        header, *rows = _rows(response.body)
        assert tuple(header) == CONSENT_COLUMNS
        parsed = [
            (phone, datetime.fromisoformat(at), ConsentAction(action), ConsentSource(source), read_cell(text), event_id)
            for phone, at, action, source, text, page_url, event_id in rows
        ]
        stored = [(e.phone, e.at, e.action, e.source, e.text, e.event_id) for e in store.consent_history(SHOP, PHONE)]
        assert len(stored) == len(TRICKY) + 1
        assert parsed == stored
        assert all(row[1].endswith("+00:00") for row in rows), "times in UTC"
        assert [row[5] for row in rows] == [""] * len(rows)  # no channel records a page yet

    def test_a_wording_that_a_spreadsheet_would_run_is_shown_as_text(self, api: Api) -> None:
        api.call("POST", "/subscribers", body={"phone": PHONE, "consent_text": "=1+2"})
        _, row = _rows(api.call("GET", f"/subscribers/%2B{PHONE[1:]}/consent.csv").body)
        assert row[4] == "'=1+2"

    def test_another_shops_subscriber_is_not_found(self, api: Api) -> None:
        assert api.call("POST", "/subscribers", shop="other", body={"phone": PHONE}).status_code == 201
        response = api.call("GET", f"/subscribers/%2B{PHONE[1:]}/consent.csv")
        assert response.status_code == 404
        assert body(response)["error"]["code"] == "subscriber_not_found"


class TestFormulaGuard:
    @pytest.mark.parametrize("text", [*TRICKY, "plain", "", "a=b", "1-2"])
    def test_guarded_cells_read_back_to_the_text(self, text: str) -> None:
        cell = guard_cell(text)
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert read_cell(cell) == text

    def test_plain_text_is_left_alone(self) -> None:
        assert guard_cell("Ada Lovelace") == "Ada Lovelace"
        assert guard_cell(None) == ""


def _subscriber(
    i: int, *, shop: str = SHOP, status: SubscriberStatus = SubscriberStatus.ACTIVE, name: str | None = None
) -> Subscriber:
    at = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=i)
    return Subscriber(shop, f"+1212555{i:04d}", status, Source.IMPORT, at, at, name=name if name is not None else f"Person {i}")


def _export_done(api: Api, export_id: str) -> dict[str, Any]:
    """Play the list-jobs worker, then read the export as the dashboard polls it."""
    run_list_jobs(api.ports)
    response = api.call("GET", f"/subscribers/exports/{export_id}")
    assert response.status_code == 200
    return dict(body(response))


class TestSubscriberExport:
    def test_the_file_holds_the_filtered_list_and_nothing_of_another_shop(self, api: Api) -> None:
        store = api.ports.subscribers
        store.rows[(SHOP, "+12125550001")] = _subscriber(1, name="=cmd|' /C calc'!A0")  # type: ignore[attr-defined]
        store.rows[(SHOP, "+12125550002")] = _subscriber(2, status=SubscriberStatus.OPTED_OUT)  # type: ignore[attr-defined]
        store.rows[(SHOP, "+12125550003")] = _subscriber(3, name='Émile, "le grand"\nZola')  # type: ignore[attr-defined]
        other = _subscriber(4, shop="other.myshopify.com")
        store.rows[("other.myshopify.com", other.phone)] = other  # type: ignore[attr-defined]

        response = api.call("POST", "/subscribers/exports", body={"status": "active"})

        assert response.status_code == 202
        queued = body(response)
        assert (queued["status"], queued["url"], queued["rows"]) == ("queued", None, 0)
        answer = _export_done(api, queued["id"])
        assert answer["status"] == "done"
        files: FakeExportFiles = api.ports.export_files  # type: ignore[assignment]
        ((shop, name),) = files.files
        assert (shop, answer["name"], answer["rows"]) == (SHOP, name, 2)
        assert answer["url"].startswith(f"https://exports.example/{SHOP}/{name}")
        header, *rows = _rows(files.files[(shop, name)])
        assert tuple(header) == SUBSCRIBER_COLUMNS
        assert [r[0] for r in rows] == ["+12125550001", "+12125550003"]
        assert rows[0][3] == "'=cmd|' /C calc'!A0"
        assert read_cell(rows[1][3]) == 'Émile, "le grand"\nZola'
        assert rows[0][4] == "2026-01-01T00:01:00+00:00"

    def test_the_search_filters_the_file_as_it_filters_the_list(self, api: Api) -> None:
        store = api.ports.subscribers
        for i in range(1, 6):
            store.rows[(SHOP, f"+1212555{i:04d}")] = _subscriber(i)  # type: ignore[attr-defined]
        answer = _export_done(api, body(api.call("POST", "/subscribers/exports", body={"q": "person 3"}))["id"])
        assert answer["rows"] == 1

    def test_two_exports_at_the_same_instant_are_two_files(self, api: Api) -> None:
        first_id = body(api.call("POST", "/subscribers/exports", body={}))["id"]
        second_id = body(api.call("POST", "/subscribers/exports", body={"status": "opted_out"}))["id"]
        first, second = _export_done(api, first_id), _export_done(api, second_id)
        assert first["name"] != second["name"] and first["url"] != second["url"]
        assert len(api.ports.export_files.files) == 2  # type: ignore[attr-defined]

    def test_an_unknown_filter_is_refused(self, api: Api) -> None:
        response = api.call("POST", "/subscribers/exports", body={"status": "gone"})
        assert response.status_code == 400


class _CountingStore:
    """The subscriber store, counting the pages read."""

    def __init__(self, target: Any) -> None:
        self.target, self.pages = target, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    def page(self, shop_id: str, **kwargs: Any) -> Any:
        self.pages += 1
        return self.target.page(shop_id, **kwargs)


class _StreamSink:
    """``ExportFiles`` that keeps no bytes: for each chunk, its rows and how many pages had been read by then."""

    def __init__(self, counter: _CountingStore) -> None:
        self.counter = counter
        self.chunks: list[tuple[int, int]] = []  # (rows in the chunk, pages read when it arrived)

    def store(self, shop_id: str, name: str, chunks: Iterable[bytes], *, content_type: str) -> None:
        for chunk in chunks:
            self.chunks.append((chunk.count(b"\r\n"), self.counter.pages))

    def link(self, shop_id: str, name: str, *, expires_in: int) -> str:
        return "https://exports.example/x"


class TestStreaming:
    def test_a_big_list_is_written_a_page_at_a_time_never_held_whole(self) -> None:
        """3,250 subscribers: each chunk is one page of rows, handed on before the next page is read."""
        ports = fake_ports()
        create_shop(ports, shop_id=SHOP, settings={})
        total = 3250
        for i in range(total):
            s = _subscriber(i)
            ports.subscribers.rows[(SHOP, s.phone)] = s  # type: ignore[attr-defined]
        counting = _CountingStore(ports.subscribers)
        sink = _StreamSink(counting)
        streamed: Ports = dataclasses.replace(ports, subscribers=counting, export_files=sink)  # type: ignore[arg-type]

        exported = export_subscribers(streamed, SHOP, SubscriberFilters())

        pages = -(-total // EXPORT_PAGE)
        assert exported.rows == total
        assert counting.pages == pages
        header, *data = sink.chunks
        assert header == (1, 0)  # the header goes before any page is read
        assert [rows for rows, _ in data] == [EXPORT_PAGE] * (pages - 1) + [total - EXPORT_PAGE * (pages - 1)]
        # chunk k arrives when exactly k pages were read: the writer never runs ahead and never gathers pages
        assert [read for _, read in data] == list(range(1, pages + 1))
