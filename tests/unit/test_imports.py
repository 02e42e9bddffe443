"""CSV imports (issue 13, item 3) on fakes: the header's aliases, the exact report of a file with bad rows,
opted-out numbers never re-subscribed (even by a STOP landing mid-import), duplicates merged, a crash mid-file
resumed to the same counts, a start twice importing once, and the deadline handing the rest to a new turn."""

from __future__ import annotations

import csv
import io
from collections.abc import Generator, Sequence
from datetime import datetime, timezone

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.domain.exports import read_cell
from chalicelib.domain.imports import (
    MAX_ROWS,
    Columns,
    ImportFileError,
    ImportRow,
    Rejection,
    RejectReason,
    decode_record,
    map_header,
    records,
    validate_row,
)
from chalicelib.domain.list_jobs import ImportCounts, JobKind, JobStatus, ListJob
from chalicelib.domain.subscribers import ConsentAction, ConsentSource, Source, Subscriber, SubscriberStatus
from chalicelib.services import imports, list_jobs, subscribers
from chalicelib.services.imports import Run, create_import, report_link, start_import, upload_name
from chalicelib.services.ports import Ports
from tests.fakes import FakeExportFiles, FakeImportFiles, FakeListJobQueue, fake_ports
from tests.isolation import run_list_jobs
from tests.numbers import create_shop
from tests.unit.conftest import Api, body

SHOP = "demo.myshopify.com"
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
NEVER = lambda: 10_000.0  # noqa: E731  # a worker with all the time in the world


def _ports() -> Ports:
    ports = fake_ports()
    create_shop(ports, shop_id=SHOP, settings={"sender_number": "+15550100000"})
    return ports


def _files(ports: Ports) -> FakeImportFiles:
    assert isinstance(ports.import_files, FakeImportFiles)
    return ports.import_files


def _queue(ports: Ports) -> FakeListJobQueue:
    assert isinstance(ports.list_job_queue, FakeListJobQueue)
    return ports.list_job_queue


def _upload(ports: Ports, data: bytes, file_name: str = "customers.csv") -> ListJob:
    created = create_import(ports, SHOP, file_name)
    _files(ports).upload(SHOP, upload_name(created.job.job_id), data)
    return start_import(ports, SHOP, created.job.job_id)


def _drain(ports: Ports, time_left: object = NEVER) -> list[Run]:
    """Run every queued message, and the ones they queue, as the worker would."""
    runs = []
    while messages := _queue(ports).take():
        for message in messages:
            runs.append(list_jobs.run_list_job(ports, message, time_left))  # type: ignore[arg-type]
    return runs


def _report(ports: Ports, job: ListJob) -> list[list[str]]:
    assert isinstance(ports.export_files, FakeExportFiles)
    assert job.report_name is not None
    data = ports.export_files.files[(SHOP, job.report_name)]
    assert data.startswith(b"\xef\xbb\xbf")
    # cells read back as written (a "+..." cell carries the spreadsheet guard's apostrophe in the file)
    return [[read_cell(cell) for cell in row] for row in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))]


def _job(ports: Ports, job: ListJob) -> ListJob:
    stored = ports.list_jobs.get(SHOP, job.job_id)
    assert stored is not None
    return stored


def _opt_out(ports: Ports, phone: str) -> None:
    subscribers.add_subscriber(ports, SHOP, subscribers.add_command(phone=phone, allow_fictional=True))
    subscribers.opt_out(ports, SHOP, phone, source=ConsentSource.SMS, text="STOP")


BAD_FILE = (
    "\ufeffPhone Number,First Name,Last Name,Opted In At,Consent Source,Tags\r\n"
    "+1 555 123 0001,Ada,Lovelace,2026-01-05,checkout box,vip;winter\r\n"
    "12345,Bob,,2026-01-05,checkout box,\r\n"
    "+15551230002,Cy,,,checkout box,\r\n"
    "(555) 123-0001,,,2026-02-01,popup,vip|spring\r\n"
    "+15551230003,Dee,,2026-01-05,keyword,\r\n"
    "+15551230004,Eve,,2027-01-01,checkout box,\r\n"
    '+15551230005,"Fay ""F"" Smith",,2026-03-04T10:00:00-05:00,"in store,\nsigned form",\r\n'
).encode()


