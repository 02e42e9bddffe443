"""The subscriber CSV import: rows per second and peak memory as the file grows (flat memory is the point), and
AWS calls per row on moto.

```
.venv/bin/python -m bench.imports [--rows 10000 100000] [--moto-rows 500] [--markdown]
```

Memory and speed: the real use case (``services.imports`` through ``services.list_jobs.run_list_job``, the
worker's entry point) on the test fakes, except two stand-ins that hold nothing in the process: the object store
keeps the uploaded file and the report parts in files on local disk (as S3 keeps them outside the Lambda), and
the subscriber store remembers no subscriber (it answers "opted out" for every 50th number, so those rows take
the opted-out path, and forgets every write), so the peak ``tracemalloc`` reports is the import's own: one
record, one batch of 100 rows and their subscribers, one segment's rejected rows. Three rows in ten are bad (a
phone, a missing consent source, a date in the future). Rows per second is timed without tracing, of this
process only (no DynamoDB latency: in AWS each written row is a conditional write of 5-10 ms, see below).

Calls: the same import on moto in-process through the real adapters (DynamoDB, S3, SQS), every botocore call
counted by operation, divided by the rows of the file. Duplicates within a file are not in the memory runs: the
forgetful store cannot see them (they cost one consent-history query each: the calls run has some).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from chalicelib.domain.list_jobs import JobStatus, ListJob
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberStatus
from chalicelib.services import imports, list_jobs
from chalicelib.services.ports import Ports, SubscriberChange, UploadForm
from tests.fakes import FakeExportFiles, FakeListJobQueue, fake_ports
from tests.numbers import create_shop

SHOP = "bench.myshopify.com"
MIB = 1024 * 1024
OPTED_OUT_EVERY = 50


def generated_csv(rows: int, *, duplicates: bool = False) -> Iterator[bytes]:
    """A file of ``rows`` rows, three in ten bad (a phone, a consent source, a future date); with ``duplicates`` every
    25th row repeats the number of the row before it."""
    yield b"phone,first_name,last_name,consent_date,consent_source,tags\n"
    for i in range(rows):
        n = i - 1 if duplicates and i % 25 == 24 else i
        phone, date = f"+1555{1000000 + n:07d}", f"2026-0{1 + i % 9}-{1 + i % 28:02d}"
        source = "checkout"
        if i % 10 == 3:
            phone = f"555-{i}"
        elif i % 10 == 6:
            source = ""
        elif i % 10 == 9:
            date = "2027-01-01"
        yield f'{phone},Person,"No. {i}",{date},{source},"vip;t{i % 5}"\n'.encode()


class DiskObjects:
    """``ImportFiles`` on local disk: nothing of a file is held in the process, as S3 holds nothing in the Lambda."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.gets = 0

    def _path(self, shop_id: str, name: str) -> Path:
        path = self.root / shop_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, shop_id: str, name: str, chunks: Iterator[bytes]) -> int:
        """The merchant's upload."""
        with self._path(shop_id, name).open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        return self._path(shop_id, name).stat().st_size

    def upload_form(self, shop_id: str, name: str, *, max_bytes: int, content_type: str, expires_in: int) -> UploadForm:
        return UploadForm(url="file://", fields={}, max_bytes=max_bytes, content_type=content_type)

    def size(self, shop_id: str, name: str) -> int | None:
        path = self._path(shop_id, name)
        return path.stat().st_size if path.exists() else None

    def read(self, shop_id: str, name: str, *, start: int = 0) -> Generator[bytes, None, None]:
        self.gets += 1
        with self._path(shop_id, name).open("rb") as file:
            file.seek(start)
            while chunk := file.read(256 * 1024):
                yield chunk

    def put(self, shop_id: str, name: str, data: bytes, *, content_type: str) -> None:
        self._path(shop_id, name).write_bytes(data)

    def erase_shop(self, shop_id: str) -> int:
        return 0


