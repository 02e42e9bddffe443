"""One clock (DESIGN invariant 8): only the clock adapter reads the wall clock; everything else asks the port.

A wall-clock read anywhere else stamps rows with real time while devstack's clock (and the tests' frozen
one) says otherwise, which is how threads came out of order. Monotonic timers (pacing, waits) are fine.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLOCK_ADAPTER = ROOT / "chalicelib" / "adapters" / "clock.py"
WALL_CLOCK = re.compile(
    r"\b(?:datetime\.(?:now|utcnow|today)|date\.today|time\.(?:time|time_ns|localtime|gmtime))\s*\("
)


def wall_clock_reads(folder: Path) -> list[str]:
    """``path:line: code`` for every wall-clock read under ``folder`` outside the clock adapter."""
    found: list[str] = []
    for path in sorted(folder.rglob("*.py")):
        if path == CLOCK_ADAPTER:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if WALL_CLOCK.search(line):
                found.append(f"{path.relative_to(folder.parent)}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("folder", ["chalicelib", "devstack"])
def test_only_the_clock_adapter_reads_the_wall_clock(folder: str) -> None:
    assert wall_clock_reads(ROOT / folder) == []


@pytest.mark.parametrize(
    "line",
    [
        "stamp = datetime.now(timezone.utc)",
        "stamp = datetime.utcnow()",
        "today = date.today()",
        "started = time.time()",
        "started = time.time_ns()",
    ],
)
def test_the_guard_catches_each_kind_of_wall_clock_read(tmp_path: Path, line: str) -> None:
    (tmp_path / "module.py").write_text(f"{line}\n", encoding="utf-8")
    assert len(wall_clock_reads(tmp_path)) == 1


def test_monotonic_timers_are_allowed(tmp_path: Path) -> None:
    (tmp_path / "module.py").write_text("deadline = time.monotonic() + 5\nclock.now()\n", encoding="utf-8")
    assert wall_clock_reads(tmp_path) == []