class TestHeaderAndRows:
    def test_aliases_find_the_columns(self) -> None:
        columns = map_header(["Mobile", "first_name", "LAST NAME", "opted_in_at", "Source", "tags"])
        assert columns == Columns(phone=0, consent_date=3, consent_source=4, first_name=1, last_name=2, tags=5)
        assert map_header(["phone_number", "name", "consent_date", "consent_source"]).name == 1

    def test_a_file_without_phone_or_consent_columns_is_refused_whole(self) -> None:
        with pytest.raises(ImportFileError) as caught:
            map_header(["name", "email"])
        assert caught.value.code == "missing_columns"
        assert caught.value.details["missing"] == ["phone", "consent_date", "consent_source"]
        with pytest.raises(ImportFileError):
            map_header(["phone", "consent_date"])  # a date without where the consent was given is no proof

    def test_a_valid_row(self) -> None:
        columns = map_header(["phone", "name", "consent_date", "consent_source", "tags"])
        cells = ["+1 (555) 123-0009", " Ada  Lovelace ", "2026-01-05", "checkout", "a, b;a"]
        row = validate_row(7, cells, columns, now=NOW, allow_fictional=True)
        assert row == ImportRow(
            line=7, phone="+15551230009", consent_at=datetime(2026, 1, 5, tzinfo=timezone.utc), consent_source="checkout",
            name="Ada Lovelace", tags=("a", "b"), phone_given="+1 (555) 123-0009",
        )  # fmt: skip

    def test_control_characters_never_reach_a_subscriber(self) -> None:
        # The API refuses them; a file's cells lose them (a NUL, a bell, a C1 character) as a space, and tags are one line.
        columns = map_header(["phone", "name", "consent_date", "consent_source", "tags"])
        cells = ["+15551230009", "\x00Ada\x07 Love\x85lace", "2026-01-05", "check\x00out", "v\x1bip;\x00;new\nline"]
        row = validate_row(3, cells, columns, now=NOW, allow_fictional=True)
        assert isinstance(row, ImportRow)
        assert (row.name, row.consent_source, row.tags) == ("Ada Love lace", "check out", ("v ip", "new line"))

    @pytest.mark.parametrize(
        ("cells", "reason"),
        [
            (["nope", "2026-01-05", "x"], RejectReason.BAD_PHONE),
            (["+15551230009", "", "x"], RejectReason.MISSING_CONSENT),
            (["+15551230009", "2026-01-05", ""], RejectReason.MISSING_CONSENT),
            (["+15551230009", "05/01/2026", "x"], RejectReason.BAD_CONSENT_DATE),
            (["+15551230009", "2026-13-40", "x"], RejectReason.BAD_CONSENT_DATE),
            (["+15551230009", "2026-11-21", "x"], RejectReason.FUTURE_CONSENT_DATE),
        ],
    )
    def test_rejections(self, cells: list[str], reason: RejectReason) -> None:
        columns = map_header(["phone", "consent_date", "consent_source"])
        outcome = validate_row(2, cells, columns, now=NOW, allow_fictional=True)
        assert isinstance(outcome, Rejection) and outcome.reason is reason

    def test_records_know_their_offsets_whatever_the_chunks(self) -> None:
        data = b'a,b\r\n"x\r\ny",2\n"q""",3\nlast,4'
        for size in (1, 2, 3, 7, 100):
            chunks = [data[i : i + size] for i in range(0, len(data), size)]
            found = list(records(chunks))
            assert [r.data for r in found] == [b"a,b\r\n", b'"x\r\ny",2\n', b'"q""",3\n', b"last,4"]
            assert [r.end for r in found] == [5, 14, 22, 28]
            # resuming at any record boundary reads the rest exactly
            assert [r.data for r in records([data[14:]], start=14)] == [b'"q""",3\n', b"last,4"]
        assert decode_record(found[1]) == ["x\r\ny", "2"]
        assert decode_record(found[2]) == ['q"', "3"]


