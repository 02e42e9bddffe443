"""End-to-end fixtures: a real `python -m devstack` subprocess on free ports, driven over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlparse

import pytest
import requests

from devstack.config import DevstackConfig, load_state
from devstack.lifetime import die_with_parent
from devstack.moto_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
T = TypeVar("T")
_log_path: list[Path] = []  # the running devstack's log, shown with any failing e2e test


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the tail of devstack's log to a failing e2e test: the cause is usually in there."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and _log_path and _log_path[0].exists():
        report.sections.append(("devstack log (tail)", _log_path[0].read_text(errors="replace")[-4000:]))


def _answers(endpoint: str) -> bool:
    """True when something still listens at the endpoint's host:port."""
    parsed = urlparse(endpoint)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevstackConfig]:
    """Start devstack once for the session; stop it at the end and check it left nothing running."""
    workdir = tmp_path_factory.mktemp("devstack")
    state_file = workdir / "devstack.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("SMSCAST_")}
    env.update(
        {
            "SMSCAST_PORT": str(free_port()),
            "SMSCAST_DEVSTACK_FILE": str(state_file),
            "SMSCAST_CLOCK_FILE": str(workdir / "clock.json"),
            "SMSCAST_RESOURCE_PREFIX": "smscast-e2e",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log_path = workdir / "devstack.log"
    _log_path[:] = [log_path]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own group, so a kill at the end cannot miss a child; and it dies with this test run, so an
            # interrupted or killed pytest leaves no devstack (and through it no moto) behind.
            preexec_fn=die_with_parent(),
        )

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-4000:]

    deadline = time.monotonic() + START_TIMEOUT
    while not state_file.exists():
        if process.poll() is not None:
            pytest.fail(f"devstack exited with {process.returncode} before it was ready:\n{log_tail()}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"devstack did not write {state_file} within {START_TIMEOUT:.0f}s:\n{log_tail()}")
        time.sleep(0.2)
    config = load_state(state_file)
    try:
        yield config
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"devstack ignored SIGTERM for 30s:\n{log_tail()}")
        assert code == 0, log_tail()
        assert not state_file.exists(), "devstack must remove its state file on a clean exit"
        assert not _answers(config.aws_endpoint), "moto server outlived devstack"
        assert not _answers(config.api_url), "API server outlived devstack"


class Api:
    """A tiny HTTP client for one bearer token."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=10)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self.session.post(self.base_url + path, json=body, timeout=10)

    def patch(self, path: str, body: Any) -> requests.Response:
        return self.session.patch(self.base_url + path, json=body, timeout=10)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.session.put(self.base_url + path, json=body, timeout=10)

    def subscriber(self, phone: str) -> requests.Response:
        return self.get(f"/subscribers/{quote(phone, safe='')}")


@pytest.fixture(scope="session")
def api(devstack: DevstackConfig) -> Api:
    """The demo shop's API, authenticated with the printed key."""
    return Api(devstack.api_url, devstack.api_key)


def eventually(probe: Callable[[], T | None], *, timeout: float = 20.0, what: str = "condition", interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy (inbound SMS are handled asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


_CREATE_SHOP = textwrap.dedent(
    """
    import sys
    from chalicelib.composition import Container
    from chalicelib.services.shops import create_shop
    from chalicelib.settings import Settings

    container = Container(Settings.from_env())
    _, key = create_shop(container.ports, shop_id=sys.argv[1], settings={"shop_name": "Other"})
    print(key)
    """
)


def _deployment_env(config: DevstackConfig) -> dict[str, str]:
    """The environment a process needs to act on the running devstack's resources, as the operator would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("SMSCAST_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": config.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
            "SMSCAST_RESOURCE_PREFIX": config.resource_prefix,
            "SMSCAST_SMS_PROVIDER": "sandbox",
            "SMSCAST_ALLOW_FICTIONAL_NUMBERS": "true",
        }
    )
    return env


def _run(config: DevstackConfig, args: list[str]) -> str:
    # A subprocess keeps the test process's own table bindings and environment untouched.
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=_deployment_env(config), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def operator(config: DevstackConfig, *args: str) -> str:
    """Run the operator's number command (python -m chalicelib.ops.numbers ...) against the running devstack."""
    return _run(config, ["-m", "chalicelib.ops.numbers", *args])


def create_other_shop(config: DevstackConfig, shop_id: str, sender_number: str, *, mps: int = 100) -> str:
    """Onboard a second shop on the running devstack (there is no HTTP route for that) and assign it
    ``sender_number`` at ``mps`` with the operator's command, as an operator would; returns its API key."""
    key = _run(config, ["-c", _CREATE_SHOP, shop_id]).strip().splitlines()[-1]
    operator(config, "assign", sender_number, shop_id, "--mps", str(mps))
    return key
