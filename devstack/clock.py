"""Move devstack's clock, so quiet hours and schedules can be tried by the day.

    python -m devstack.clock            # show devstack's time and offset
    python -m devstack.clock +9h        # forward 9 hours (also -30m, +2d, +90s; offsets add up)
    python -m devstack.clock reset      # back to real time

The offset lives in a small file every devstack process reads (FileOffsetClock): the running stack's
``clock_file`` from .devstack.json, else SMSCAST_CLOCK_FILE, else .devstack/clock.json.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from chalicelib.adapters.clock import FileOffsetClock
from devstack.config import DEFAULT_CLOCK_FILE, DevstackNotRunning, load_state

_STEP = re.compile(r"^([+-])(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_step(text: str) -> timedelta:
    """'+9h' -> 9 hours, '-30m' -> minus 30 minutes; ValueError for anything else."""
    match = _STEP.match(text.strip())
    if not match:
        raise ValueError(f"not a clock step: {text!r} (use e.g. +9h, -30m, +2d, +90s)")
    sign, amount, unit = match.groups()
    step = timedelta(**{_UNITS[unit]: int(amount)})
    return -step if sign == "-" else step


def clock_file() -> Path:
    """The clock file the running (or next) devstack uses."""
    try:
        return Path(load_state().clock_file)
    except DevstackNotRunning:
        return Path(os.environ.get("SMSCAST_CLOCK_FILE") or DEFAULT_CLOCK_FILE)


def shift(path: Path, step: timedelta) -> timedelta:
    """Add ``step`` to the current offset; returns the new offset."""
    offset = FileOffsetClock(str(path)).offset() + step
    path.parent.mkdir(parents=True, exist_ok=True)
    FileOffsetClock.write_offset(str(path), offset)
    return offset


def reset(path: Path) -> None:
    """Back to real time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    FileOffsetClock.write_offset(str(path), timedelta(0))


def describe(path: Path) -> str:
    """Devstack's time now, with the offset from real time."""
    clock = FileOffsetClock(str(path))
    offset = clock.offset()
    total = int(offset.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"devstack time {clock.now().isoformat(timespec='seconds')} (offset {sign}{hours}h{minutes:02d}m{seconds:02d}s)"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (no argparse: it would read '-30m' as an unknown option)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__.strip() if __doc__ else "", file=sys.stderr if len(args) > 1 else sys.stdout)
        return 2 if len(args) > 1 else 0
    path = clock_file()
    if args and args[0] == "reset":
        reset(path)
    elif args:
        try:
            step = parse_step(args[0])
        except ValueError as exc:
            print(f"devstack.clock: {exc}", file=sys.stderr)
            return 2
        shift(path, step)
    print(describe(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
