"""moto's server as a child process: the local stand-in for AWS."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import IO

from devstack.lifetime import die_with_parent


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class StartCancelled(Exception):
    """A stop was requested before start-up finished."""


class MotoServer:
    """Start, await and stop ``python -m moto.server`` on 127.0.0.1."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, log_path: str | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._group: int | None = None  # kept after stop() forgets the process, for kill()

    @property
    def endpoint(self) -> str:
        """The URL boto3 and PynamoDB talk to."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The moto process id, while it runs."""
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30.0, *, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Launch moto in its own process (so it runs on another core) and wait until it answers HTTP.

        Raises ``StartCancelled`` as soon as ``cancelled()`` turns true while waiting.
        """
        with contextlib.ExitStack() as stack:
            log: IO[bytes] | int = stack.enter_context(open(self._log_path, "ab")) if self._log_path else subprocess.DEVNULL
            self._process = subprocess.Popen(
                [sys.executable, "-m", "devstack.moto_main", "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=die_with_parent(),  # setsid + death signal need a pre-exec hook
            )
            self._group = self._process.pid
        self._wait_ready(timeout, cancelled)

    def _wait_ready(self, timeout: float, cancelled: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if cancelled():
                self.stop()
                raise StartCancelled("stop requested while moto was starting")
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._process.returncode} before it was ready")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answered: that is all "ready" means
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint} within {timeout:.0f}s")

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate moto's whole process group; kill it if it will not go. Safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
        self._group = None  # reaped: the id may be reused, so kill() must not aim at it any more

    def kill(self) -> None:
        """SIGKILL moto's whole process group at once, without waiting: for a forced stop that exits right after."""
        if self._group is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._group, signal.SIGKILL)
