"""Clocks: the real one, and devstack's movable one (an offset kept in a small JSON file)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FileOffsetClock:
    """System time plus an offset read from ``path`` ({"offset_seconds": N}), so `devstack.clock +9h`
    moves every devstack process at once. The file is re-read only when its mtime changes."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._mtime: float | None = None
        self._offset = timedelta(0)

    def offset(self) -> timedelta:
        """The current offset (zero when the file is absent)."""
        try:
            mtime = os.stat(self._path).st_mtime
        except FileNotFoundError:
            self._mtime, self._offset = None, timedelta(0)
            return self._offset
        if mtime != self._mtime:
            try:
                with open(self._path, encoding="utf-8") as handle:
                    seconds = float(json.load(handle).get("offset_seconds", 0))
            except (OSError, ValueError, AttributeError):
                return self._offset  # half-written file: keep the last good offset
            self._mtime, self._offset = mtime, timedelta(seconds=seconds)
        return self._offset

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset()

    @staticmethod
    def write_offset(path: str, offset: timedelta) -> None:
        """Set the offset atomically (write then rename)."""
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"offset_seconds": offset.total_seconds()}, handle)
        os.replace(tmp, path)