class ForgetfulSubscribers:
    """A subscriber store that keeps nothing: every 50th number has opted out, every other one is new."""

    def __init__(self) -> None:
        self.writes = 0

    def get_many(self, shop_id: str, phones: Sequence[str]) -> dict[str, Subscriber]:
        at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        return {
            phone: Subscriber(shop_id, phone, SubscriberStatus.OPTED_OUT, Source.KEYWORD, at, at, opted_out_at=at)
            for phone in phones
            if int(phone[-7:]) % OPTED_OUT_EVERY == 0
        }

    def get(self, shop_id: str, phone: str) -> Subscriber | None:
        return self.get_many(shop_id, [phone]).get(phone)

    def apply(self, change: SubscriberChange) -> Subscriber | None:
        self.writes += 1
        return change.subscriber

    def consent_history(self, shop_id: str, phone: str) -> list[Any]:
        return []


class ReportSink(FakeExportFiles):
    """The report's bytes counted as they stream, and dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def store(self, shop_id: str, name: str, chunks: Any, *, content_type: str) -> None:
        for chunk in chunks:
            self.bytes += len(chunk)


@dataclass(frozen=True)
class Run:
    """One import's figures."""

    rows: int
    file_mib: float
    imported: int
    rejected: int
    turns: int
    report_kib: float
    peak_mib: float
    rows_per_second: float


def _import(ports: Ports, objects: DiskObjects, rows: int) -> ListJob:
    created = imports.create_import(ports, SHOP, "bench.csv")
    objects.write(SHOP, imports.upload_name(created.job.job_id), generated_csv(rows))
    imports.start_import(ports, SHOP, created.job.job_id)
    queue = ports.list_job_queue
    assert isinstance(queue, FakeListJobQueue)
    while queue.messages:
        for message in queue.take():
            list_jobs.run_list_job(ports, message, lambda: 900.0)
    job = ports.list_jobs.get(SHOP, created.job.job_id)
    assert job is not None and job.status is JobStatus.DONE, job
    return job


def run(rows: int) -> Run:
    """Import a generated file of ``rows`` rows and measure."""
    with tempfile.TemporaryDirectory(prefix="smscast-bench-imports-") as tmp:
        base = fake_ports()
        create_shop(base, shop_id=SHOP, settings={})
        objects = DiskObjects(Path(tmp))
        sink = ReportSink()
        ports = dataclasses.replace(base, subscribers=ForgetfulSubscribers(), import_files=objects, export_files=sink)  # type: ignore[arg-type]
        started = time.perf_counter()
        job = _import(ports, objects, rows)
        elapsed = time.perf_counter() - started
        sink.bytes = 0
        tracemalloc.start()
        job = _import(ports, objects, rows)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return Run(
            rows=job.counts.read,
            file_mib=job.bytes_total / MIB,
            imported=job.counts.imported,
            rejected=job.counts.rejected,
            turns=len(job.report_parts),
            report_kib=sink.bytes / 1024,
            peak_mib=peak / MIB,
            rows_per_second=job.counts.read / elapsed if elapsed else 0.0,
        )


# --- AWS calls per row, on moto -----------------------------------------------------------------------------


@contextmanager
def counting_calls(counter: Counter[str]) -> Iterator[None]:
    """Every botocore call of this process counted as ``service:Operation``."""
    from botocore.client import BaseClient

    original: Callable[..., Any] = getattr(BaseClient, "_make_api_call")  # noqa: B009

    def counted(client: BaseClient, operation: str, params: Mapping[str, Any]) -> Any:
        counter[f"{client.meta.service_model.service_name}:{operation}"] += 1
        return original(client, operation, params)

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010
    try:
        yield
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010


