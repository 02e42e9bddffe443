"""The subscriber CSV export: rows per second and peak memory as the list grows (flat memory is the point).

```
.venv/bin/python -m bench.exports [--subscribers 1000 10000 100000] [--page 200] [--part-mib 8]
```

Runs the real use case (``services.exports.export_subscribers``) and the real S3 adapter (``S3ExportFiles``,
its part buffer included) on two stand-ins that hold nothing: a subscriber store that makes each page of
subscribers when it is asked for, and an S3 client that counts the bytes of each part and drops them. So the
peak ``tracemalloc`` reports is the export's own (one page of subscribers, its CSV lines, one upload part),
and it should not grow with the list (past the part size: a list whose CSV is smaller than one part is
one PutObject of it). Rows per second (timed in a run without tracing) is of this process (no DynamoDB or S3 latency): in AWS a
page is one DynamoDB query, 500 of them for 100,000 subscribers.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import tracemalloc
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from chalicelib.adapters.export_files import S3ExportFiles
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberStatus
from chalicelib.services.exports import EXPORT_PAGE, SubscriberFilters, export_subscribers
from chalicelib.services.ports import Page
from tests.fakes import fake_ports
from tests.numbers import create_shop

SHOP = "bench.myshopify.com"
MIB = 1024 * 1024
_START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class MadeUpSubscribers:
    """A subscriber store of ``total`` subscribers that exist only while their page is being read."""

    def __init__(self, total: int) -> None:
        self.total, self.pages = total, 0

    def page(self, shop_id: str, *, limit: int = 50, cursor: str | None = None, **_filters: Any) -> Page[Subscriber]:
        self.pages += 1
        first = int(cursor or 0)
        last = min(first + limit, self.total)
        items = [self._one(shop_id, i) for i in range(first, last)]
        return Page(items, str(last) if last < self.total else None)

    def _one(self, shop_id: str, i: int) -> Subscriber:
        at = _START + timedelta(seconds=i)
        name = f'Subscriber {i}, "the {i % 7}th" Émile'
        return Subscriber(shop_id, f"+1212{i:07d}", SubscriberStatus.ACTIVE, Source.IMPORT, at, at, name=name)


class CountingS3:
    """The S3 calls S3ExportFiles makes, counting bytes and dropping them."""

    def __init__(self) -> None:
        self.bytes, self.parts, self.largest_part = 0, 0, 0

    def _took(self, body: bytes) -> None:
        self.bytes += len(body)
        self.parts += 1
        self.largest_part = max(self.largest_part, len(body))

    def put_object(self, *, Body: bytes, **_: Any) -> None:
        self._took(Body)

    def create_multipart_upload(self, **_: Any) -> dict[str, str]:
        return {"UploadId": "bench"}

    def upload_part(self, *, Body: bytes, PartNumber: int, **_: Any) -> dict[str, str]:
        self._took(Body)
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, **_: Any) -> None:
        pass

    def abort_multipart_upload(self, **_: Any) -> None:
        pass

    def generate_presigned_url(self, *_: Any, **__: Any) -> str:
        return "https://exports.example/bench.csv"


@dataclass(frozen=True)
class Run:
    """One export's figures."""

    subscribers: int
    rows: int
    pages: int
    parts: int
    csv_mib: float
    largest_part_mib: float
    peak_mib: float
    rows_per_second: float


def run(subscribers: int, *, page: int = EXPORT_PAGE, part_mib: float = 8) -> Run:
    """Export ``subscribers`` made-up subscribers and measure."""
    ports = fake_ports()
    create_shop(ports, shop_id=SHOP, settings={})
    store, s3 = MadeUpSubscribers(subscribers), CountingS3()
    files = S3ExportFiles(s3, "bench-exports", part_bytes=int(part_mib * MIB))
    bench_ports = dataclasses.replace(ports, subscribers=store, export_files=files)  # type: ignore[arg-type]
    # Timed without tracing (tracemalloc slows Python down several times), then measured with it.
    started = time.perf_counter()
    export_subscribers(bench_ports, SHOP, SubscriberFilters(), page_size=page)
    elapsed = time.perf_counter() - started
    store.pages, s3.bytes, s3.parts, s3.largest_part = 0, 0, 0, 0
    tracemalloc.start()
    exported = export_subscribers(bench_ports, SHOP, SubscriberFilters(), page_size=page)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Run(
        subscribers=subscribers,
        rows=exported.rows,
        pages=store.pages,
        parts=s3.parts,
        csv_mib=s3.bytes / MIB,
        largest_part_mib=s3.largest_part / MIB,
        peak_mib=peak / MIB,
        rows_per_second=exported.rows / elapsed if elapsed else 0.0,
    )


def main(argv: list[str] | None = None, *, out: TextIO = sys.stdout) -> list[Run]:
    """Run the export for each list size and print one line each."""
    parser = argparse.ArgumentParser(prog="bench.exports", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--page", type=int, default=EXPORT_PAGE)
    parser.add_argument("--part-mib", type=float, default=8)
    parser.add_argument("--markdown", action="store_true", help="print a section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    runs = [run(n, page=args.page, part_mib=args.part_mib) for n in args.subscribers]
    if args.markdown:
        print("## CSV export\n", file=out)
        print(
            "The real export use case and S3 adapter on a store that makes each page when asked and an S3 client that"
            " drops the parts (`bench/exports.py`); peak memory is `tracemalloc`'s, rows per second are of this process.\n",
            file=out,
        )
        print("| subscribers | pages | parts | CSV MiB | peak MiB | rows/s |\n|---:|---:|---:|---:|---:|---:|", file=out)
        for r in runs:
            print(
                f"| {r.subscribers:,} | {r.pages} | {r.parts} | {r.csv_mib:.2f} | {r.peak_mib:.2f} | {r.rows_per_second:,.0f} |",
                file=out,
            )
        print("\nRerun: `.venv/bin/python -m bench.exports --markdown`.", file=out)
        return runs
    print(f"{'subscribers':>11} {'rows':>8} {'pages':>6} {'parts':>6} {'CSV MiB':>8} {'part MiB':>8} "
          f"{'peak MiB':>8} {'rows/s':>9}", file=out)  # fmt: skip
    for r in runs:
        print(
            f"{r.subscribers:>11} {r.rows:>8} {r.pages:>6} {r.parts:>6} {r.csv_mib:>8.2f} {r.largest_part_mib:>8.2f} "
            f"{r.peak_mib:>8.2f} {r.rows_per_second:>9.0f}",
            file=out,
        )
    return runs


if __name__ == "__main__":
    main()