class TestReport:
    def test_a_file_with_bad_rows_gives_the_exact_report(self) -> None:
        """Bad phone, missing consent, a duplicate, an opted-out number, a future date: each line, as given, why."""
        ports = _ports()
        _opt_out(ports, "+15551230003")
        job = _upload(ports, BAD_FILE)
        assert _drain(ports) == [Run.FINISHED]
        done = _job(ports, job)
        assert done.status is JobStatus.DONE
        assert done.counts == ImportCounts(read=7, imported=2, merged=1, rejected=4)
        assert _report(ports, done) == [
            ["line", "phone", "reason", "message"],
            ["3", "12345", "bad_phone", _bad_phone_message("12345")],
            ["4", "+15551230002", "missing_consent", "no consent date: a subscriber needs proof of consent"],
            ["5", "(555) 123-0001", "duplicate_in_file", "same number as line 2; merged into it"],
            ["6", "+15551230003", "opted_out", "opted out; only the subscriber can opt back in (START)"],
            ["7", "+15551230004", "future_consent_date", "consent date 2027-01-01 is in the future"],
        ]
        ada = ports.subscribers.get(SHOP, "+15551230001")
        assert ada is not None and ada.status is SubscriberStatus.ACTIVE and ada.source is Source.IMPORT
        assert ada.name == "Ada Lovelace" and ada.tags == ("vip", "winter", "spring")  # the duplicate's tags merged
        (event,) = ports.subscribers.consent_history(SHOP, "+15551230001")
        assert (event.action, event.source) == (ConsentAction.OPTED_IN, ConsentSource.IMPORT)
        assert event.text == "Imported from customers.csv: consent checkout box on 2026-01-05"
        fay = ports.subscribers.get(SHOP, "+15551230005")
        assert fay is not None and fay.name == 'Fay "F" Smith'
        (fay_event,) = ports.subscribers.consent_history(SHOP, "+15551230005")
        assert fay_event.text == "Imported from customers.csv: consent in store,\nsigned form on 2026-03-04"
        assert report_link(ports, done) is not None

    def test_stopped_numbers_stay_opted_out_through_import(self) -> None:
        ports = _ports()
        _opt_out(ports, "+15551230003")
        before = ports.subscribers.consent_history(SHOP, "+15551230003")
        _upload(ports, b"phone,consent_date,consent_source\n+15551230003,2026-01-01,checkout\n")
        _drain(ports)
        stopped = ports.subscribers.get(SHOP, "+15551230003")
        assert stopped is not None and stopped.status is SubscriberStatus.OPTED_OUT
        assert ports.subscribers.consent_history(SHOP, "+15551230003") == before

    def test_a_stop_landing_during_the_import_is_not_undone(self) -> None:
        """The STOP comes between the import's read and its write: the write's condition fails, the row is decided again."""
        ports = _ports()
        subscribers.add_subscriber(ports, SHOP, subscribers.add_command(phone="+15551230007", allow_fictional=True))
        store = ports.subscribers
        real_get_many = store.get_many

        def stop_after_read(shop_id: str, phones: Sequence[str]) -> dict[str, Subscriber]:
            read = real_get_many(shop_id, phones)
            subscribers.opt_out(ports, SHOP, "+15551230007", source=ConsentSource.SMS, text="STOP")
            return read

        store.get_many = stop_after_read  # type: ignore[method-assign]
        job = _upload(ports, b"phone,name,consent_date,consent_source\n+15551230007,Zed,2026-01-01,checkout\n")
        _drain(ports)
        zed = store.get(SHOP, "+15551230007")
        assert zed is not None and zed.status is SubscriberStatus.OPTED_OUT and zed.name is None
        assert [row[2] for row in _report(ports, _job(ports, job))[1:]] == ["opted_out"]

    def test_a_stop_from_an_unknown_number_during_the_import_wins_over_its_creation(self) -> None:
        ports = _ports()
        store = ports.subscribers
        real_get_many = store.get_many

        def stop_after_read(shop_id: str, phones: Sequence[str]) -> dict[str, Subscriber]:
            read = real_get_many(shop_id, phones)
            _opt_out(ports, "+15551230009")  # the number did not exist when read: created, then opted out
            return read

        store.get_many = stop_after_read  # type: ignore[method-assign]
        _upload(ports, b"phone,consent_date,consent_source\n+15551230009,2026-01-01,checkout\n")
        _drain(ports)
        got = store.get(SHOP, "+15551230009")
        assert got is not None and got.status is SubscriberStatus.OPTED_OUT

    def test_an_existing_active_subscriber_merges_without_changing_consent(self) -> None:
        ports = _ports()
        subscribers.add_subscriber(ports, SHOP, subscribers.add_command(phone="+15551230010", allow_fictional=True))
        before = ports.subscribers.consent_history(SHOP, "+15551230010")
        job = _upload(ports, b"phone,name,consent_date,consent_source,tags\n+15551230010,Max,2026-01-01,checkout,gold\n")
        _drain(ports)
        got = ports.subscribers.get(SHOP, "+15551230010")
        assert got is not None and (got.name, got.tags, got.source) == ("Max", ("gold",), Source.API)
        assert ports.subscribers.consent_history(SHOP, "+15551230010") == before
        assert _job(ports, job).counts == ImportCounts(read=1, merged=1)