def calls_per_row(rows: int) -> tuple[Counter[str], int]:
    """The import of a ``rows``-row file (with duplicates and opted-out numbers) on moto: calls by operation."""
    import boto3
    from moto import mock_aws

    from bench.campaign_calls import REGION, bench_settings, fake_aws_environment
    from chalicelib.adapters.dynamo.tables import create_tables
    from chalicelib.adapters.resources import LIST_JOBS, create_messaging_resources
    from chalicelib.composition import Container, use_container
    from chalicelib.domain.list_jobs import RunListJob
    from chalicelib.services import subscribers

    counter: Counter[str] = Counter()
    with fake_aws_environment(), mock_aws():
        settings = bench_settings()
        container = Container(settings)
        use_container(container)
        try:
            create_tables()
            create_messaging_resources(
                boto3.client("sqs", region_name=REGION),
                boto3.client("sns", region_name=REGION),
                boto3.client("scheduler", region_name=REGION),
                settings.resource_prefix,
                s3=boto3.client("s3", region_name=REGION),
            )
            ports = container.ports
            create_shop(ports, shop_id=SHOP, settings={})
            for i in range(0, rows, OPTED_OUT_EVERY):
                phone = f"+1555{1000000 + i:07d}"
                subscribers.add_subscriber(ports, SHOP, subscribers.add_command(phone=phone, allow_fictional=True))
                subscribers.opt_out(ports, SHOP, phone, source=subscribers.ConsentSource.SMS, text="STOP")
            created = imports.create_import(ports, SHOP, "bench.csv")
            data = b"".join(generated_csv(rows, duplicates=True))
            container.client("s3").put_object(
                Bucket=settings.exports_bucket, Key=f"{SHOP}/{imports.upload_name(created.job.job_id)}", Body=data
            )
            sqs, url = container.client("sqs"), container.queues.url(LIST_JOBS)
            with counting_calls(counter):
                imports.start_import(ports, SHOP, created.job.job_id)
                while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", []):
                    list_jobs.run_list_job(ports, RunListJob.from_json(json.loads(got[0]["Body"])), lambda: 900.0)
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        finally:
            use_container(None)
    harness = {"sqs:ReceiveMessage", "sqs:DeleteMessage"}  # the harness's receive and delete: Lambda's poller
    return Counter({op: n for op, n in counter.items() if op not in harness}), rows


def main(argv: list[str] | None = None, *, out: TextIO = sys.stdout) -> list[Run]:
    """Run the import for each file size and print the figures (and the calls per row on moto)."""
    parser = argparse.ArgumentParser(prog="bench.imports", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--moto-rows", type=int, default=200, help="rows of the calls-per-row run on moto (0: skip it)")
    parser.add_argument("--markdown", action="store_true", help="print a section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    runs = [run(n) for n in args.rows]
    if args.markdown:
        print("## CSV import\n", file=out)
        print(
            "A generated file (three rows in ten bad, every 50th number opted out) imported by the real use case on in-memory"
            " ports, the object store on local disk (`bench/imports.py`). Peak memory is `tracemalloc`'s; rows per second"
            " are of this process without DynamoDB.\n",
            file=out,
        )
        print(
            "| rows | file MiB | imported | rejected | report KiB | peak MiB | rows/s |\n|---:|---:|---:|---:|---:|---:|---:|",
            file=out,
        )
        for r in runs:
            print(
                f"| {r.rows:,} | {r.file_mib:.2f} | {r.imported:,} | {r.rejected:,} | {r.report_kib:.0f} | {r.peak_mib:.2f} |"
                f" {r.rows_per_second:,.0f} |",
                file=out,
            )
    else:
        print(
            f"{'rows':>8} {'file MiB':>8} {'imported':>8} {'rejected':>8} {'report KiB':>10} {'peak MiB':>8} {'rows/s':>8}",
            file=out,
        )
        for r in runs:
            print(
                f"{r.rows:>8} {r.file_mib:>8.2f} {r.imported:>8} {r.rejected:>8} {r.report_kib:>10.0f} {r.peak_mib:>8.2f}"
                f" {r.rows_per_second:>8.0f}",
                file=out,
            )
    if args.moto_rows:
        counter, rows = calls_per_row(args.moto_rows)
        total = sum(counter.values())
        detail = ", ".join(f"{op} {n / rows:.3f}" for op, n in counter.most_common())
        if args.markdown:
            print(
                f"\nAWS calls per row on moto ({rows} rows, 4% duplicates, 2% opted out): **{total / rows:.2f}** ({detail}).",
                file=out,
            )
            print("\nRerun: `.venv/bin/python -m bench.imports --markdown`.", file=out)
        else:
            print(f"AWS calls per row on moto ({rows} rows): {total / rows:.2f}  ({detail})", file=out)
    return runs


if __name__ == "__main__":
    main()
