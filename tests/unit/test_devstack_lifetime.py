"""devstack/lifetime.py: stop signals that cannot deadlock, children that die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from devstack.lifetime import StopSignals

REPO_ROOT = Path(__file__).resolve().parents[2]

# Waits for the first stop signal, then keeps waiting for more for a while, as devstack does while stopping.
_LISTENER = textwrap.dedent(
    """
    import sys, time
    from devstack.lifetime import StopSignals
    signals = StopSignals().install()
    print("ready", flush=True)
    signals.wait()
    until = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < until:
        signals.wait(signals.count, timeout=0.05)
    print("survived", signals.count, flush=True)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_wait_times_out_without_a_signal() -> None:
    signals = StopSignals()
    signals.install([signal.SIGUSR1])
    try:
        started = time.monotonic()
        assert signals.wait(timeout=0.2) is False
        assert 0.15 <= time.monotonic() - started < 2
        os.kill(os.getpid(), signal.SIGUSR1)
        assert signals.wait(timeout=2) is True
        assert signals.count == 1
        assert signals.wait(more_than=1, timeout=0.1) is False
    finally:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)


def test_a_flood_of_mixed_signals_neither_deadlocks_nor_crashes_the_listener() -> None:
    # A handler that takes a lock (threading.Event.set) deadlocks or overflows the stack under this flood.
    child = subprocess.Popen(
        [sys.executable, "-c", _LISTENER, "2.5"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        kinds = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
        sent = 0
        until = time.monotonic() + 2.0
        while time.monotonic() < until and child.poll() is None:
            for _ in range(200):
                os.kill(child.pid, kinds[sent % 3])
                sent += 1
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    word, count = out.split()
    assert word == "survived"
    assert 1 <= int(count) <= sent


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_child_dies_with_its_parent_even_after_sigkill(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    parent_code = textwrap.dedent(
        f"""
        import subprocess, sys, time
        from devstack.lifetime import die_with_parent
        child = subprocess.Popen(["sleep", "120"], preexec_fn=die_with_parent())
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(120)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the parent never started its child"
            time.sleep(0.05)
        grandchild = int(pid_file.read_text())
        assert _alive(grandchild)
        assert os.getsid(grandchild) == grandchild, "the child leads its own session (no terminal Ctrl-C)"
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(grandchild), "the child outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