def _bad_phone_message(given: str) -> str:
    from chalicelib.domain.errors import InvalidInput
    from chalicelib.domain.phones import normalize_phone

    with pytest.raises(InvalidInput) as caught:
        normalize_phone(given, allow_fictional=True)
    return caught.value.message


def _generated(rows: int, *, bad_every: int = 10) -> bytes:
    lines = ["phone,name,consent_date,consent_source,tags"]
    for i in range(rows):
        phone = "bad" if i % bad_every == 3 else f"+1555{2000000 + i % (rows - 5):07d}"  # the last five repeat the first
        lines.append(f"{phone},Person {i},2026-01-{1 + i % 28:02d},checkout,t{i % 3}")
    return ("\n".join(lines) + "\n").encode()


class WorkerCrash(BaseException):
    """The worker died (not an error the code handles)."""


class TestResume:
    def test_a_crash_mid_file_resumes_to_identical_counts(self) -> None:
        data = _generated(3_500)
        clean = _ports()
        job = _upload(clean, data)
        _drain(clean)
        expected = _job(clean, job)

        ports = _ports()
        job = _upload(ports, data)
        store = ports.subscribers
        real_apply, writes = store.apply, [0]

        def crash_on_the_1500th_write(change: object) -> object:
            writes[0] += 1
            if writes[0] == 1500:
                raise WorkerCrash
            return real_apply(change)  # type: ignore[arg-type]

        store.apply = crash_on_the_1500th_write  # type: ignore[method-assign,assignment]
        messages = _queue(ports).take()
        with pytest.raises(WorkerCrash):
            list_jobs.run_list_job(ports, messages[0], NEVER)
        crashed = _job(ports, job)
        assert crashed.status is JobStatus.RUNNING and 0 < crashed.counts.read < 3_500
        _queue(ports).messages.extend(messages)  # SQS delivers the message again after its visibility timeout
        _drain(ports)
        done = _job(ports, job)
        assert done.status is JobStatus.DONE
        assert done.counts == expected.counts
        assert done.counts.read == 3_500 and done.counts.merged == 4  # the last five rows repeat the first five, one of them bad
        assert _report(ports, done) == _report(clean, expected)
        assert len(ports.subscribers.page(SHOP, limit=10_000).items) == len(clean.subscribers.page(SHOP, limit=10_000).items)

    def test_the_deadline_hands_the_rest_to_a_new_turn(self) -> None:
        ports = _ports()
        job = _upload(ports, _generated(2_500))
        turns = iter([100.0, 100.0, 1.0] * 10)  # each turn gets time for two segments, then is told time is short
        runs = _drain(ports, lambda: next(turns))
        assert runs == [Run.CONTINUE, Run.FINISHED]
        done = _job(ports, job)
        assert done.status is JobStatus.DONE and done.counts.read == 2_500

    def test_start_twice_imports_once(self) -> None:
        ports = _ports()
        created = create_import(ports, SHOP, "twice.csv")
        data = b"phone,consent_date,consent_source\n+15551230011,2026-01-01,x\n"
        _files(ports).upload(SHOP, upload_name(created.job.job_id), data)
        first = start_import(ports, SHOP, created.job.job_id)
        second = start_import(ports, SHOP, created.job.job_id)
        assert first.status is second.status is JobStatus.QUEUED
        assert len(_queue(ports).messages) == 1
        _drain(ports)
        assert start_import(ports, SHOP, created.job.job_id).status is JobStatus.DONE
        assert _queue(ports).messages == []
        # a redelivered message of the finished job does nothing
        from chalicelib.domain.list_jobs import RunListJob

        assert list_jobs.run_list_job(ports, RunListJob(SHOP, created.job.job_id), NEVER) is Run.FINISHED
        assert len(ports.subscribers.consent_history(SHOP, "+15551230011")) == 1

    def test_start_without_upload_is_refused(self) -> None:
        ports = _ports()
        created = create_import(ports, SHOP, "nothing.csv")
        with pytest.raises(Conflict) as caught:
            start_import(ports, SHOP, created.job.job_id)
        assert caught.value.code == "upload_missing"


