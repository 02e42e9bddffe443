"""`python -m devstack`: run smscast locally until Ctrl-C (or SIGTERM, or SIGHUP).

Any number of stop signals, in any order, stop the stack once: the first asks for a clean stop (during
start-up it abandons the start at the next step); one more while stopping, or a stop that overruns
``STOP_GRACE_SECONDS``, forces it (state file removed, moto killed, exit at once).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from devstack.config import DEFAULT_CLOCK_FILE, state_file_path
from devstack.lifetime import StopSignals
from devstack.moto_server import StartCancelled
from devstack.stack import DEFAULT_PREFIX, Devstack, PortInUse, banner

STOP_GRACE_SECONDS = 15.0
SAME_REQUEST_SECONDS = 0.3  # signals this close to the first are one request, not a second Ctrl-C
EXIT_INTERRUPTED = 130


def main() -> int:
    """Start devstack, print how to use it, and run until told to stop."""
    # First of all: a signal that arrives while we configure logging must already be ours, not a traceback.
    signals = StopSignals().install()
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how to see where a stuck pump or worker waits.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(
        level=os.environ.get("SMSCAST_DEVSTACK_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        port = int(os.environ.get("SMSCAST_PORT", "8000"))
    except ValueError:
        print("SMSCAST_PORT must be a port number", file=sys.stderr)
        return 2
    clock_file = Path(os.environ.get("SMSCAST_CLOCK_FILE") or DEFAULT_CLOCK_FILE)
    stack = Devstack(
        port=port,
        state_file=state_file_path(),
        clock_file=clock_file,
        prefix=os.environ.get("SMSCAST_RESOURCE_PREFIX", DEFAULT_PREFIX),
        moto_log=str(clock_file.parent / "moto.log"),
    )
    code = 0
    try:
        config = stack.start(cancelled=signals.received)
        print(banner(config), flush=True)
        signals.wait()
        print("devstack: stopping", flush=True)
    except PortInUse as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        code = 1
    except StartCancelled:
        print("devstack: stopped while starting", file=sys.stderr)
        code = EXIT_INTERRUPTED
    finally:
        stop(stack, signals, grace=STOP_GRACE_SECONDS)
    return code


def stop(stack: Devstack, signals: StopSignals, *, grace: float) -> None:
    """Stop cleanly on a helper thread while this one keeps listening: one more signal or the grace period forces it."""
    seen = signals.count
    stopper = threading.Thread(target=stack.stop, name="devstack-stop", daemon=True)
    stopper.start()
    started = time.monotonic()
    deadline = started + grace
    while stopper.is_alive():
        if time.monotonic() - started < SAME_REQUEST_SECONDS:
            seen = signals.count  # the group's copy and the parent's copy of one request arrive together
        elif signals.received(seen) or time.monotonic() >= deadline:
            print("devstack: forcing stop", file=sys.stderr, flush=True)
            stack.kill()
            sys.stdout.flush()
            # The pumps and the API server are daemon threads that may hold locks: leave without waiting on them.
            os._exit(EXIT_INTERRUPTED)
        signals.wait(seen, timeout=0.1)


if __name__ == "__main__":
    sys.exit(main())
