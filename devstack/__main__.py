"""`python -m devstack`: run smscast locally until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devstack.config import DEFAULT_CLOCK_FILE, state_file_path
from devstack.stack import DEFAULT_PREFIX, Devstack, PortInUse, banner


def main() -> int:
    """Start devstack, print how to use it, and run until told to stop."""
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
    stop_requested = threading.Event()
    ready = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if not ready.is_set():
            raise KeyboardInterrupt  # still starting: abandon start(); the finally below cleans up
        # Running: only set a flag, the main thread shuts down outside the signal handler.
        stop_requested.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)

    clock_file = Path(os.environ.get("SMSCAST_CLOCK_FILE") or DEFAULT_CLOCK_FILE)
    stack = Devstack(
        port=port,
        state_file=state_file_path(),
        clock_file=clock_file,
        prefix=os.environ.get("SMSCAST_RESOURCE_PREFIX", DEFAULT_PREFIX),
        moto_log=str(clock_file.parent / "moto.log"),
    )
    try:
        config = stack.start()
        ready.set()
        print(banner(config), flush=True)
        while not stop_requested.wait(0.5):
            pass
        print("devstack: stopping", flush=True)
    except PortInUse as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("devstack: interrupted while starting", file=sys.stderr)
        return 130
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
