"""How devstack and its children live and die: signals that cannot deadlock, children that die with their parent.

A Python signal handler runs on the main thread between two bytecodes, possibly while that thread holds a
non-reentrant lock (inside ``threading.Event.wait``, ``logging``, ``print``), or while an earlier handler is
still running. A handler that takes any lock can therefore deadlock the process it is meant to stop. The
handler here only bumps an integer; the C-level wakeup fd makes the main loop's ``select`` return at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterable
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


class StopSignals:
    """Counts stop signals; ``wait`` sleeps until the count passes a number or a timeout runs out."""

    def __init__(self) -> None:
        self.count = 0
        self._read_fd = -1
        self._write_fd = -1

    def install(self, signums: Iterable[int] = STOP_SIGNALS) -> StopSignals:
        """Handle ``signums`` from now on (main thread only)."""
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)  # a full pipe must never block the C-level handler
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for signum in signums:
            signal.signal(signum, self._handle)
        return self

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        # Async-signal-safe by construction: no lock, no I/O, no allocation that could re-enter anything.
        self.count += 1

    def received(self, more_than: int = 0) -> bool:
        """True once more than ``more_than`` stop signals have arrived."""
        return self.count > more_than

    def wait(self, more_than: int = 0, timeout: float | None = None) -> bool:
        """Sleep until more than ``more_than`` signals have arrived (True) or ``timeout`` seconds pass (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.received(more_than):
            left = 0.5 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            # The wakeup fd is written by the C handler, so select returns even before the Python handler ran;
            # the 0.5 s cap only bounds how long a byte lost to a full pipe could delay us.
            ready, _, _ = select.select([self._read_fd], [], [], min(0.5, left))
            if ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._read_fd, 512)
        return True


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` that puts the child in its own session and has the kernel SIGTERM it if we die.

    Its own session keeps a terminal's Ctrl-C away from the child, so the parent decides the order of shutdown;
    the death signal covers a parent killed with no chance to clean up (SIGKILL, the OOM killer). The death
    signal belongs to the thread that forks: call ``Popen`` from a thread that lives as long as the child should.
    """
    parent = os.getpid()

    def preexec() -> None:
        os.setsid()
        if sys.platform.startswith("linux"):
            try:
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            except OSError:
                pass
        if os.getppid() != parent:
            os._exit(1)  # the parent died between fork and prctl: the death signal will never come

    return preexec