class TestWholeFile:
    def test_more_than_the_row_limit_fails_before_anything_is_imported(self) -> None:
        ports = _ports()
        header = b"phone,consent_date,consent_source\n"
        job = _upload(ports, header + b"+15551230012,2026-01-01,x\n" * (MAX_ROWS + 1))
        _drain(ports)
        failed = _job(ports, job)
        assert failed.status is JobStatus.FAILED and failed.error_code == "too_many_rows"
        assert "100,001 rows" in (failed.error_message or "")
        assert ports.subscribers.get(SHOP, "+15551230012") is None

    def test_a_file_without_the_columns_fails_clearly(self) -> None:
        ports = _ports()
        job = _upload(ports, b"email,name\na@b.c,A\n")
        _drain(ports)
        failed = _job(ports, job)
        assert (failed.status, failed.error_code) == (JobStatus.FAILED, "missing_columns")

    def test_the_file_is_read_in_ranged_streams_not_whole(self) -> None:
        """One read for the first pass, one per segment (each from its checkpoint), never one string of the file."""
        ports = _ports()
        files = _files(ports)
        starts: list[int] = []
        real_read = files.read

        def spy(shop_id: str, name: str, *, start: int = 0) -> Generator[bytes, None, None]:
            if name.endswith("upload.csv"):
                starts.append(start)
            return real_read(shop_id, name, start=start)

        files.read = spy  # type: ignore[method-assign]
        _upload(ports, _generated(2_500))
        _drain(ports)
        assert len(starts) == 1 + 3 and starts[0] == 0 and starts[1] > 0 and starts == sorted(starts)


class TestExportJob:
    def test_an_export_runs_as_a_job_and_links_its_file_when_done(self) -> None:
        ports = _ports()
        subscribers.add_subscriber(ports, SHOP, subscribers.add_command(phone="+15551230013", allow_fictional=True))
        from chalicelib.services.exports import SubscriberFilters

        job = list_jobs.create_export(ports, SHOP, SubscriberFilters(status=SubscriberStatus.ACTIVE))
        assert job.status is JobStatus.QUEUED and list_jobs.export_link(ports, job) is None
        _drain(ports)
        done = _job(ports, job)
        assert (done.status, done.rows, done.kind) == (JobStatus.DONE, 1, JobKind.EXPORT)
        assert list_jobs.export_link(ports, done) is not None
        assert isinstance(ports.export_files, FakeExportFiles)
        assert b"+15551230013" in ports.export_files.files[(SHOP, done.file_name)]


def test_imports_module_names() -> None:
    assert imports.report_part_name("j", 2) == "imports/j/report-0000002.csv"


class TestApi:
    def test_create_upload_start_poll_and_report(self, api: Api) -> None:
        created = api.call("POST", "/subscribers/imports", body={"file_name": "spring list.csv"})
        assert created.status_code == 201
        answer = body(created)
        assert answer["status"] == "created" and answer["upload"]["max_bytes"] == 20 * 1024 * 1024
        assert answer["upload"]["content_type"] == "text/csv"
        job_id = answer["id"]
        early = api.call("POST", f"/subscribers/imports/{job_id}/start")
        assert early.status_code == 409 and body(early)["error"]["code"] == "upload_missing"
        data = b"phone,consent_date,consent_source\n+15551230020,2026-01-01,checkout\nnope,2026-01-01,checkout\n"
        api.ports.import_files.upload(SHOP, upload_name(job_id), data)  # type: ignore[attr-defined]
        started = api.call("POST", f"/subscribers/imports/{job_id}/start")
        assert started.status_code == 202 and body(started)["status"] == "queued"
        assert body(api.call("POST", f"/subscribers/imports/{job_id}/start"))["status"] == "queued"
        run_list_jobs(api.ports)
        done = body(api.call("GET", f"/subscribers/imports/{job_id}"))
        assert (done["status"], done["progress"], done["rows_total"]) == ("done", 1.0, 2)
        assert done["counts"] == {"read": 2, "imported": 1, "merged": 0, "rejected": 1}
        assert done["report_url"].startswith(f"https://exports.example/{SHOP}/import-{job_id}-report.csv")
        listed = body(api.call("GET", "/subscribers/imports"))
        assert [item["id"] for item in listed["items"]] == [job_id]
        subscriber = body(api.call("GET", "/subscribers/%2B15551230020"))
        assert subscriber["source"] == "import"
        assert subscriber["consent_history"][0]["text"] == "Imported from spring list.csv: consent checkout on 2026-01-01"

    def test_another_shops_import_is_not_found(self, api: Api) -> None:
        job_id = body(api.call("POST", "/subscribers/imports", body={"file_name": "a.csv"}))["id"]
        assert api.call("GET", f"/subscribers/imports/{job_id}", shop="other").status_code == 404
        assert api.call("POST", f"/subscribers/imports/{job_id}/start", shop="other").status_code == 404


