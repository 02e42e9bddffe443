"""The baseline's own ``bench.campaign_calls`` run with this tree's write meter (``bench.wcu``) listening.

``make bench`` prices the baseline's writes in WCU beside this tree's. The baseline's bench counts calls but not
write units, and its engine cannot run under this tree's bench (that bench drives ports, shards and queues the
baseline does not have). So the report runs the baseline's bench unchanged, in a tree (``bench.report``'s
``overlay_baseline``) whose ``bench`` package holds the baseline's files plus this module and ``wcu.py``:

- every DynamoDB request the baseline's ``CallMeter`` counts for the engine or the sandbox provider is also kept,
  under the same phase rules, as item writes (``Writes.record``);
- the baseline's ``mock_aws`` is wrapped so that, before moto forgets the tables, the stored items of every
  written table are read and the writes priced (``Writes.settle``), exactly as this tree's bench does;
- the baseline's own ``--json`` line is printed with a ``wcu`` field added, so ``bench.report`` reads it like
  this tree's. The meter only listens: the baseline makes the same calls, which the report checks.

Run (in such a tree): ``python -m bench.baseline_wcu --subscribers 294 --mps 100 --json``.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import boto3

from bench import campaign_calls as baseline
from bench.wcu import Writes, scan_stored

# The baseline's phase for creating the campaign (its once-per-campaign writes: see ``Writes.once``).
SEND_NOW = "send now"


def _base_name(table: str) -> str:
    return table.removeprefix(f"{baseline.PREFIX}-")


def meter_writes(writes: Writes) -> None:
    """Make the baseline's ``CallMeter`` keep the item writes of every call it counts, and price them when its moto
    mock ends."""
    count = baseline.CallMeter.record

    def record(meter: Any, service: str, operation: str, params: Mapping[str, Any]) -> None:
        count(meter, service, operation, params)
        if service != "dynamodb" or meter.current in (baseline.SEEDING, baseline.HARNESS):
            return
        tables = baseline.tables_of(params)
        who = baseline.SANDBOX if tables and tables <= meter.sandbox_tables else baseline.ENGINE
        writes.record(who, operation, params, _base_name, once=meter.current == SEND_NOW)

    mock = baseline.mock_aws

    @contextmanager
    def priced_mock() -> Iterator[None]:
        with mock():
            try:
                yield
            finally:
                written = {write.table for write in writes.writes}
                client = boto3.session.Session(region_name=baseline.REGION).client("dynamodb")
                schemas, sizes = scan_stored(client, {name: f"{baseline.PREFIX}-{name}" for name in written})
                writes.settle(schemas, sizes)

    setattr(baseline.CallMeter, "record", record)  # noqa: B010 - the baseline's class, patched for this process only
    setattr(baseline, "mock_aws", priced_mock)  # noqa: B010


def main(argv: Sequence[str] | None = None) -> int:
    """Run the baseline's bench with the meter; print its report and its ``--json`` line with ``wcu`` added."""
    writes = Writes()
    meter_writes(writes)
    out = io.StringIO()
    args = list(sys.argv[1:] if argv is None else argv)
    baseline.main(args, out=out)
    lines = out.getvalue().rstrip("\n").splitlines()
    if "--json" in args and lines and lines[-1].startswith("{"):
        data: dict[str, Any] = json.loads(lines[-1])
        data["wcu"] = writes.as_dict()
        lines[-1] = json.dumps(data, sort_keys=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