class TestMore:
    def test_a_number_erased_at_the_customers_request_is_not_imported(self) -> None:
        ports = _ports()
        ports.suppressions.add(SHOP, "+15551230030", NOW)
        job = _upload(ports, b"phone,consent_date,consent_source\n+15551230030,2026-01-01,checkout\n")
        _drain(ports)
        assert ports.subscribers.get(SHOP, "+15551230030") is None
        assert [row[2] for row in _report(ports, _job(ports, job))[1:]] == ["suppressed"]

    def test_a_start_finding_its_import_queued_long_ago_queues_it_again(self) -> None:
        ports = _ports()
        job = _upload(ports, b"phone,consent_date,consent_source\n+15551230031,2026-01-01,checkout\n")
        _queue(ports).take()  # the message was lost (the enqueue after the save failed)
        assert start_import(ports, SHOP, job.job_id).status is JobStatus.QUEUED and _queue(ports).messages == []
        ports.clock.advance(minutes=6)  # type: ignore[attr-defined]
        start_import(ports, SHOP, job.job_id)
        _drain(ports)
        assert _job(ports, job).status is JobStatus.DONE

    def test_an_imported_subscribers_consent_proof_round_trips(self, api: Api) -> None:
        """consent.csv of an imported subscriber: the import's event with its source and the file's wording, read back."""
        job_id = body(api.call("POST", "/subscribers/imports", body={"file_name": '=evil "list".csv'}))["id"]
        data = b'phone,consent_date,consent_source\n+15551230032,2026-01-05,"checkout, box\nticked"\n'
        api.ports.import_files.upload(SHOP, upload_name(job_id), data)  # type: ignore[attr-defined]
        api.call("POST", f"/subscribers/imports/{job_id}/start")
        run_list_jobs(api.ports)
        proof = api.call("GET", "/subscribers/%2B15551230032/consent.csv")
        assert proof.status_code == 200
        rows = list(csv.reader(io.StringIO(proof.body.decode("utf-8-sig"), newline="")))
        (event,) = api.ports.subscribers.consent_history(SHOP, "+15551230032")
        assert rows[1][:4] == ["+15551230032", event.at.isoformat(), "opted_in", "import"]
        wording = 'Imported from =evil "list".csv: consent checkout, box\nticked on 2026-01-05'
        assert read_cell(rows[1][4]) == event.text == wording
        assert rows[1][4].startswith("Imported")  # not a formula: the wording starts with our own words


class TestDashboardCsp:
    def test_the_page_may_post_the_upload_form_to_the_bucket_only(self) -> None:
        from chalicelib.api.web import upload_origins

        assert upload_origins("b-1", "eu-west-1", None) == ["https://b-1.s3.amazonaws.com", "https://b-1.s3.eu-west-1.amazonaws.com"]
        assert upload_origins("b-1", "us-east-1", "http://127.0.0.1:5001") == ["http://127.0.0.1:5001"]

    def test_the_dashboards_csp_names_the_bucket(self, api: Api) -> None:
        page = api.call("GET", "/", shop=None)
        policy = page.headers["Content-Security-Policy"]
        assert "connect-src 'self' https://smscast-dev-exports.s3.amazonaws.com" in policy or "connect-src 'self' http" in policy
        assert "form-action 'self'" in policy and "default-src 'self'" in policy
